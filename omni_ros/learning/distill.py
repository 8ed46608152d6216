"""Distillation of a narrowed camera path from the full one (the fine-tuning step of channel
pruning in ``omni-ros compress``); :func:`pixel_loss` also serves the students of
``omni-ros distill`` (:mod:`.students`).

The student (a channel-pruned camera encoder + object head) learns to give the teacher's
outputs on the same camera frames: the global feature, the per-pixel features and every object
head output (class distribution, centre vote, size, yaw, embedding), object pixels first
(:func:`loss`). No labels are needed, so any recording of the camera serves. Batch-norm
statistics stay the teacher's (eval mode throughout: small data, and what is trained is what
runs).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..core.model.modalities import REGISTRY


def camera_outputs(model, image: torch.Tensor) -> dict[str, torch.Tensor]:
    """Encoder and object head outputs of ``model``'s camera path for preprocessed ``image``."""
    enc = model.encoders["camera"]({"image": image})
    return {**enc, **model.object_head(enc["pixels"])}


BACKGROUND_WEIGHT = 0.05  # a background pixel's weight against an object pixel's 1
TEMPERATURE = 2.0         # of the soft class targets


def pixel_loss(student: dict, teacher: dict, keys) -> torch.Tensor:
    """Per-pixel part of the distillation loss over the outputs ``keys`` (each (B, C, H, W)):
    weighted by the teacher's probability that the pixel is an object (objects cover a few
    percent of the map; background pixels weigh ``BACKGROUND_WEIGHT``), the squared error of
    each output divided by the teacher output's variance, and the KL divergence of the class
    distributions at ``TEMPERATURE``."""
    t_logits = teacher["class_logits"]
    w = (1.0 - torch.softmax(t_logits, dim=1)[:, :1]).clamp(min=BACKGROUND_WEIGHT)  # (B,1,H,W)
    total = t_logits.new_zeros(())
    for k in keys:
        t = teacher[k]
        err = ((student[k] - t) ** 2).mean(dim=1, keepdim=True)
        total = total + (err * w).sum() / w.sum() / (t.var() + 1e-6)
    kl = torch.nn.functional.kl_div(torch.log_softmax(student["class_logits"] / TEMPERATURE, 1),
                                    torch.log_softmax(t_logits / TEMPERATURE, 1),
                                    log_target=True, reduction="none").sum(1, keepdim=True)
    return total + TEMPERATURE ** 2 * (kl * w).sum() / w.sum()


def loss(student: dict, teacher: dict) -> torch.Tensor:
    """Distillation loss of a camera path (0: the same outputs): the global feature's squared
    error (divided by the teacher's variance) and :func:`pixel_loss` of every per-pixel
    output."""
    total = torch.mean((student["feature"] - teacher["feature"]) ** 2) \
        / (teacher["feature"].var() + 1e-6)
    return total + pixel_loss(student, teacher, [k for k, t in teacher.items() if t.dim() == 4])


def images(frames: list[dict], cfg) -> torch.Tensor:
    """Preprocessed camera input of window outputs ``frames`` (each with color, depth)."""
    batch = {k: np.stack([f[k] for f in frames]) for k in ("color", "depth")}
    return REGISTRY["camera"].preprocess(batch, cfg)["image"]


def held_out_loss(teacher, student, frames: list[dict], cfg, batch: int = 64) -> float:
    """Mean distillation loss over ``frames`` (eval mode, no gradients)."""
    student.eval()
    total = 0.0
    with torch.no_grad():
        for s in range(0, len(frames), batch):
            x = images(frames[s:s + batch], cfg)
            total += float(loss(camera_outputs(student, x), camera_outputs(teacher, x))) * len(x)
    return total / max(len(frames), 1)


def camera_path(teacher, student, frames: list[dict], epochs: int, lr: float = 2e-3,
                batch: int = 32, seed: int = 0, log=print) -> dict:
    """Train ``student``'s camera encoder and object head (everything else frozen) to give
    ``teacher``'s outputs on ``frames`` (camera window outputs); the last tenth of the frames
    is held out to measure it. Returns the held-out loss before and after, and the time."""
    t0 = time.perf_counter()
    cfg = student.cfg.camera
    n_val = max(1, len(frames) // 10)
    train, val = frames[:-n_val], frames[-n_val:]
    if not train:
        raise ValueError(f"{len(frames)} camera frames: too few to distil from")
    teacher.eval()
    params = [*student.encoders["camera"].parameters(), *student.object_head.parameters()]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    steps = epochs * -(-len(train) // batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    before = held_out_loss(teacher, student, val, cfg)
    rng = np.random.default_rng(seed)
    student.eval()  # batch norm keeps its statistics: what is trained is what runs
    for epoch in range(epochs):
        order = rng.permutation(len(train))
        for s in range(0, len(train), batch):
            x = images([train[i] for i in order[s:s + batch]], cfg)
            with torch.no_grad():
                target = camera_outputs(teacher, x)
            value = loss(camera_outputs(student, x), target)
            opt.zero_grad()
            value.backward()
            value = value.detach()
            opt.step()
            sched.step()
        log(f"distillation epoch {epoch + 1}/{epochs}: train loss {value.item():.4f}")
    after = held_out_loss(teacher, student, val, cfg)
    return {"frames": len(train), "held_out_frames": len(val), "epochs": epochs, "lr": lr,
            "held_out_loss_before": before, "held_out_loss_after": after,
            "seconds": time.perf_counter() - t0}
