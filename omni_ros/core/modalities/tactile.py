"""Tactile modality: both finger pads' taxel forces [N] plus the gripper opening [m] (the
hand's own sense of what it holds), through a small MLP.

Input: tactile (B, 2, rows, cols) and joints (B, 9) (finger joints are the last two).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..config import param
from . import mlp, register


@dataclass
class TactileModalityConfig:
    rows: int = param(4, "taxel rows per pad", min=1, max=64)
    cols: int = param(4, "taxel columns per pad", min=1, max=64)
    force_scale_n: float = param(2.0, "taxel force normalisation [N]", min=0.01, max=1000.0)
    feature_dim: int = param(64, "feature width", min=8, max=1024)


def preprocess(batch: dict, cfg: TactileModalityConfig) -> dict:
    taxels = np.asarray(batch["tactile"], np.float32).reshape(len(batch["tactile"]), -1)
    width = np.asarray(batch["joints"], np.float32)[:, -2:].sum(axis=1, keepdims=True)  # [m]
    return {"taxels": torch.as_tensor(taxels / cfg.force_scale_n),
            "width": torch.as_tensor(width / 0.04)}


@register("tactile", TactileModalityConfig, preprocess)
class TactileEncoder(nn.Module):
    cacheable = True

    def __init__(self, cfg: TactileModalityConfig):
        super().__init__()
        self.net = mlp([2 * cfg.rows * cfg.cols + 1, 128, cfg.feature_dim], last_activation=True)
        self.output_shape = {"feature": (cfg.feature_dim,)}

    def forward(self, inputs: dict) -> dict:
        return {"feature": self.net(torch.cat([inputs["taxels"], inputs["width"]], dim=1))}
