"""Static RGB-D camera rendered with PyBullet's TinyRenderer.

Output: colour (H, W, 3) uint8 and depth (H, W) float32 metres along the optical axis (NaN
beyond the far plane), in the optical frame ``camera_color_optical_frame`` (z forward, x right,
y down). The intrinsics follow from the vertical field of view.
"""

from __future__ import annotations

import numpy as np
import pybullet as pb
from omni_ros.core.camera import CameraIntrinsics, look_at

from ..config import CameraConfig


class Camera:
    def __init__(self, cfg: CameraConfig, rng: np.random.Generator, cid: int):
        self.cfg, self.rng, self.cid = cfg, rng, cid
        self.view = pb.computeViewMatrix(cfg.eye, cfg.target, [0, 0, 1])
        self.proj = pb.computeProjectionMatrixFOV(cfg.fov_deg, cfg.width / cfg.height,
                                                  cfg.near, cfg.far)
        f = cfg.height / (2 * np.tan(np.radians(cfg.fov_deg) / 2))
        self.intrinsics = CameraIntrinsics(cfg.width, cfg.height, f, f,
                                           (cfg.width - 1) / 2, (cfg.height - 1) / 2)

    def pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Optical frame position [m] and orientation (x, y, z, w) in the base frame."""
        return look_at(self.cfg.eye, self.cfg.target)

    def read(self) -> tuple[np.ndarray, np.ndarray]:
        c = self.cfg
        _, _, rgba, zbuf, _ = pb.getCameraImage(
            c.width, c.height, self.view, self.proj, renderer=pb.ER_TINY_RENDERER,
            flags=pb.ER_NO_SEGMENTATION_MASK, physicsClientId=self.cid)
        rgb = np.asarray(rgba, np.uint8).reshape(c.height, c.width, 4)[:, :, :3]
        zbuf = np.asarray(zbuf, np.float64).reshape(c.height, c.width)
        depth = c.far * c.near / (c.far - (c.far - c.near) * zbuf)
        depth[zbuf >= 1.0 - 1e-7] = np.nan
        if c.depth_noise_m > 0:
            depth = depth + self.rng.standard_normal(depth.shape) * c.depth_noise_m * depth ** 2
        if c.color_noise > 0:
            noisy = rgb + self.rng.standard_normal(rgb.shape) * c.color_noise
            rgb = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(rgb), depth.astype(np.float32)
