"""Tactile modality: both finger pads' taxel forces [N] plus the gripper opening [m] (the
hand's own sense of what it holds), through a small MLP.

Input: tactile (B, 2, rows, cols) [N] and joints (B, 9) (finger joints are the last two), from
/tactile (80 Hz) and /joint_states (60 Hz).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ...config import param
from ...errors import require
from . import mlp, register
from .windows import Stream, Window


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


PADS = ("panda_leftfinger_pad", "panda_rightfinger_pad")
JOINTS = 9  # arm [rad] and finger [m] positions; the fingers are the last two
STREAMS = (
    Stream("tactile", "/tactile", "omni_ros_msgs/msg/TactileArray", "panda_hand", "tactile"),
    Stream("joints", "/joint_states", "sensor_msgs/msg/JointState", "", "joints", sync=False),
)


class TactileWindow(Window):
    """Both pads' newest taxel forces (left, right) and the newest joint positions; a new
    input on every taxel frame, and on every joint state once taxels have been seen (the
    gripper width moved)."""

    trigger, primary = ("tactile", "joints"), "tactile"

    def __init__(self, cfg: TactileModalityConfig):
        super().__init__()
        self.pad_shape = (cfg.rows, cfg.cols)

    def convert(self, key, payload):
        if key == "joints":
            return np.asarray(payload["position"], np.float32)[-JOINTS:]
        if isinstance(payload, dict):  # decoded TactileArray: pad name -> (rows, cols) [N]
            unknown = sorted(set(payload) - set(PADS))
            require(not unknown, "pads", f"unknown pad(s) {unknown}; the model reads {list(PADS)}")
            for name, grid in payload.items():
                require(np.shape(grid) == self.pad_shape, f"pads[{name!r}]",
                        f"{np.shape(grid)} taxels; the model reads {self.pad_shape}")
            return np.stack([np.asarray(payload.get(p, np.zeros(self.pad_shape)), np.float32)
                             for p in PADS])
        return np.asarray(payload, np.float32)

    def empty(self, key):
        return np.zeros(JOINTS, np.float32) if key == "joints" else np.zeros((2, *self.pad_shape), np.float32)

    def ready(self, key, stamp_ns):
        return key == "tactile" or "tactile" in self.latest


@register("tactile", TactileModalityConfig, preprocess, streams=STREAMS, window=TactileWindow,
          max_age_s=0.2)
class TactileEncoder(nn.Module):
    cacheable = True

    def __init__(self, cfg: TactileModalityConfig):
        super().__init__()
        self.net = mlp([2 * cfg.rows * cfg.cols + 1, 128, cfg.feature_dim], last_activation=True)
        self.output_shape = {"feature": (cfg.feature_dim,)}

    def forward(self, inputs: dict) -> dict:
        return {"feature": self.net(torch.cat([inputs["taxels"], inputs["width"]], dim=1))}
