"""Tactile pads on both fingertips.

Each pad is a rows x cols taxel grid on the inner face of a finger: in the left finger's link
frame the face is the plane y = -1.1 mm with normal -y (the right finger is the same rotated by
pi about z), centred at z = 45 mm; row 0 is nearest the fingertip. The finger's total normal
contact force [N] (from PyBullet's contact points) is spread over the taxels in proportion to
how deep the object presses into a 0.15 mm soft skin there, computed from the object's signed
distance field: PyBullet reports about one contact point per finger, so the footprint has to
come from geometry (a cube's face presses every taxel, an upright cylinder a stripe, a sphere a
spot). Contacts with anything without a known shape are
spread as a Gaussian around the contact point. Output: {pad frame id: (rows, cols) float32 N}.
Noise: Gaussian per taxel on touched pads; readings below 0.02 N read 0 (dead band).
"""

from __future__ import annotations

import numpy as np
import pybullet as pb
from scipy.spatial.transform import Rotation

from omni_ros.core.geometry import signed_distance

from ..config import TactileConfig
from ..robot import LEFT_FINGER, RIGHT_FINGER

PADS = {"panda_leftfinger_pad": LEFT_FINGER, "panda_rightfinger_pad": RIGHT_FINGER}
PAD_CENTRE_Z = 0.045   # [m] along the finger's z axis
PAD_SURFACE_Y = 0.0011  # [m] distance of the pad face from the finger's y = 0 plane (measured)
SKIN = 0.00015         # [m] soft skin thickness: a taxel presses by (SKIN - signed distance)
DEAD_BAND = 0.02       # [N]


class TactileSensor:
    def __init__(self, cfg: TactileConfig, rng: np.random.Generator, cid: int, robot_id: int,
                 shape_of):
        """``shape_of(body_id)`` -> (shape, extents) for objects with a known shape, else None."""
        self.cfg, self.rng, self.cid, self.robot_id, self.shape_of = cfg, rng, cid, robot_id, shape_of
        xs = (np.arange(cfg.cols) - (cfg.cols - 1) / 2) * cfg.pitch_m
        zs = PAD_CENTRE_Z + ((cfg.rows - 1) / 2 - np.arange(cfg.rows)) * cfg.pitch_m
        zz, xx = np.meshgrid(zs, xs, indexing="ij")
        left = np.stack([xx, np.full_like(xx, -PAD_SURFACE_Y), zz], -1).reshape(-1, 3)
        mirror = np.array([-1.0, -1.0, 1.0])  # the right pad: rotated by pi about z
        self.taxels_local = {LEFT_FINGER: left, RIGHT_FINGER: left * mirror}

    def _pad(self, link: int) -> np.ndarray:
        contacts = [c for c in pb.getContactPoints(bodyA=self.robot_id, linkIndexA=link,
                                                   physicsClientId=self.cid)
                    if c[2] != self.robot_id]
        local = self.taxels_local[link]
        grid = np.zeros(len(local))
        if not contacts:
            return grid.reshape(self.cfg.rows, self.cfg.cols)
        state = pb.getLinkState(self.robot_id, link, physicsClientId=self.cid)
        taxels = Rotation.from_quat(state[5]).apply(local) + np.array(state[4])
        by_body: dict[int, float] = {}
        for c in contacts:
            by_body[c[2]] = by_body.get(c[2], 0.0) + c[9]
        for body, force in by_body.items():
            known = self.shape_of(body)
            if known is not None:
                shape, ext = known
                pos, orn = pb.getBasePositionAndOrientation(body, physicsClientId=self.cid)
                w = np.clip(SKIN - signed_distance(taxels, shape, ext, pos, orn), 0.0, None)
            else:
                w = np.zeros(len(taxels))
            if w.sum() <= 0:  # unknown body, or the contact is off the pad: Gaussian spread
                pts = np.array([c[5] for c in contacts if c[2] == body])
                d2 = ((taxels[:, None, :] - pts[None]) ** 2).sum(-1).min(axis=1)
                w = np.exp(-d2 / (2 * self.cfg.pitch_m ** 2))
            grid += force * w / w.sum()
        return grid.reshape(self.cfg.rows, self.cfg.cols)

    def read(self) -> dict[str, np.ndarray]:
        out = {}
        for name, link in PADS.items():
            g = self._pad(link)
            if g.any() and self.cfg.noise_n > 0:
                g = g + self.rng.standard_normal(g.shape) * self.cfg.noise_n
            g[g < DEAD_BAND] = 0.0
            out[name] = g.astype(np.float32)
        return out
