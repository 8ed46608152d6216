"""Thermal (long-wave infrared) camera modality: a radiometric image that shows what colour
cannot - a hot motor, a warm part fresh from a press, a cold can from the fridge.

Stream: ``sensor_msgs/Image`` 16UC1 in centi-kelvin (the radiometric convention of e.g. FLIR
Lepton drivers: value / 100 = apparent temperature [K]) on /thermal/image_raw, with its
CameraInfo, in the optical frame ``thermal_optical_frame`` (z forward, x right, y down).
Preprocessing: (T - ``centre_c``) / ``scale_k`` per pixel, plus a channel of |T - ambient|
above ``contrast_k``. Encoder: a small conv net -> global feature (into the shared latent).
``annotate`` gives every perceived object its surface temperature: the object's centre
(base frame, REP 103) is projected into the thermal image with this camera's pose and field of
view, and the pixel that differs most from ambient within ``radius_px`` is read.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ...camera import CameraViewConfig
from ...config import param
from ...geometry import CameraGeometry
from . import register
from .windows import Latest, Stream

KELVIN = 273.15


@dataclass
class ThermalModalityConfig(CameraViewConfig):
    """The thermal camera's view (it must match the camera of the data) + preprocessing."""

    width: int = param(80, "thermal image width [px]", min=8, max=640)
    height: int = param(60, "thermal image height [px]", min=8, max=480)
    fov_deg: float = param(50.0, "vertical field of view [deg]", min=10.0, max=120.0)
    eye: list[float] = param([1.05, 0.06, 0.62], "thermal camera position in the base frame [m]")
    target: list[float] = param([0.45, 0.0, 0.0], "point the thermal camera looks at [m]")
    centre_c: float = param(22.0, "temperature normalisation centre (about ambient) [deg C]",
                            min=-50.0, max=200.0)
    scale_k: float = param(20.0, "temperature normalisation scale [K]", min=0.1, max=500.0)
    contrast_k: float = param(5.0, "a pixel this far from centre_c marks a thermal contrast [K]",
                              min=0.1, max=100.0)
    radius_px: int = param(1, "annotate: search radius around an object's projected centre [px]",
                           min=0, max=10)
    feature_dim: int = param(64, "feature width", min=8, max=1024)


STREAMS = (Stream("thermal", "/thermal/image_raw", "sensor_msgs/msg/Image", "thermal_optical_frame",
                  "image:16UC1", info=("thermal_info", "/thermal/camera_info")),)


def celsius(centi_kelvin: np.ndarray) -> np.ndarray:
    """16UC1 centi-kelvin -> degrees Celsius (float32); 0 (no reading) -> NaN."""
    t = np.asarray(centi_kelvin, np.float32) / 100.0 - KELVIN
    return np.where(np.asarray(centi_kelvin) == 0, np.nan, t).astype(np.float32)


def window(cfg: ThermalModalityConfig) -> Latest:
    return Latest("thermal", (cfg.height, cfg.width), np.uint16, fill=0)


def preprocess(batch: dict, cfg: ThermalModalityConfig) -> dict:
    t = torch.as_tensor(celsius(batch["thermal"]))            # (B, H, W) [deg C]
    t = torch.nan_to_num(t, nan=cfg.centre_c)
    x = (t - cfg.centre_c) / cfg.scale_k
    contrast = ((t - cfg.centre_c).abs() > cfg.contrast_k).float()
    return {"image": torch.stack([x, contrast], dim=1)}      # (B, 2, H, W)


@functools.lru_cache(maxsize=4)
def _geometry(width, height, fov_deg, eye, target) -> CameraGeometry:
    """The thermal camera's geometry (built once per view, not at every fusion)."""
    return CameraGeometry.look(width, height, fov_deg, eye, target)


def annotate(objects: list, arrays: dict, cfg: ThermalModalityConfig) -> None:
    """Set ``temperature_c`` of each object (ObjectEstimate, base frame) from the thermal image
    (``arrays["thermal"]``, centi-kelvin); objects outside the image keep NaN."""
    if not objects:
        return
    t = celsius(arrays["thermal"])
    geo = _geometry(cfg.width, cfg.height, cfg.fov_deg, tuple(cfg.eye), tuple(cfg.target))
    uv, z = geo.project(np.stack([o.position for o in objects]))
    r = cfg.radius_px
    for o, (u, v), depth in zip(objects, uv, z):
        iu, iv = int(round(u)), int(round(v))
        if depth <= 0 or not (0 <= iu < cfg.width and 0 <= iv < cfg.height):
            continue
        patch = t[max(iv - r, 0):iv + r + 1, max(iu - r, 0):iu + r + 1]
        patch = patch[np.isfinite(patch)]
        if patch.size:
            o.temperature_c = float(patch[np.argmax(np.abs(patch - cfg.centre_c))])


def _block(a: int, b: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(a, b, 3, stride, 1), nn.BatchNorm2d(b), nn.GELU())


@register("thermal", ThermalModalityConfig, preprocess, streams=STREAMS, window=window,
          max_age_s=0.4, annotate=annotate)
class ThermalEncoder(nn.Module):
    cacheable = False  # images: converted per batch

    def __init__(self, cfg: ThermalModalityConfig):
        super().__init__()
        self.net = nn.Sequential(_block(2, 16, 2), _block(16, 32, 2), _block(32, 32, 2))
        self.out = nn.Sequential(nn.Linear(64, cfg.feature_dim), nn.GELU())
        self.output_shape = {"feature": (cfg.feature_dim,)}

    def forward(self, inputs: dict) -> dict:
        h = self.net(inputs["image"])
        return {"feature": self.out(torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1))}
