"""Task heads on the shared latent space.

ObjectHead (per pixel of the camera's feature map): object class (background or one of the
shape x colour classes), the vote offset from the pixel's 3-D point to the object's centre,
the object's size and yaw (cos 4y, sin 4y: a cube looks the same every 90 degrees), and an
embedding whose average over an object's pixels is that object's latent.
StateHead (fused latent): contact and grasp state, impact and the impacting material.
HeldHead (fused latent): shape, width [m] and mass [kg] of the held object, which identify it
among known objects without a camera.
HeldTemperatureHead (fused latent, models that fuse a thermal camera): is the held object
ambient, hot or cold (labels.TEMPERATURES bands) - what a gripper must know before it hands a
part over, and what no other sensor here can tell.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import channels
from .modalities import mlp

OFFSET_SCALE_M = 0.05


class ObjectHead(nn.Module):
    def __init__(self, pixel_dim: int, classes: int, latent_dim: int, width: int = 64):
        super().__init__()
        self.trunk = nn.Sequential(nn.Conv2d(pixel_dim, width, 3, padding=1), nn.GELU())  # 3x3: shape context
        self.cls = nn.Conv2d(width, classes, 1)
        self.reg = nn.Conv2d(width, 3 + 3 + 2, 1)
        self.embed = nn.Conv2d(width, latent_dim, 1)

    def narrowed(self, width: int) -> "ObjectHead":
        """This head with the ``width`` strongest trunk channels (:mod:`.channels`); to be
        fine-tuned."""
        keep = channels.strongest(self.trunk[0], None, width)
        new = ObjectHead(self.trunk[0].in_channels, self.cls.out_channels,
                         self.embed.out_channels, width)
        new.trunk[0] = channels.conv(self.trunk[0], keep, None)
        for name in ("cls", "reg", "embed"):
            setattr(new, name, channels.conv(getattr(self, name), None, keep))
        return new

    def forward(self, pixels: torch.Tensor) -> dict:
        h = self.trunk(pixels)
        reg = self.reg(h)
        return {"class_logits": self.cls(h), "offset": reg[:, :3] * OFFSET_SCALE_M,
                "size": F.softplus(reg[:, 3:6]) * OFFSET_SCALE_M, "yaw": reg[:, 6:8],
                "embed": self.embed(h)}


class StateHead(nn.Module):
    def __init__(self, dim: int, materials: int):
        super().__init__()
        self.net = mlp([dim, 128, 2 + 1 + materials])

    def forward(self, fused: torch.Tensor) -> dict:
        out = self.net(fused)
        return {"contact_logits": out[:, :2], "impact_logit": out[:, 2],
                "impact_material_logits": out[:, 3:]}


class HeldHead(nn.Module):
    def __init__(self, dim: int, shapes: int):
        super().__init__()
        self.net = mlp([dim, 128, shapes + 2])

    def forward(self, fused: torch.Tensor) -> dict:
        out = self.net(fused)
        return {"held_shape_logits": out[:, :-2], "held_width": F.softplus(out[:, -2]) * 0.05,
                "held_mass": F.softplus(out[:, -1]) * 0.2}


class HeldTemperatureHead(nn.Module):
    CLASSES = ("ambient", "hot", "cold")

    def __init__(self, dim: int):
        super().__init__()
        self.net = mlp([dim, 64, len(self.CLASSES)])

    def forward(self, fused: torch.Tensor) -> dict:
        return {"held_temperature_logits": self.net(fused)}


def object_latents(embed: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """L2-normalised mean embedding under each mask: embed (B, D, h, w), masks (B, K, h, w)
    -> (B, K, D)."""
    w = masks.float()
    s = torch.einsum("bdhw,bkhw->bkd", embed, w) / w.sum((2, 3))[..., None].clamp(min=1)
    return F.normalize(s, dim=-1)
