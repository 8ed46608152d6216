"""The training objective: every head's loss, the contrastive alignment of modality pairs, the
cross-modal retrieval (touch -> held object's camera latent), command grounding, and the
router's load balancing."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..core.labels import MAX_OBJECTS
from ..core.model.heads import object_latents
from .losses import RunningBalance, info_nce, margin_contrastive, uniformity

CONTRASTIVE_PAIRS = (("camera", "lidar"), ("tactile", "force"))
TOUCH = ("tactile", "force")
HEARING = ("audio",)
IMPACT_POS_WEIGHT = 5.0  # impacts are rare: a positive weighs this many negatives


def slot_masks(slot: torch.Tensor) -> torch.Tensor:
    """(B, h, w) slot map (-1 = background) -> (B, K, h, w) masks."""
    return torch.stack([slot == k for k in range(MAX_OBJECTS)], dim=1)


def fused_of(model, out: dict, names) -> torch.Tensor:
    """The fused latent of the modalities ``names`` alone (those of them present)."""
    keep = torch.tensor([n in names for n in model.names])
    present = out["present"] & keep
    latents = {n: out["latents"][:, i] for i, n in enumerate(model.names)}
    _, fused, _, _ = model.fuse(latents, present)
    return fused


def touch_query(model, out: dict) -> torch.Tensor:
    """The fused latent of the touch modalities alone (tactile + force)."""
    return fused_of(model, out, TOUCH)


def slot_logits(query: torch.Tensor, objects: torch.Tensor, visible: torch.Tensor,
                temperature: float) -> torch.Tensor:
    logits = torch.einsum("bd,bkd->bk", query, objects) / temperature
    return logits.masked_fill(~visible, -1e4)


class Objective:
    def __init__(self, model, train_cfg):
        self.model, self.cfg = model, train_cfg
        self.balance = RunningBalance()
        self.pairs = [p for p in CONTRASTIVE_PAIRS if all(m in model.names for m in p)]
        self.touch = any(m in model.names for m in TOUCH)  # (a student may have no touch)

    def contrastive(self, a, b):
        if self.cfg.contrastive == "margin":
            return margin_contrastive(a, b, self.cfg.margin)
        return info_nce(a, b, self.cfg.temperature)

    def __call__(self, out: dict, lab: dict, text_latent: torch.Tensor) -> dict:
        L = {}
        z = out["fused"].new_zeros(())
        # Object head.
        if "objects" in out:
            o = out["objects"]
            w = torch.ones(o["class_logits"].shape[1])
            w[0] = 0.2
            L["object_class"] = F.cross_entropy(o["class_logits"], lab["class"], weight=w)
            obj = lab["slot"] >= 0
            if obj.any():
                L["object_offset"] = 20 * F.smooth_l1_loss(
                    o["offset"].permute(0, 2, 3, 1)[obj], lab["offset"][obj], beta=0.01)
                L["object_size"] = 10 * F.l1_loss(o["size"].permute(0, 2, 3, 1)[obj], lab["size"][obj])
            cube = obj & lab["is_cube"]
            if cube.any():
                L["object_yaw"] = 0.3 * F.l1_loss(o["yaw"].permute(0, 2, 3, 1)[cube], lab["yaw"][cube])
            masks = slot_masks(lab["slot"])
            visible = masks.sum((2, 3)) >= 3
            objs = object_latents(o["embed"], masks)
            # Grounding: the command's latent picks its object among the visible ones.
            g = lab["target"] >= 0
            if g.any():
                L["grounding"] = F.cross_entropy(
                    slot_logits(text_latent[g], objs[g], visible[g], self.cfg.temperature),
                    lab["target"][g])
            # Retrieval: touch alone finds the held object among the camera's objects.
            r = lab["grasping"] & (lab["held"] >= 0) & self.touch
            if r.any():
                r = r & visible[torch.arange(len(r)), lab["held"].clamp(min=0)]
            if r.any():
                q = touch_query(self.model, out)
                L["retrieval"] = F.cross_entropy(
                    slot_logits(q[r], objs[r], visible[r], self.cfg.temperature), lab["held"][r])
        # State and held-object heads on the fused latent.
        L["contact"] = F.binary_cross_entropy_with_logits(out["contact_logits"], lab["contact"])
        L["impact"] = F.binary_cross_entropy_with_logits(
            out["impact_logit"], lab["impact"], pos_weight=torch.tensor(IMPACT_POS_WEIGHT))
        hit = lab["impact"] > 0.5
        if hit.any():
            L["impact_material"] = 0.5 * F.cross_entropy(out["impact_material_logits"][hit],
                                                         lab["impact_material"][hit])
        # Hearing: impact and material from the microphone alone (a robot hears what it does not
        # see or touch); modality dropout alone rarely leaves audio by itself.
        if "audio" in self.model.names:
            heard = out["present"][:, self.model.names.index("audio")]
            if heard.any():
                s = self.model.state_head(fused_of(self.model, out, HEARING)[heard])
                L["impact_audio"] = 0.5 * F.binary_cross_entropy_with_logits(
                    s["impact_logit"], lab["impact"][heard], pos_weight=torch.tensor(IMPACT_POS_WEIGHT))
                hh = hit[heard]
                if hh.any():
                    L["impact_material_audio"] = 0.5 * F.cross_entropy(
                        s["impact_material_logits"][hh], lab["impact_material"][heard][hh])
        held = lab["grasping"]
        if held.any():
            L["held_shape"] = F.cross_entropy(out["held_shape_logits"][held], lab["held_shape"][held])
            L["held_width"] = 50 * F.l1_loss(out["held_width"][held], lab["held_width"][held])
            L["held_mass"] = 10 * F.l1_loss(out["held_mass"][held], lab["held_mass"][held])
        known = lab["held_temperature"] >= 0
        if "held_temperature_logits" in out and known.any():
            L["held_temperature"] = F.cross_entropy(out["held_temperature_logits"][known],
                                                    lab["held_temperature"][known])
        # Contrastive alignment of synchronous modality pairs, balanced across pairs.
        pair_losses = {}
        for a, b in self.pairs:
            ia, ib = self.model.names.index(a), self.model.names.index(b)
            both = out["present"][:, ia] & out["present"][:, ib]
            if both.sum() >= 2:
                pair_losses[f"{a}-{b}"] = self.contrastive(out["latents"][both, ia],
                                                           out["latents"][both, ib])
        weights = self.balance.weights(pair_losses) if self.cfg.balance_modalities else \
            {k: 1.0 for k in pair_losses}
        for k, v in pair_losses.items():
            L[f"contrastive {k}"] = self.cfg.contrastive_weight * weights[k] * v
        if not self.pairs and self.cfg.uniformity > 0 and len(out["fused"]) > 1:
            L["uniformity"] = self.cfg.uniformity * uniformity(out["fused"])
        L["load_balance"] = self.model.cfg.router.load_balance * \
            self.model.router.load_balance_loss(out["gates"], out["present"])
        L["total"] = sum(L.values(), z)
        return L
