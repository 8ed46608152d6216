"""``omni-ros train``: fit the omni model on dataset shards and save a checkpoint."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..core.model.checkpoint import init_from_checkpoint, resolve, save_checkpoint
from ..core.perception.text_cache import file_sha256
from ..core.model.modalities import REGISTRY
from ..core.model.omni import OmniModel
from ..core.model.model_config import OmniConfig
from ..dataset.shards import DatasetError, seed_ranges
from .data import ShardData
from .objectives import Objective


TEXT_PARAMETERS = ("encoders.text.", "project.text.")


def modality_dropout(present: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    """Hide each present modality with probability ``p``, keeping at least one per sample."""
    drop = torch.rand(present.shape, generator=gen) < p
    kept = present & ~drop
    none = ~kept.any(1)
    if none.any():  # give those rows back one random present modality
        scores = torch.rand(present.shape, generator=gen) * present
        pick = scores.argmax(1)
        kept[none, pick[none]] = True
    return kept


def labelled_samples(data: ShardData, unlabelled_sources: set[int], fraction: float,
                     seed: int) -> np.ndarray:
    """(N,) bool: the samples whose labels training may use: recorded with ground truth, not
    from a folder given as unlabelled, and (``fraction`` < 1) of the episodes ``seed`` keeps -
    ``fraction`` of the labelled episodes, at least one."""
    a = data.a
    ok = np.asarray(a["labelled"], bool) if "labelled" in a else np.ones(data.n, bool)
    ok &= ~np.isin(a["source"], sorted(unlabelled_sources))
    if fraction < 1.0:
        episodes = np.unique(a["episode"][ok])
        rng = np.random.default_rng(seed)
        keep = rng.permutation(episodes)[:max(1, round(fraction * len(episodes)))]
        ok &= np.isin(a["episode"], keep)
    return ok


def batches(rng: np.random.Generator, usable: np.ndarray, n: int, size: int):
    """One epoch of ``n`` samples in batches of ``size``, drawn from ``usable`` (sample indices)
    without repetition until it runs out, then again: every run does the same number of
    steps whatever part of the data it may use."""
    order = np.concatenate([rng.permutation(usable) for _ in range(-(-n // len(usable)))])[:n]
    for s in range(0, n, size):
        yield np.sort(order[s:s + size])


def load_teacher(cfg: OmniConfig):
    """(teacher model, its config) of ``cfg.distill.teacher``, checked against the student;
    (None, None) without one."""
    from ..core.model.checkpoint import load_checkpoint
    from .students import check_student

    if not cfg.distill.teacher:
        return None, None
    teacher, tcfg, _ = load_checkpoint(cfg.distill.teacher)
    check_student(cfg.model, tcfg.model, cfg.distill.teacher)
    return teacher, tcfg


@dataclass
class Samples:
    """What training reads of dataset folders: the shards, which samples may be used and which
    carry labels, the model's modality columns and the tokenised commands."""
    data: ShardData
    labelled: torch.Tensor   # (N,) bool: labels may be used
    usable: np.ndarray       # sample indices a step draws from
    columns: list[int]       # data.names index of each of the model's modalities
    text: dict               # tokenised command text of every sample


def load_samples(dirs: list[Path], cfg: OmniConfig, data_cfg, progress: bool = True,
                 unlabelled: list[Path] = (), teacher: bool = False) -> Samples:
    """:class:`Samples` of ``dirs`` (labelled) and ``unlabelled`` folders, windows built as
    ``data_cfg`` (the teacher's model config when distilling) reads them."""
    data = ShardData(list(dirs) + [Path(d) for d in unlabelled], data_cfg, cfg.train.frame_stride,
                     cfg.train.seed, progress)
    labelled = labelled_samples(data, set(range(len(dirs), len(dirs) + len(unlabelled))),
                                cfg.train.label_fraction, cfg.train.label_seed)
    usable = np.arange(data.n) if teacher else np.flatnonzero(labelled)
    if not len(usable):
        raise DatasetError(f"no labelled samples in {[str(d) for d in dirs]} and no teacher")
    columns = [data.names.index(n) for n in cfg.model.modalities]
    text = data.labels["text"] if cfg.model.text == data_cfg.text else \
        REGISTRY["text"].preprocess({"text": data.labels["text_raw"]}, cfg.model.text)
    return Samples(data, torch.as_tensor(labelled), usable, columns, text)


def step_losses(model: OmniModel, objective: Objective, s: Samples, idx: np.ndarray,
                cfg: OmniConfig, gen: torch.Generator, teacher=None) -> dict[str, torch.Tensor]:
    """Named losses of one training step on samples ``idx`` (with "total"; empty when the
    batch has nothing to learn from): the label losses on its labelled rows, the distillation
    terms against ``teacher`` (:mod:`.students`) when there is one."""
    from .students import losses as distill_losses, rows

    data = s.data
    lab = data.batch_labels(idx)
    lab["text"] = {k: v[idx] for k, v in s.text.items()}
    present = modality_dropout(data.present[idx][:, s.columns], cfg.train.modality_dropout, gen)
    out = model(data.inputs(idx, cfg.model), present)
    mine = s.labelled[idx]
    losses = {}
    if mine.any():
        losses = objective(rows(out, mine), rows(lab, mine),
                           model.encode_text(rows(lab["text"], mine)))
    if teacher is not None:
        with torch.no_grad():
            t_out = teacher(data.inputs(idx), data.present[idx])
        losses.update(distill_losses(model.names, out, teacher.names, t_out, cfg.distill,
                                     unlabelled=~mine))
        losses["total"] = sum((v for k, v in losses.items() if k != "total"),
                              out["fused"].new_zeros(()))
    return losses


def new_model(cfg: OmniConfig) -> OmniModel:
    """``cfg.model`` initialised as ``cfg.train`` says (random, or from ``init_from``), with
    only the parameters ``cfg.train.trainable`` names left trainable."""
    model = OmniModel(cfg.model)
    if cfg.train.init_from:
        init_from_checkpoint(model, cfg.train.init_from)
    if cfg.train.trainable == "text":
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith(TEXT_PARAMETERS))
    return model


def optimiser(model: OmniModel, tc) -> torch.optim.Optimizer:
    """AdamW over ``model``'s trainable parameters at ``tc.lr`` (``tc``: the train section)."""
    return torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=tc.lr,
                             weight_decay=tc.weight_decay)


def update(model: OmniModel, opt: torch.optim.Optimizer, losses: dict) -> None:
    """One optimiser step on ``losses["total"]`` (gradients clipped at norm 5); nothing when
    the step has nothing to learn (a text-only step needs a commanded object)."""
    opt.zero_grad()
    if losses and losses["total"].requires_grad:
        losses["total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()


def train(data_dir: Path | list[Path], out_path: Path, cfg: OmniConfig, progress: bool = True,
          plot: bool = True, unlabelled: list[Path] = ()) -> dict:
    """Fit ``cfg.model`` on the labelled samples of ``data_dir`` (``cfg.train``); with a
    ``cfg.distill.teacher``, also on the teacher's outputs for every sample, those of the
    ``unlabelled`` folders included (:mod:`.students`). Saves the checkpoint (+ loss PNG)."""
    t0 = time.monotonic()
    tc = cfg.train
    # which file it was fine-tuned from (a model card tells a variant of an older base)
    base_sha256 = file_sha256(resolve(tc.init_from)) if tc.init_from else ""
    torch.manual_seed(tc.seed)
    torch.set_num_threads(tc.threads)
    gen = torch.Generator().manual_seed(tc.seed)
    teacher, tcfg = load_teacher(cfg)
    dirs = ([Path(data_dir)] if isinstance(data_dir, (str, Path)) else [Path(d) for d in data_dir])
    if unlabelled and teacher is None:
        raise ValueError("unlabelled data needs a teacher (distill.teacher) to learn from")
    s = load_samples(dirs, cfg, tcfg.model if teacher is not None else cfg.model, progress,
                     unlabelled, teacher=teacher is not None)
    data = s.data
    model = new_model(cfg)
    objective = Objective(model, tc)
    opt = optimiser(model, tc)
    steps_per_epoch = math.ceil(data.n / tc.batch_size)
    total = tc.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=tc.lr, total_steps=total,
                                                pct_start=0.1)
    rng = np.random.default_rng(tc.seed)
    history: list[dict] = []
    bar = tqdm(total=total, unit="step", disable=not progress)
    model.train(tc.trainable == "all")  # frozen parts keep their batch-norm statistics
    for epoch in range(tc.epochs):
        sums: dict[str, float] = {}
        for idx in batches(rng, s.usable, data.n, tc.batch_size):
            losses = step_losses(model, objective, s, idx, cfg, gen, teacher)
            update(model, opt, losses)
            sched.step()
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) * len(idx)
            bar.update(1)
            if losses:
                bar.set_postfix(epoch=epoch, loss=f"{losses['total'].item():.3f}")
        history.append({k: v / data.n for k, v in sums.items()})
    bar.close()
    model.eval()
    info = {"train_samples": data.n, "train_data": [str(d) for d in dirs],
            "labelled_samples": int(s.labelled.sum()),
            "unlabelled_data": [str(d) for d in unlabelled],
            "teacher": cfg.distill.teacher,
            **({"init_from_sha256": base_sha256} if tc.init_from else {}),
            "epochs": tc.epochs,
            **data_info(data, tc.frame_stride),
            "train_time_s": time.monotonic() - t0, "history": history}
    save_checkpoint(out_path, model, cfg, info)
    if plot:
        plot_history(history, Path(out_path).with_suffix(".loss.png"))
    return info


def data_info(data: ShardData, frame_stride: int) -> dict:
    """What a checkpoint's info records of the data it learnt from (every ``frame_stride``-th
    sample of its episodes)."""
    return {"train_episodes": len(data.manifest["episodes"]),
            "train_seeds": seed_ranges(data.manifest),
            "dataset_frame_stride": data.manifest.get("frame_stride", 1),
            "frame_stride": data.manifest.get("frame_stride", 1) * frame_stride}


def plot_history(history: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    for k in history[0]:
        ax.plot([h.get(k, np.nan) for h in history], label=k, lw=2.5 if k == "total" else 1)
    ax.set(xlabel="epoch", ylabel="loss (per sample)", yscale="log", title="training losses")
    ax.legend(fontsize=7, ncol=2)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
