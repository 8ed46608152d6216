"""A checkpoint's router over dataset shards, as a :class:`omni_ros.core.model.explain.Trace` for
``omni-ros explain --checkpoint``: every sample encoded, fused and explained (gates and
leave-one-out contributions, :meth:`OmniModel.fuse_explained`) with the sample's recorded
presence, optionally with modalities forced absent (a robot without that sensor) and with
training's modality dropout (to see how the router routes the other combinations).

Times are the samples' stamps in seconds from their episode's first sample; the marks are the
labelled contact changes and impacts."""

from __future__ import annotations

import numpy as np
import torch

from ..core.model.explain import Mark, Trace
from .data import ShardData
from .train import modality_dropout


def presence(data: ShardData, names: list[str], absent: list[str] = (), dropout: float = 0.0,
             seed: int = 0) -> torch.Tensor:
    """(N, M) bool: the recorded presence, ``dropout`` applied (each present modality hidden
    with that probability, one kept), then ``absent`` forced off. ValueError for an unknown
    modality or a probability outside [0, 1)."""
    unknown = sorted(set(absent) - set(names))
    if unknown:
        raise ValueError(f"cannot force {unknown} absent: the model fuses {names}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout {dropout} must be in [0, 1)")
    present = data.present.clone().bool()
    if dropout > 0:
        present = modality_dropout(present, dropout, torch.Generator().manual_seed(seed))
    for name in absent:
        present[:, names.index(name)] = False
    return present


@torch.no_grad()
def trace_of(model, data: ShardData, present: torch.Tensor, batch: int = 64, source: str = "") -> Trace:
    """Gates and contributions of every sample of ``data`` under ``present``."""
    gates, contrib = [], []
    for s in range(0, data.n, batch):
        idx = np.arange(s, min(s + batch, data.n))
        latents, _ = model.encode(data.inputs(idx))
        _, g, c = model.fuse_explained(latents, present[idx])
        gates.append(g)
        contrib.append(c)
    a = data.a
    episode = np.asarray(a["episode"])
    stamp = np.asarray(a["stamp_ns"], np.int64)
    t = np.zeros(data.n)
    for e in np.unique(episode):
        rows = episode == e
        t[rows] = (stamp[rows] - stamp[rows].min()) / 1e9
    contact = np.asarray(a["in_contact"], bool)
    marks = []
    lab = data.labels
    impact = np.asarray(lab["impact"]) > 0.5 if "impact" in lab else np.zeros(data.n, bool)
    for k in range(data.n):
        new_ep = k == 0 or episode[k] != episode[k - 1]
        if not new_ep and contact[k] != contact[k - 1]:
            marks.append((k, "contact" if contact[k] else "contact_end"))
        if impact[k]:
            marks.append((k, "impact"))
    return Trace(modalities=list(model.names), t_s=t, present=present.numpy(),
                 gates=torch.cat(gates).numpy(), contributions=torch.cat(contrib).numpy(),
                 in_contact=contact, episode=episode, source=source,
                 marks=[Mark(float(t[k]), kind, "", int(episode[k])) for k, kind in marks])


def busiest_episode(trace: Trace) -> int:
    """The episode with the most marks (contact changes, impacts): the one worth plotting."""
    counts = {int(e): sum(m.episode == e for m in trace.marks) for e in np.unique(trace.episode)}
    return max(counts, key=lambda e: (counts[e], -e))
