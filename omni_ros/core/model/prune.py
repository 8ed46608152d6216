"""Router-driven branch pruning: drop the modalities the router rarely uses.

The gated router sees each modality's latent (zeros when absent) and a presence flag, and gives
an absent modality gate exactly 0. Dropping modality *i* therefore removes its encoder and
projection, its block of the gating network's input (its latent columns and its presence
column) and its output logit - and the pruned model computes exactly what the full model
computes with that modality absent, which training covers (modality dropout). Rules that name a
dropped modality go (the rule table keeps the combinations that remain).
"""

from __future__ import annotations

import copy

import torch

from .model_config import OmniConfig
from .omni import OmniModel
from .router import parse_rules


def mean_gates(gates: torch.Tensor, names: list[str]) -> dict[str, float]:
    """Mean gate per modality over fused samples ``gates`` (N, M) with every modality present."""
    return {n: float(g) for n, g in zip(names, gates.mean(0))}


def prune_branches(model: OmniModel, cfg: OmniConfig, drop: list[str]) -> tuple[OmniModel, OmniConfig]:
    """A new model without the modalities ``drop`` (weights copied, the router sliced) and its
    config. ValueError for an unknown modality, dropping every one, or a router that is not gated."""
    unknown = sorted(set(drop) - set(model.names))
    if unknown:
        raise ValueError(f"cannot prune {unknown}: the model fuses {model.names}")
    keep = [n for n in model.names if n not in drop]
    if not keep:
        raise ValueError("cannot prune every modality")
    if cfg.model.router.kind != "gated":
        raise ValueError("branch pruning needs the gated router (model.router.kind: gated)")
    new_cfg = copy.deepcopy(cfg)
    new_cfg.model.modalities = keep
    rules = parse_rules(cfg.model.router.rules)
    new_cfg.model.router.rules = [r for r, combo in zip(cfg.model.router.rules, rules)
                                  if combo <= set(keep)]
    pruned = OmniModel(new_cfg.model)
    old = model.state_dict()
    state = {k: v for k, v in old.items() if k in pruned.state_dict()
             and not k.startswith("router.gate.")}
    m, d = len(model.names), cfg.model.latent_dim
    idx = torch.tensor([model.names.index(n) for n in keep])
    cols = torch.cat([torch.arange(i * d, (i + 1) * d) for i in idx.tolist()] + [m * d + idx])
    state["router.gate.0.weight"] = old["router.gate.0.weight"][:, cols]
    state["router.gate.0.bias"] = old["router.gate.0.bias"]
    state["router.gate.2.weight"] = old["router.gate.2.weight"][idx]
    state["router.gate.2.bias"] = old["router.gate.2.bias"][idx]
    pruned.load_state_dict(state)  # strict: every tensor of the pruned model is accounted for
    return pruned.eval(), new_cfg
