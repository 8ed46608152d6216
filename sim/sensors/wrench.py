"""Wrist force/torque sensor at the hand flange (the fixed joint between link8 and the hand).

Output: (6,) [fx, fy, fz, tx, ty, tz] in newtons and newton-metres in ``panda_hand_ft`` (the
panda_hand frame, where PyBullet reports the fixed joint's reaction): the load that the hand, and whatever it holds or pushes, puts on the wrist.
Noise: Gaussian per axis.
"""

from __future__ import annotations

import numpy as np

from ..config import WrenchConfig


class WrenchSensor:
    def __init__(self, cfg: WrenchConfig, rng: np.random.Generator, robot):
        self.cfg, self.rng, self.robot = cfg, rng, robot

    def read(self) -> np.ndarray:
        w = self.robot.wrist_wrench()
        noise = self.rng.standard_normal(6) * np.repeat([self.cfg.force_noise_n,
                                                         self.cfg.torque_noise_nm], 3)
        return w + noise
