"""``omni-ros train``: fit the omni model on dataset shards and save a checkpoint."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..core.model.checkpoint import init_from_checkpoint, save_checkpoint
from ..core.model.omni import OmniModel
from ..core.model.model_config import OmniConfig
from ..dataset.shards import seed_ranges
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


def train(data_dir: Path | list[Path], out_path: Path, cfg: OmniConfig, progress: bool = True,
          plot: bool = True) -> dict:
    t0 = time.monotonic()
    tc = cfg.train
    torch.manual_seed(tc.seed)
    torch.set_num_threads(tc.threads)
    gen = torch.Generator().manual_seed(tc.seed)
    data = ShardData(data_dir, cfg.model, tc.frame_stride, tc.seed, progress)
    model = OmniModel(cfg.model)
    if tc.init_from:
        init_from_checkpoint(model, tc.init_from)
    if tc.trainable == "text":
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith(TEXT_PARAMETERS))
    objective = Objective(model, tc)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=tc.lr,
                            weight_decay=tc.weight_decay)
    steps_per_epoch = math.ceil(data.n / tc.batch_size)
    total = tc.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=tc.lr, total_steps=total,
                                                pct_start=0.1)
    rng = np.random.default_rng(tc.seed)
    history: list[dict] = []
    bar = tqdm(total=total, unit="step", disable=not progress)
    model.train(tc.trainable == "all")  # frozen parts keep their batch-norm statistics
    for epoch in range(tc.epochs):
        perm = rng.permutation(data.n)
        sums: dict[str, float] = {}
        for s in range(0, data.n, tc.batch_size):
            idx = np.sort(perm[s:s + tc.batch_size])
            inputs, lab = data.inputs(idx), data.batch_labels(idx)
            present = modality_dropout(data.present[idx], tc.modality_dropout, gen)
            out = model(inputs, present)
            text_latent = model.encode_text(lab["text"])
            losses = objective(out, lab, text_latent)
            opt.zero_grad()
            if losses["total"].requires_grad:  # (a text-only step needs a commanded object)
                losses["total"].backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
                opt.step()
            sched.step()
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) * len(idx)
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{losses['total'].item():.3f}")
        history.append({k: v / data.n for k, v in sums.items()})
    bar.close()
    model.eval()
    dirs = [data_dir] if isinstance(data_dir, (str, Path)) else list(data_dir)
    info = {"train_samples": data.n, "train_data": [str(d) for d in dirs],
            "epochs": tc.epochs,
            "train_episodes": len(data.manifest["episodes"]),
            "train_seeds": seed_ranges(data.manifest),
            "dataset_frame_stride": data.manifest.get("frame_stride", 1),
            "frame_stride": data.manifest.get("frame_stride", 1) * tc.frame_stride,
            "train_time_s": time.monotonic() - t0, "history": history}
    save_checkpoint(out_path, model, cfg, info)
    if plot:
        plot_history(history, Path(out_path).with_suffix(".loss.png"))
    return info


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
