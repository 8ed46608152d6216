"""Model benchmark: per-modality encoder and fused-step latency at batch 1 on the CPU (eval
mode, no autograd), as milliseconds and as shares of the fused step measured in the same run."""

from __future__ import annotations

import time

import numpy as np
import torch

from ..core.model.checkpoint import CheckpointError, load_checkpoint
from ..core.model.modalities import REGISTRY, sensors
from ..core.model.omni import OmniModel
from ..core.model.model_config import ModelConfig


RANDOM = {np.dtype(np.uint8): (0, 255), np.dtype(np.int16): (-3000, 3000),
          np.dtype(np.uint16): (28000, 33000)}  # colour; audio; thermal centi-kelvin (7-57 C)


def _raw_example(cfg: ModelConfig) -> dict:
    """One sample of every sensor stream, shaped as each modality's window reads it, filled
    with random values (what the live pipeline hands the model), plus a command."""
    rng = np.random.default_rng(0)
    batch = {"text": ["pick up the red cube"]}
    for m in sensors():
        for key, empty in m.window(getattr(cfg, m.name)).read().items():
            a = np.asarray(empty)
            if a.dtype in RANDOM:
                x = rng.integers(*RANDOM[a.dtype], a.shape).astype(a.dtype)
            elif a.dtype.kind == "f":
                x = rng.uniform(0.5, 1.5, a.shape).astype(a.dtype)
            else:
                x = a
            batch[key] = x[None]
    return batch


def _ms(fn, repeat: int) -> float:
    for _ in range(5):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


@torch.no_grad()
def run(checkpoint: str | None = "omni_small.pt", repeat: int = 50, threads: int = 2) -> dict:
    torch.set_num_threads(threads)
    try:
        model, cfg, _ = load_checkpoint(checkpoint) if checkpoint else (None, None, None)
        source = checkpoint
    except CheckpointError:
        model, source = None, "untrained (no checkpoint)"
    if model is None:
        model = OmniModel(ModelConfig()).eval()
    cfg = model.cfg
    raw = _raw_example(cfg)
    names = model.names + ["text"]
    x = {n: REGISTRY[n].preprocess(raw, getattr(cfg, n)) for n in names}
    sensors = {n: x[n] for n in model.names}
    fused = _ms(lambda: model(sensors), repeat)
    rows = {n: _ms(lambda n=n: model.encoders[n](x[n]), repeat) for n in names}
    pre = {n: _ms(lambda n=n: REGISTRY[n].preprocess(raw, getattr(cfg, n)), repeat) for n in names}
    params = sum(p.numel() for p in model.parameters())
    return {"checkpoint": source, "threads": threads, "fused_step_ms": fused,
            "encoder_ms": rows, "encoder_share_of_fused": {n: v / fused for n, v in rows.items()},
            "preprocess_ms": pre, "preprocess_share_of_fused": {n: v / fused for n, v in pre.items()},
            "parameters": params}


def markdown(r: dict) -> str:
    lines = ["## Model (batch 1, CPU, eval mode)", "",
             f"Checkpoint: `{r['checkpoint']}`, {r['parameters'] / 1e6:.2f} M parameters, "
             f"{r['threads']} threads. **Fused step (every sensor encoder + router + heads): "
             f"{r['fused_step_ms']:.2f} ms.**", "",
             "| modality | encoder ms | share of the fused step | preprocessing ms (numpy/scipy/open3d) "
             "| share of the fused step |", "|---|---:|---:|---:|---:|"]
    for n, ms in r["encoder_ms"].items():
        lines.append(f"| {n} | {ms:.3f} | {r['encoder_share_of_fused'][n]:.2f} | "
                     f"{r['preprocess_ms'][n]:.3f} | {r['preprocess_share_of_fused'][n]:.2f} |")
    lines += ["", "The fused step runs on preprocessed tensors; preprocessing happens once per "
              "message in the node's callback."]
    return "\n".join(lines) + "\n"
