"""Camera (RGB-D) modality: a small U-Net over colour + depth.

Input: colour (B, H, W, 3) uint8 and depth (B, H, W) float32 metres (NaN = no return) in the
optical frame ``camera_color_optical_frame``. Preprocessing stacks r, g, b in [0, 1], depth
centred on ``depth_centre_m`` and scaled by ``depth_scale_m`` (0 where invalid), a validity
channel, and the local surface relief: depth minus its valid-pixel mean over a 5x5 window,
scaled by ``relief_scale_m`` (a flat face reads 0, a curved one does not; at 96 px an object
is only ~5 px wide, so this is what separates a small cube from a cylinder). The encoder returns a global feature and per-pixel features at half resolution, from
which the object head predicts classes and centre votes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ...camera import CameraViewConfig
from ...config import param
from ...errors import require
from ...geometry import valid_depth
from . import register
from .windows import Stream, Window


@dataclass
class CameraModalityConfig(CameraViewConfig):
    """The camera's view (it must match the camera of the data) + preprocessing and widths."""

    depth_centre_m: float = param(0.9, "depth normalisation centre [m]", min=0.0, max=10.0)
    depth_scale_m: float = param(0.4, "depth normalisation scale [m]", min=0.01, max=10.0)
    relief_scale_m: float = param(0.01, "surface relief normalisation [m]", min=0.001, max=1.0)
    channels: list[int] = param([16, 32, 64], "U-Net encoder widths", min=4, max=512)
    pixel_dim: int = param(32, "per-pixel feature width", min=4, max=256)
    feature_dim: int = param(128, "global feature width", min=8, max=1024)


IN_CHANNELS = 6  # r, g, b, depth, valid, relief


def preprocess(batch: dict, cfg: CameraModalityConfig) -> dict:
    rgb = torch.as_tensor(np.asarray(batch["color"]), dtype=torch.float32).permute(0, 3, 1, 2) / 255.0
    depth = np.asarray(batch["depth"], np.float32)
    valid = torch.as_tensor(valid_depth(depth))
    depth = torch.as_tensor(depth)
    d = torch.where(valid, (depth - cfg.depth_centre_m) / cfg.depth_scale_m, torch.zeros_like(depth))
    v = valid[:, None].float()
    dz = torch.where(valid, depth, torch.zeros_like(depth))[:, None]
    mean = F.avg_pool2d(dz, 5, 1, 2) / F.avg_pool2d(v, 5, 1, 2).clamp(min=1e-6)
    relief = ((dz - mean) / cfg.relief_scale_m).clamp(-3, 3) * v
    return {"image": torch.cat([rgb, d[:, None], v, relief], dim=1)}


def _block(a: int, b: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(a, b, 3, stride, 1), nn.BatchNorm2d(b), nn.GELU())


STREAMS = (
    Stream("depth", "/camera/depth/image_raw", "sensor_msgs/msg/Image", "camera_color_optical_frame",
           "depth"),
    Stream("color", "/camera/color/image_raw", "sensor_msgs/msg/Image", "camera_color_optical_frame",
           "image:rgb8", info=("camera_info", "/camera/camera_info")),
)


class CameraWindow(Window):
    """Colour + depth of one stamp (a frame is encoded once both halves have arrived); missing
    depth reads NaN, missing colour black."""

    trigger, primary = ("color", "depth"), "color"

    def __init__(self, cfg: CameraModalityConfig):
        super().__init__()
        self.hw = (cfg.height, cfg.width)

    def convert(self, key, payload):
        a = np.asarray(payload)
        want = (*self.hw, 3) if key == "color" else self.hw
        require(a.shape == want, key, f"image of {a.shape[1::-1] if a.ndim >= 2 else a.shape} "
                f"(width, height); the model reads {self.hw[1]}x{self.hw[0]}")
        return a

    def empty(self, key):
        return np.zeros((*self.hw, 3), np.uint8) if key == "color" else np.full(self.hw, np.nan, np.float32)

    def ready(self, key, stamp_ns):
        other = self.latest.get("depth" if key == "color" else "color")
        return other is not None and other[0] == stamp_ns


@register("camera", CameraModalityConfig, preprocess, streams=STREAMS, window=CameraWindow,
          max_age_s=0.3, presence="depth")
class CameraEncoder(nn.Module):
    cacheable = False  # cheap to preprocess per batch, large to keep as floats

    def __init__(self, cfg: CameraModalityConfig):
        super().__init__()
        c1, c2, c3 = cfg.channels
        self.enc1 = nn.Sequential(_block(IN_CHANNELS, c1, 1), _block(c1, c1, 2))  # H/2
        self.enc2 = nn.Sequential(_block(c1, c2, 2), _block(c2, c2, 1))  # H/4
        self.enc3 = nn.Sequential(_block(c2, c3, 2), _block(c3, c3, 1))  # H/8
        self.up3 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.dec2 = _block(c3 + c2, c2, 1)
        self.dec1 = _block(c2 + c1, cfg.pixel_dim, 1)
        self.glob = nn.Sequential(nn.Linear(2 * c3, cfg.feature_dim), nn.GELU())
        self.output_shape = {"feature": (cfg.feature_dim,),
                             "pixels": (cfg.pixel_dim, cfg.height // 2, cfg.width // 2)}

    def forward(self, inputs: dict) -> dict:
        x = inputs["image"]
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        g = torch.cat([e3.mean(dim=(2, 3)), e3.amax(dim=(2, 3))], dim=1)
        d2 = self.dec2(torch.cat([self.up3(e3), e2], dim=1))
        d1 = self.dec1(torch.cat([self.up3(d2), e1], dim=1))
        return {"feature": self.glob(g), "pixels": d1}
