"""OmniModel: every modality encoded into one L2-normalised latent space, fused by the router,
decoded by the task heads. Plain ``nn.Module``: dict of modality inputs + presence mask in,
dict of outputs out; no ROS.

    model = OmniModel(ModelConfig())
    out = model(inputs, present)   # inputs: {"camera": {...}, "force": {...}}; present (B, M)
    out["gates"]                   # (B, M): 0 for absent modalities, sums to 1 over present
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .heads import HeldHead, HeldTemperatureHead, ObjectHead, StateHead
from ..labels import COLOURS, MATERIALS, SHAPES  # noqa: F401  (re-exported)
from .model_config import ModelConfig
from .modalities import load_all
from .router import ROUTERS



def object_class(shape: int, colour: int) -> int:
    """Class index of a (shape, colour) pair; 0 is background."""
    return 1 + shape * len(COLOURS) + colour


def class_name(c: int) -> tuple[str, str]:
    """(shape, colour) of class index ``c`` >= 1."""
    s, k = divmod(c - 1, len(COLOURS))
    return SHAPES[s], COLOURS[k]


class OmniModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        registry = load_all()
        self.cfg = cfg
        self.names = list(cfg.modalities)
        d = cfg.latent_dim
        self.encoders = nn.ModuleDict()
        self.project = nn.ModuleDict()
        for name in self.names + ["text"]:
            enc = registry[name].encoder_cls(getattr(cfg, name))
            self.encoders[name] = enc
            self.project[name] = nn.Linear(enc.output_shape["feature"][0], d)
        r = cfg.router
        self.router = ROUTERS[r.kind](self.names, d, r.hidden, r.top_k, r.rules)
        self.state_head = StateHead(d, len(MATERIALS))
        self.held_head = HeldHead(d, len(SHAPES))
        if "thermal" in self.names:  # the held object's temperature needs the thermal camera
            self.held_temperature_head = HeldTemperatureHead(d)
        if "camera" in self.names:
            self.object_head = ObjectHead(cfg.camera.pixel_dim, 1 + len(SHAPES) * len(COLOURS), d,
                                          cfg.camera.head_width)

    def encode_text(self, inputs: dict) -> torch.Tensor:
        return F.normalize(self.project["text"](self.encoders["text"](inputs)["feature"]), dim=-1)

    def encode(self, inputs: dict) -> tuple[dict, dict]:
        """Per-modality latents (B, D) of the modalities given in ``inputs``, and the raw
        encoder outputs."""
        latents, raw = {}, {}
        for name in self.names:
            if name in inputs:
                raw[name] = self.encoders[name](inputs[name])
                latents[name] = F.normalize(self.project[name](raw[name]["feature"]), dim=-1)
        return latents, raw

    def fuse(self, latents: dict, present: torch.Tensor):
        """(stacked latents (B, M, D), fused (B, D), gates (B, M), effective presence (B, M));
        a modality without a latent counts as absent whatever ``present`` says."""
        b = present.shape[0]
        ref = next(iter(latents.values()))
        stack = torch.stack([latents.get(n, ref.new_zeros(b, ref.shape[1])) for n in self.names], 1)
        have = torch.tensor([n in latents for n in self.names], device=present.device)
        present = present.bool() & have
        fused, gates = self.router(stack, present)
        return stack, fused, gates, present

    def forward(self, inputs: dict, present: torch.Tensor | None = None) -> dict:
        latents, raw = self.encode(inputs)
        if not latents:
            raise ValueError(f"no modality given; expected some of {self.names}")
        ref = next(iter(latents.values()))
        if present is None:
            present = torch.ones(ref.shape[0], len(self.names), dtype=torch.bool, device=ref.device)
        stack, fused, gates, present = self.fuse(latents, present)
        out = {"latents": stack, "present": present, "gates": gates, "fused": fused}
        out.update(self.state_head(fused))
        out.update(self.held_head(fused))
        if hasattr(self, "held_temperature_head"):
            out.update(self.held_temperature_head(fused))
        if "camera" in raw:
            out["objects"] = self.object_head(raw["camera"]["pixels"])
        return out

    @torch.no_grad()
    def fuse_explained(self, latents: dict, present: torch.Tensor):
        """(fused (B, D), gates (B, M), contributions (B, M)): :meth:`fuse` and
        :meth:`leave_one_out` in one batched router pass (B x (1 + M) rows: every sample as
        it is, then without each modality in turn)."""
        b, m = present.shape[0], len(self.names)
        have = torch.tensor([n in latents for n in self.names], device=present.device)
        present = present.bool() & have
        without = present[:, None, :] & ~torch.eye(m, dtype=torch.bool, device=present.device)
        masks = torch.cat([present, without.reshape(b * m, m)], 0)
        rows = {n: torch.cat([v, v.repeat_interleave(m, 0)], 0) for n, v in latents.items()}
        _, fused_all, gates_all, _ = self.fuse(rows, masks)
        fused, gates = fused_all[:b], gates_all[:b]
        change = 1.0 - (fused[:, None, :] * fused_all[b:].reshape(b, m, -1)).sum(-1)
        others = without.any(-1)           # some other modality is present
        contrib = torch.where(present & others, change,
                              torch.where(present, torch.ones_like(change), torch.zeros_like(change)))
        return fused, gates, contrib

    @torch.no_grad()
    def leave_one_out(self, latents: dict, present: torch.Tensor) -> torch.Tensor:
        """Contribution of each modality, (B, M): how much the fused latent changes
        (1 - cosine) when that modality alone is removed; 1 for the only present one, 0 for
        absent ones. ``latents``: per-modality (B, D) as from :meth:`encode`."""
        return self.fuse_explained(latents, present)[2]

    @torch.no_grad()
    def explain(self, inputs: dict, present: torch.Tensor | None = None) -> torch.Tensor:
        """Leave-one-out contribution of each modality for raw ``inputs`` (see
        :meth:`leave_one_out`)."""
        latents, _ = self.encode(inputs)
        ref = next(iter(latents.values()))
        if present is None:
            present = torch.ones(ref.shape[0], len(self.names), dtype=torch.bool, device=ref.device)
        return self.leave_one_out(latents, present)
