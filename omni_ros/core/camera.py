"""Pinhole camera intrinsics (optical frame, REP 103: z forward, x right, y down; metres)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole model of an image of ``width`` x ``height`` pixels.

    ``fx``, ``fy``: focal lengths [px]; ``cx``, ``cy``: principal point [px];
    ``distortion``: coefficients of ``distortion_model`` (e.g. plumb_bob k1 k2 t1 t2 k3).
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    distortion_model: str = "plumb_bob"
    distortion: tuple[float, ...] = field(default=(0.0, 0.0, 0.0, 0.0, 0.0))

    @property
    def K(self) -> np.ndarray:
        """3x3 camera matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def backproject(self, depth_m: np.ndarray) -> np.ndarray:
        """(H, W) depth [m] -> (H, W, 3) points in the optical frame [m]; NaN where depth is NaN."""
        depth_m = np.asarray(depth_m, dtype=np.float32)
        if depth_m.shape != (self.height, self.width):
            raise ValueError(f"depth shape {depth_m.shape} != ({self.height}, {self.width})")
        u = (np.arange(self.width, dtype=np.float32) - self.cx) / self.fx
        v = (np.arange(self.height, dtype=np.float32) - self.cy) / self.fy
        x = depth_m * u[None, :]
        y = depth_m * v[:, None]
        return np.stack([x, y, depth_m], axis=-1)
