"""Objects from the lidar alone (no learned head): the points above the table are clustered
with open3d's DBSCAN; each cluster gives a position, a size and a yaw (the rotation of the
smallest bounding rectangle of its top-surface points). Shape and colour stay unknown ("").

This is what localises objects when the camera is dead: with the operator's clicked point it
is enough to grasp (see the perception node's object memory, which keeps the camera's
identities for lidar clusters found where a camera object was).

Frames: the lidar cloud is in ``lidar_link`` (parallel to the base frame at
``LidarModalityConfig.lidar_position``); objects are in the base frame (REP 103, metres).
"""

from __future__ import annotations

import numpy as np
import open3d as o3d

from ..model.modalities.lidar import LidarModalityConfig
from ..types import ObjectEstimate

TABLE_Z = 0.0            # support surface height in the base frame [m]
MIN_HEIGHT_M = 0.008     # points lower than this above the table are the table
CLUSTER_EPS_M = 0.035
MIN_POINTS = 2
TOP_BAND_M = 0.012       # points this close to a cluster's highest point form its top face


def base_points(cloud: np.ndarray, cfg: LidarModalityConfig) -> np.ndarray:
    """(N, 3) finite points [m] in the base frame inside the model's workspace crop."""
    pts = np.asarray(cloud, np.float32).reshape(-1, cloud.shape[-1])[:, :3]
    pts = pts[np.isfinite(pts).all(axis=1)] + np.asarray(cfg.lidar_position, np.float32)
    keep = np.all((pts >= np.asarray(cfg.crop_min)) & (pts <= np.asarray(cfg.crop_max)), axis=1)
    return pts[keep]


def _min_area_yaw(xy: np.ndarray) -> tuple[float, np.ndarray]:
    """Yaw [rad] in [-pi/4, pi/4) of the smallest-area rectangle around ``xy`` and its extents."""
    best = (np.inf, 0.0, np.zeros(2))
    for a in np.radians(np.arange(-45.0, 45.0, 3.0)):
        c, s = np.cos(a), np.sin(a)
        r = xy @ np.array([[c, -s], [s, c]])
        ext = r.max(axis=0) - r.min(axis=0)
        if ext[0] * ext[1] < best[0]:
            best = (ext[0] * ext[1], a, ext)
    return float(best[1]), best[2]


def lidar_objects(cloud: np.ndarray, cfg: LidarModalityConfig, table_z: float = TABLE_Z,
                  max_objects: int = 12) -> list[ObjectEstimate]:
    """Objects standing on the table, from one organised or flat lidar cloud (x, y, z, ...)."""
    pts = base_points(cloud, cfg)
    pts = pts[pts[:, 2] > table_z + MIN_HEIGHT_M]
    if len(pts) < MIN_POINTS:
        return []
    pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts.astype(np.float64)))
    labels = np.asarray(pc.cluster_dbscan(eps=CLUSTER_EPS_M, min_points=MIN_POINTS))
    objects = []
    for k in np.unique(labels[labels >= 0]):
        c = pts[labels == k]
        top = float(c[:, 2].max())
        height = top - table_z
        if height > 0.3:  # the arm, not an object
            continue
        face = c[c[:, 2] > top - TOP_BAND_M][:, :2]
        yaw, ext = _min_area_yaw(face if len(face) >= 3 else c[:, :2])
        width = float(np.clip(max(ext.max(), height * 0.8), 0.02, 0.08))
        # The lidar sees the side facing it: move the centroid half a radius away from it.
        away = c[:, :2].mean(axis=0) - np.asarray(cfg.lidar_position[:2])
        centre_xy = c[:, :2].mean(axis=0) + away / max(np.linalg.norm(away), 1e-9) * width / 4
        objects.append(ObjectEstimate(
            id=f"lidar_{len(objects)}", shape="", color="", confidence=min(1.0, len(c) / 20),
            position=[centre_xy[0], centre_xy[1], table_z + height / 2],
            orientation=[0.0, 0.0, np.sin(yaw / 2), np.cos(yaw / 2)],
            size=[width, width, height]))
    objects.sort(key=lambda o: -o.confidence)
    return objects[:max_objects]
