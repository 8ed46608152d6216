"""Force/torque modality: a window of wrist wrenches [N, N*m] (newest last) through a temporal
conv net. Input: wrench (B, window, 6) in the sensor frame ``panda_hand_ft``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ...config import param
from . import register
from .windows import History, Stream


@dataclass
class ForceModalityConfig:
    window: int = param(12, "wrench readings per window", min=2, max=1024)
    force_offset_n: list[float] = param([0.0, 0.0, -9.95], "subtracted from the force: the "
                                        "empty hand's reading [N]")
    force_scale_n: float = param(2.0, "force normalisation [N]", min=0.01, max=1000.0)
    torque_scale_nm: float = param(0.2, "torque normalisation [N*m]", min=0.001, max=100.0)
    feature_dim: int = param(64, "feature width", min=8, max=1024)


def preprocess(batch: dict, cfg: ForceModalityConfig) -> dict:
    w = np.asarray(batch["wrench"], np.float32).copy()
    w[..., :3] = (w[..., :3] - np.asarray(cfg.force_offset_n, np.float32)) / cfg.force_scale_n
    w[..., 3:] /= cfg.torque_scale_nm
    return {"wrench": torch.as_tensor(w).transpose(1, 2)}  # (B, 6, window)


STREAMS = (Stream("wrench", "/wrist/wrench", "geometry_msgs/msg/WrenchStamped", "panda_hand_ft", "wrench"),)


def window(cfg: ForceModalityConfig) -> History:
    return History("wrench", cfg.window, 6)


@register("force", ForceModalityConfig, preprocess, streams=STREAMS, window=window, max_age_s=0.2)
class ForceEncoder(nn.Module):
    cacheable = True

    def __init__(self, cfg: ForceModalityConfig):
        super().__init__()
        self.net = nn.Sequential(nn.Conv1d(6, 32, 3, padding=1), nn.GELU(),
                                 nn.Conv1d(32, 32, 3, padding=1), nn.GELU())
        self.out = nn.Sequential(nn.Linear(32 * cfg.window + 6, cfg.feature_dim), nn.GELU())
        self.output_shape = {"feature": (cfg.feature_dim,)}

    def forward(self, inputs: dict) -> dict:
        w = inputs["wrench"]
        h = self.net(w).flatten(1)
        return {"feature": self.out(torch.cat([h, w[:, :, -4:].mean(dim=2)], dim=1))}
