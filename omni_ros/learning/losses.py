"""Training losses: symmetric InfoNCE and its margin-based variant between paired latents, the
uniformity of a batch of latents (against collapse), and running-mean balancing of
per-modality losses (against modality imbalance)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Symmetric InfoNCE: row i of ``a`` should match row i of ``b`` among all rows of ``b``
    and vice versa. ``a``, ``b``: (N, D), L2-normalised."""
    if len(a) < 2:
        return a.new_zeros(())
    logits = a @ b.T / temperature
    target = torch.arange(len(a), device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def margin_contrastive(a: torch.Tensor, b: torch.Tensor, margin: float = 0.2) -> torch.Tensor:
    """Hinge variant: every matching pair's similarity must beat every non-matching one (in
    both directions) by ``margin``."""
    if len(a) < 2:
        return a.new_zeros(())
    sim = a @ b.T
    pos = sim.diag()[:, None]
    off = ~torch.eye(len(a), dtype=torch.bool, device=a.device)
    row = F.relu(margin - pos + sim)[off].mean()
    col = F.relu(margin - pos.T + sim)[off].mean()
    return 0.5 * (row + col)


def uniformity(z: torch.Tensor, t: float = 2.0) -> torch.Tensor:
    """Uniformity of L2-normalised rows ``z`` (N, D) on the sphere (Wang & Isola 2020):
    log mean over pairs i != j of exp(-t |z_i - z_j|^2); -t * 2 for orthogonal rows, 0 when they
    all coincide. Lower is more spread."""
    n = len(z)
    d2 = (2 - 2 * z @ z.T).clamp(min=0)  # squared distances of unit rows
    off = ~torch.eye(n, dtype=torch.bool, device=z.device)
    return torch.logsumexp(-t * d2[off], dim=0) - torch.log(torch.tensor(float(n * (n - 1))))


class RunningBalance:
    """Weights that scale each named loss by 1 / (its running mean), so no modality's loss
    dominates because of its scale; the weights average to 1."""

    def __init__(self, momentum: float = 0.98):
        self.momentum = momentum
        self.mean: dict[str, float] = {}

    def weights(self, losses: dict[str, torch.Tensor]) -> dict[str, float]:
        for k, v in losses.items():
            x = float(v.detach())
            self.mean[k] = x if k not in self.mean else self.momentum * self.mean[k] + (1 - self.momentum) * x
        inv = {k: 1.0 / max(self.mean[k], 1e-6) for k in losses}
        norm = sum(inv.values()) / max(len(inv), 1)
        return {k: v / norm for k, v in inv.items()}
