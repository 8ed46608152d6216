"""Pinhole camera intrinsics (optical frame, REP 103: z forward, x right, y down; metres)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

from .config import param


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


def look_at(eye, target, up=(0.0, 0.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """Pose of an optical frame (z forward, x right, y down) at ``eye`` looking at ``target``:
    position [m] and orientation (x, y, z, w) in the frame ``eye`` and ``target`` are given in."""
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return eye, Rotation.from_matrix(np.stack([x, y, z], axis=1)).as_quat()


@dataclass
class CameraViewConfig:
    """A static pinhole camera: image size, vertical field of view and where it looks (base
    frame, metres). The sim's camera and the model's camera modality share these fields, so a
    model is configured with the geometry of the camera that produced its data."""

    width: int = param(96, "image width [px]", min=16, max=640)
    height: int = param(96, "image height [px]", min=16, max=480)
    fov_deg: float = param(58.0, "vertical field of view [deg]", min=20.0, max=120.0)
    eye: list[float] = param([1.05, 0.0, 0.62], "camera position in the base frame [m]")
    target: list[float] = param([0.45, 0.0, 0.0], "point the camera looks at [m]")
