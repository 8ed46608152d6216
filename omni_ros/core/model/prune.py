"""Router-driven branch pruning: drop the modalities the router rarely uses; and structured
channel pruning of the camera path (:func:`prune_channels`).

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

from . import channels
from .model_config import OmniConfig
from .omni import OmniModel
from .router import parse_rules


def mean_gates(gates: torch.Tensor, names: list[str]) -> dict[str, float]:
    """Mean gate per modality over fused samples ``gates`` (N, M) with every modality present."""
    return {n: float(g) for n, g in zip(names, gates.mean(0))}


def _decisions(model: OmniModel, stack: torch.Tensor, present: torch.Tensor) -> dict:
    """The fused heads' decisions on latents ``stack`` (N, M, D) with ``present`` (N, M)."""
    fused, _ = model.router(stack, present)
    state, held = model.state_head(fused), model.held_head(fused)
    out = {"contact": torch.sigmoid(state["contact_logits"]) > 0.5,
           "impact": torch.sigmoid(state["impact_logit"]) > 0.5,
           "impact_material": state["impact_material_logits"].argmax(1),
           "held_identity": held["held_shape_logits"].argmax(1)}
    if hasattr(model, "held_temperature_head"):
        out["held_temperature"] = model.held_temperature_head(fused)[
            "held_temperature_logits"].argmax(1)
    return out


@torch.no_grad()
def branch_effects(model: OmniModel, stack: torch.Tensor) -> dict[str, dict[str, float]]:
    """What losing each modality does to the fused decisions, on fused samples ``stack``
    (N, M, D: latents with every modality present): per modality, the share of each decision
    that changes - contact and impact on every sample, impact material on the samples the full
    model calls an impact, held identity and temperature on those it calls grasping - and
    ``max``, the largest share. The mean gate says how often a branch is used; this says
    whether the decisions need it (a microphone is rarely used but decides every impact's
    material)."""
    n, m = stack.shape[:2]
    full = _decisions(model, stack, torch.ones(n, m, dtype=torch.bool))
    impact, grasping = full["impact"], full["contact"][:, 1]
    where = {"contact": None, "impact": None, "impact_material": impact,
             "held_identity": grasping, "held_temperature": grasping}
    out = {}
    for i, name in enumerate(model.names):
        present = torch.ones(n, m, dtype=torch.bool)
        present[:, i] = False
        without = _decisions(model, stack, present)
        shares = {}
        for k, v in without.items():
            changed = (v != full[k]).reshape(n, -1).any(1)
            rows = where[k]
            if rows is None or rows.any():
                shares[k] = float(changed[rows].float().mean() if rows is not None
                                  else changed.float().mean())
        out[name] = {**shares, "max": max(shares.values())}
    return out


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


def prune_channels(model: OmniModel, cfg: OmniConfig, keep: float) -> tuple[OmniModel, OmniConfig]:
    """A new model whose camera path (the U-Net's widths and the object head's trunk) keeps the
    fraction ``keep`` of its channels, strongest first (:mod:`.channels`); every other tensor
    copied. Not the same function: fine-tune it (``omni-ros compress`` distils it from
    ``model``). ValueError without a camera or for ``keep`` outside (0, 1]."""
    if "camera" not in model.names:
        raise ValueError(f"channel pruning narrows the camera path; the model fuses {model.names}")
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep fraction {keep} must be in (0, 1]")
    encoder, camera_cfg = model.encoders["camera"].narrowed(cfg.model.camera, keep)
    head_width = channels.kept(cfg.model.camera.head_width, keep)
    head = model.object_head.narrowed(head_width)
    new_cfg = copy.deepcopy(cfg)
    new_cfg.model.camera = camera_cfg
    new_cfg.model.camera.head_width = head_width
    pruned = OmniModel(new_cfg.model)
    pruned.encoders["camera"], pruned.object_head = encoder, head
    state = {k: v for k, v in model.state_dict().items()
             if not k.startswith(("encoders.camera.", "object_head."))}
    missing, unexpected = pruned.load_state_dict(state, strict=False)
    left = [k for k in missing if not k.startswith(("encoders.camera.", "object_head."))]
    if left or unexpected:  # every other tensor must carry over unchanged
        raise ValueError(f"channel pruning lost tensors {left} / found {unexpected}")
    return pruned.eval(), new_cfg
