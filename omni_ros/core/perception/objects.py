"""Objects from the object head's per-pixel output: pixels of each predicted class vote for
their object's centre (3-D point + predicted offset, base frame); the votes are clustered with
open3d's DBSCAN and the largest cluster gives the object."""

from __future__ import annotations

import numpy as np
import open3d as o3d
import torch

from ..geometry import CameraGeometry
from ..model.omni import class_name
from ..types import ObjectEstimate

MIN_PIXELS = 2
CLUSTER_EPS_M = 0.025


def cluster_labels(votes: np.ndarray) -> np.ndarray:
    """DBSCAN cluster index of each (N, 3) vote; -1 for noise."""
    if len(votes) < 2:
        return np.zeros(len(votes), int)
    pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(votes.astype(np.float64)))
    return np.asarray(pc.cluster_dbscan(eps=CLUSTER_EPS_M, min_points=2))


def extract_objects(head: dict, depth_m: np.ndarray, geometry: CameraGeometry,
                    min_pixels: int = MIN_PIXELS) -> list[ObjectEstimate]:
    """Objects of one sample. ``head``: the object head's outputs for that sample (no batch
    dimension); ``depth_m``: (H, W) metres. Positions in the base frame [m].

    Foreground pixels vote for their object's centre; the votes are clustered, and each
    cluster's class is the one with the largest summed probability over its pixels (so a few
    confused pixels do not split an object in two)."""
    pts = geometry.points_base(depth_m, stride=2)
    prob = torch.softmax(head["class_logits"], dim=0).permute(1, 2, 0).numpy()
    fg = (prob.argmax(-1) > 0) & np.isfinite(pts).all(-1)
    if fg.sum() < min_pixels:
        return []
    p = prob[fg]
    votes = pts[fg] + head["offset"].permute(1, 2, 0).numpy()[fg]
    size = head["size"].permute(1, 2, 0).numpy()[fg]
    yaw = head["yaw"].permute(1, 2, 0).numpy()[fg]
    embed = head["embed"].permute(1, 2, 0).numpy()[fg]
    labels = cluster_labels(votes)
    objects = []
    for k in np.unique(labels[labels >= 0]):
        m = labels == k
        if m.sum() < min_pixels:
            continue
        cls_prob = p[m, 1:].sum(0)
        c = int(cls_prob.argmax()) + 1
        shape, colour = class_name(c)
        y = yaw[m].mean(0)
        half_yaw = np.arctan2(y[1], y[0]) / 8  # yaw = atan2(sin 4y, cos 4y) / 4; quaternion half
        latent = embed[m].mean(0)
        objects.append(ObjectEstimate(
            id=f"{colour}_{shape}", shape=shape, color=colour,
            confidence=float(cls_prob[c - 1] / m.sum()),
            position=np.median(votes[m], axis=0),
            orientation=[0.0, 0.0, np.sin(half_yaw), np.cos(half_yaw)],
            size=np.median(size[m], axis=0),
            latent=(latent / max(np.linalg.norm(latent), 1e-9)).astype(np.float32)))
    return objects
