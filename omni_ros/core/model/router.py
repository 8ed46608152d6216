"""Fusion of the present modalities' latents.

``GatedRouter``: a gating network reads every modality's latent (zeroed when absent) and the
presence mask and outputs one logit per modality; absent modalities are masked out before the
softmax (so their gate is exactly 0 and the gates of the present ones sum to 1); optional
top-k keeps the k largest. The fused latent is the gated sum refined by a residual MLP and
L2-normalised. A load-balancing term keeps every modality in use.

``ConcatFusion``: the baseline - concatenate the (zeroed-if-absent) latents, project.

``RuleTable``: fixed gates for configured modality combinations, used instead of the learned
gates when a sample's present set matches (the classic "(voice, 3d) -> handler" table).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def parse_rules(rules: list[str]) -> dict[frozenset, dict[str, float]]:
    """Rules as written in the config, ``"lidar+force: lidar=0.7 force=0.3"`` (the gates used
    when exactly lidar and force are present), -> {frozenset(combo): {modality: weight}}."""
    out = {}
    for rule in rules:
        combo, sep, weights = rule.partition(":")
        try:
            if not sep:
                raise ValueError("no ':'")
            names = frozenset(n.strip() for n in combo.split("+") if n.strip())
            w = {k.strip(): float(v) for k, v in (item.split("=") for item in weights.split())}
        except ValueError as err:
            raise ValueError(f"router rule {rule!r} is not 'a+b: a=0.7 b=0.3' ({err})") from None
        if not names or not w or not set(w) <= names:
            raise ValueError(f"router rule {rule!r}: weights must name modalities of its combination")
        out[names] = w
    return out


class RuleTable:
    def __init__(self, names: list[str], rules: dict[frozenset, dict[str, float]] | None = None):
        self.names = names
        self.rules = {}
        for combo, weights in (rules or {}).items():
            unknown = set(combo) - set(names)
            if unknown:
                raise ValueError(f"rule for {sorted(combo)} names unknown modalities {sorted(unknown)}")
            w = torch.tensor([float(weights.get(n, 0.0)) for n in names])
            if w.sum() <= 0:
                raise ValueError(f"rule for {sorted(combo)} has no positive weight")
            self.rules[frozenset(combo)] = w / w.sum()

    def apply(self, gates: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """``gates`` with the rows whose present set has a rule replaced by that rule."""
        if not self.rules:
            return gates
        out = gates.clone()
        for i, row in enumerate(present.tolist()):
            combo = frozenset(n for n, p in zip(self.names, row) if p)
            if combo in self.rules:
                out[i] = self.rules[combo].to(gates)
        return out


class GatedRouter(nn.Module):
    def __init__(self, names: list[str], dim: int, hidden: int = 64, top_k: int = 0,
                 rules: list[str] = ()):
        super().__init__()
        self.names, self.top_k = list(names), top_k
        m = len(names)
        self.gate = nn.Sequential(nn.Linear(m * dim + m, hidden), nn.GELU(), nn.Linear(hidden, m))
        self.refine = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))
        self.rules = RuleTable(self.names, parse_rules(list(rules)))

    def forward(self, latents: torch.Tensor, present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """latents (B, M, D), present (B, M) bool -> fused (B, D), gates (B, M)."""
        x = latents * present[..., None]
        logits = self.gate(torch.cat([x.flatten(1), present.float()], dim=1))
        logits = logits.masked_fill(~present, float("-inf"))
        if self.top_k and self.top_k < len(self.names):
            kth = logits.topk(self.top_k, dim=1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        gates = torch.softmax(logits, dim=1)
        gates = torch.nan_to_num(gates, nan=0.0)  # rows with nothing present
        gates = self.rules.apply(gates, present)
        fused = (gates[..., None] * latents).sum(1)
        return F.normalize(fused + self.refine(fused), dim=-1), gates

    @staticmethod
    def load_balance_loss(gates: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Squared coefficient of variation of each modality's mean gate over the samples in
        which it is present: 0 when every modality carries equal weight on average."""
        use = (gates * present).sum(0) / present.sum(0).clamp(min=1)
        active = present.any(0)
        use = use[active]
        return use.var(unbiased=False) / use.mean().clamp(min=1e-6) ** 2 if len(use) > 1 \
            else gates.new_zeros(())


class ConcatFusion(nn.Module):
    def __init__(self, names: list[str], dim: int, hidden: int = 64, top_k: int = 0,
                 rules: list[str] = ()):  # (top_k and rules are gating options: unused here)
        super().__init__()
        self.names = list(names)
        self.proj = nn.Sequential(nn.Linear(len(names) * dim, dim), nn.GELU(), nn.Linear(dim, dim))

    def forward(self, latents: torch.Tensor, present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = (latents * present[..., None]).flatten(1)
        gates = present.float() / present.float().sum(1, keepdim=True).clamp(min=1)
        return F.normalize(self.proj(x), dim=-1), gates

    @staticmethod
    def load_balance_loss(gates, present):
        return gates.new_zeros(())


ROUTERS = {"gated": GatedRouter, "concat": ConcatFusion}
