"""Scanning multi-ring lidar from batched ray casts.

Output: organised (rings, columns, 4) float32 [x, y, z, intensity] in the lidar frame
``lidar_link`` (axes parallel to the base frame, origin at ``position``); NaN where a ray hits
nothing within ``max_range``. PyBullet accepts at most 16,383 rays per batch call.
"""

from __future__ import annotations

import numpy as np
import pybullet as pb

from ..config import LidarConfig

MAX_RAYS_PER_CALL = 16383


class Lidar:
    def __init__(self, cfg: LidarConfig, rng: np.random.Generator, cid: int,
                 brightness_of=lambda body_id: 0.5):
        self.cfg, self.rng, self.cid = cfg, rng, cid
        self.brightness_of = brightness_of
        el = np.radians(np.linspace(cfg.elevation_min_deg, cfg.elevation_max_deg, cfg.rings))
        az = np.linspace(-np.pi, np.pi, cfg.columns, endpoint=False)
        el, az = np.meshgrid(el, az, indexing="ij")
        self.dirs = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], -1)
        self.origin = np.asarray(cfg.position, float)

    def read(self) -> np.ndarray:
        c = self.cfg
        dirs = self.dirs.reshape(-1, 3)
        starts = np.broadcast_to(self.origin, dirs.shape)
        ends = self.origin + dirs * c.max_range
        hits = []
        for i in range(0, len(dirs), MAX_RAYS_PER_CALL):
            hits += pb.rayTestBatch(starts[i:i + MAX_RAYS_PER_CALL].tolist(),
                                    ends[i:i + MAX_RAYS_PER_CALL].tolist(),
                                    physicsClientId=self.cid)
        body = np.fromiter((h[0] for h in hits), np.int64, len(hits))
        frac = np.fromiter((h[2] for h in hits), np.float64, len(hits))
        hit = body >= 0
        rng_m = frac * c.max_range + self.rng.standard_normal(len(frac)) * c.range_noise_m
        xyz = dirs * rng_m[:, None]
        intensity = np.zeros(len(hits))
        for b in np.unique(body[hit]):  # one lookup per body, not per ray
            intensity[body == b] = 100.0 * self.brightness_of(int(b))
        out = np.concatenate([xyz, intensity[:, None]], axis=1).astype(np.float32)
        out[~hit] = np.nan
        return out.reshape(c.rings, c.columns, 4)
