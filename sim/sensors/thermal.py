"""Static thermal (long-wave infrared) camera: TinyRenderer's segmentation mask says which body
each pixel sees, and that body's surface temperature gives the pixel's.

Output: (H, W) uint16 in centi-kelvin, value = round((T_apparent [deg C] + 273.15) * 100) - the
radiometric convention of FLIR Lepton / ROS 16UC1 - in the camera's optical frame (REP 103:
z forward, x right, y down). Per pixel, a body at surface temperature T [deg C] appears at
emissivity * T + (1 - emissivity) * ambient (it reflects its surroundings); pixels that see
nothing read ``background_c``. Then Gaussian optical blur and Gaussian noise (NETD) [K].
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pybullet as pb
from scipy.ndimage import gaussian_filter

from ..config import ThermalConfig
from .camera import Camera

KELVIN_OFFSET = 273.15
CENTI = 100.0  # output counts per kelvin


class ThermalCamera(Camera):
    """``temperature_of_body``: body unique id -> surface temperature [deg C], read at every
    frame; ``table_body`` and ``robot_body`` are at ``cfg.table_c`` and ``cfg.robot_c``, any
    other body at ``cfg.ambient_c``. Geometry (view, intrinsics, ``pose()``) as ``Camera``."""

    def __init__(self, cfg: ThermalConfig, rng: np.random.Generator, cid: int,
                 temperature_of_body: Mapping[int, float], table_body: int, robot_body: int):
        super().__init__(cfg, rng, cid)
        self.temperature_of_body = temperature_of_body
        self.table_body, self.robot_body = table_body, robot_body

    def apparent_c(self, body: int) -> float:
        """What the camera sees of ``body`` (-1: nothing) before blur and noise [deg C]."""
        c = self.cfg
        if body < 0:
            return c.background_c
        if body == self.table_body:
            t, e = c.table_c, c.table_emissivity
        elif body == self.robot_body:
            t, e = c.robot_c, c.emissivity
        else:
            t, e = self.temperature_of_body.get(body, c.ambient_c), c.emissivity
        return e * t + (1.0 - e) * c.ambient_c

    def read(self) -> np.ndarray:
        c = self.cfg
        _, _, _, _, seg = pb.getCameraImage(
            c.width, c.height, self.view, self.proj, renderer=pb.ER_TINY_RENDERER,
            physicsClientId=self.cid)
        # Without ER_SEGMENTATION_MASK_OBJECT_AND_LINKINDEX each pixel holds the body's unique id.
        seg = np.asarray(seg, np.int64).reshape(c.height, c.width)
        bodies, index = np.unique(seg, return_inverse=True)
        temp_c = np.array([self.apparent_c(int(b)) for b in bodies])[index.reshape(seg.shape)]
        if c.blur_sigma_px > 0:
            temp_c = gaussian_filter(temp_c, c.blur_sigma_px, mode="nearest")
        if c.noise_k > 0:
            temp_c = temp_c + self.rng.standard_normal(temp_c.shape) * c.noise_k
        counts = np.rint((temp_c + KELVIN_OFFSET) * CENTI)
        return np.clip(counts, 0, np.iinfo(np.uint16).max).astype(np.uint16)
