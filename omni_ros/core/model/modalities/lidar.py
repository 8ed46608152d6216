"""Point-cloud modality (the lidar; the camera's depth points are the camera modality's): a
PointNet.

Preprocessing (numpy + open3d): points into the base frame, workspace crop, voxel down-sampling,
then a fixed number of points (random subset with a per-sample seed, or zero padding plus a
mask). Input: organised lidar (B, rings, cols, 4) [x, y, z in lidar_link, intensity] with NaN
for no return; the model's lidar frame is parallel to the base frame at ``lidar_position``.
A lidar mounted elsewhere (the window's ``set_pose``: the perception node's ``lidar.pose``) has
its points re-expressed in that frame, so the points reach the base frame where they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d
import torch
from torch import nn

from ...camera import pose_matrix
from ...config import param
from . import mlp, register
from .windows import Stream, Window


@dataclass
class LidarModalityConfig:
    rings: int = param(16, "rows of the organised cloud the model reads (other layouts are "
                       "flattened, then cut or NaN-padded)", min=1, max=1024)
    columns: int = param(180, "columns of the organised cloud", min=1, max=8192)
    lidar_position: list[float] = param([0.5, -0.55, 0.45], "lidar origin in the base frame [m]")
    crop_min: list[float] = param([0.15, -0.5, -0.02], "workspace crop, lower corner [m]")
    crop_max: list[float] = param([0.9, 0.5, 0.4], "workspace crop, upper corner [m]")
    voxel_m: float = param(0.01, "voxel size for down-sampling [m]", min=0.0, max=0.1)
    points: int = param(256, "points per cloud after sampling", min=16, max=8192)
    feature_dim: int = param(128, "feature width", min=8, max=1024)


def cloud_points(cloud: np.ndarray, cfg: LidarModalityConfig, rng: np.random.Generator) -> np.ndarray:
    """(points, 5): x, y, z [m] in the base frame, intensity / 100, valid flag."""
    pts = cloud.reshape(-1, 4)
    pts = pts[np.isfinite(pts).all(axis=1)]
    xyz = pts[:, :3] + np.asarray(cfg.lidar_position, np.float32)
    lo, hi = np.asarray(cfg.crop_min), np.asarray(cfg.crop_max)
    keep = np.all((xyz >= lo) & (xyz <= hi), axis=1)
    xyz, inten = xyz[keep], pts[keep, 3:4] / 100.0
    if cfg.voxel_m > 0 and len(xyz):
        pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(xyz.astype(np.float64)))
        pc.colors = o3d.utility.Vector3dVector(np.repeat(inten, 3, axis=1).astype(np.float64))
        pc = pc.voxel_down_sample(cfg.voxel_m)
        xyz, inten = np.asarray(pc.points), np.asarray(pc.colors)[:, :1]
    out = np.zeros((cfg.points, 5), np.float32)
    if len(xyz) > cfg.points:
        idx = rng.choice(len(xyz), cfg.points, replace=False)
        xyz, inten = xyz[idx], inten[idx]
    out[:len(xyz), :3] = xyz
    out[:len(xyz), 3:4] = inten
    out[:len(xyz), 4] = 1.0
    return out


def preprocess(batch: dict, cfg: LidarModalityConfig) -> dict:
    clouds = np.asarray(batch["lidar"])
    stamps = np.asarray(batch.get("lidar_stamp_ns", batch.get("stamp_ns", np.zeros(len(clouds), np.int64))))
    pts = np.stack([cloud_points(c, cfg, np.random.default_rng(int(s) % (2**32)))
                    for c, s in zip(clouds, stamps)])
    return {"points": torch.as_tensor(pts)}


STREAMS = (Stream("lidar", "/lidar/points", "sensor_msgs/msg/PointCloud2", "lidar_link", "pointcloud:xyzi"),)


class LidarWindow(Window):
    """The newest scan as a (rings, columns, 4) grid, and its stamp (seeds the point sampling)."""

    trigger, primary = ("lidar",), "lidar"

    def __init__(self, cfg: LidarModalityConfig):
        super().__init__()
        self.shape = (cfg.rings, cfg.columns)
        self.voxel_m = cfg.voxel_m
        self.nominal = np.asarray(cfg.lidar_position, float)
        # the workspace crop in the model's lidar frame, a voxel wider each side (preprocessing
        # crops exactly; this only spares the points it would drop)
        pad = max(cfg.voxel_m, 0.0)
        self.crop = (np.asarray(cfg.crop_min, np.float32) - self.nominal - pad,
                     np.asarray(cfg.crop_max, np.float32) - self.nominal + pad)
        self.transform: np.ndarray | None = None  # actual lidar frame -> the model's, 4x4

    def set_pose(self, pose) -> None:
        """The lidar's mounting pose [x, y, z, roll, pitch, yaw] in the base frame (m, rad)."""
        m = pose_matrix(pose)
        m[:3, 3] -= self.nominal
        self.transform = None if np.allclose(m, np.eye(4), atol=1e-9) else m

    def convert(self, key, payload):
        cloud = np.asarray(payload, np.float32)
        if self.transform is not None and cloud.ndim >= 2 and cloud.shape[-1] >= 3:
            cloud = cloud.copy()
            r, t = self.transform[:3, :3], self.transform[:3, 3]
            cloud[..., :3] = cloud[..., :3] @ r.T.astype(np.float32) + t.astype(np.float32)
        if cloud.shape[:2] == self.shape:
            return cloud
        # another layout: its finite points inside the workspace crop fill the grid row by row
        # (NaN after the last) - cropped first, so a dense cloud costs what its workspace part
        # costs and the grid's budget goes to the workspace; more than the grid holds are
        # voxel-downsampled, then an even subset (a fixed seed, so training and serving pick the
        # same) is kept: never just the first rows
        grid = self.empty(key)
        n = grid.shape[0] * grid.shape[1]
        flat = cloud.reshape(-1, cloud.shape[-1])[:, :4]
        lo, hi = self.crop
        xyz = flat[:, :3]
        flat = flat[np.all((xyz >= lo) & (xyz <= hi), axis=1) & np.isfinite(flat[:, 3])]
        if len(flat) > n and self.voxel_m > 0:
            pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(flat[:, :3].astype(np.float64)))
            pc.colors = o3d.utility.Vector3dVector(np.repeat(flat[:, 3:4], 3, axis=1).astype(np.float64))
            pc = pc.voxel_down_sample(self.voxel_m)
            flat = np.c_[np.asarray(pc.points), np.asarray(pc.colors)[:, :1]].astype(np.float32)
        if len(flat) > n:
            flat = flat[np.sort(np.random.default_rng(0).choice(len(flat), n, replace=False))]
        grid.reshape(-1, 4)[: len(flat)] = flat
        return grid

    def empty(self, key):
        return np.full((*self.shape, 4), np.nan, np.float32)

    def read(self, now_ns=None, stale_s=None):
        out = super().read(now_ns, stale_s)
        fresh = self.fresh("lidar", now_ns, stale_s)
        out["lidar_stamp_ns"] = np.int64(self.stamp_ns if fresh else 0)
        return out


@register("lidar", LidarModalityConfig, preprocess, streams=STREAMS, window=LidarWindow,
          max_age_s=0.4)
class PointNetEncoder(nn.Module):
    cacheable = True

    def __init__(self, cfg: LidarModalityConfig):
        super().__init__()
        self.register_buffer("centre", torch.tensor([0.5, 0.0, 0.05]))  # workspace centre [m]
        self.point_mlp = mlp([4, 64, 128, cfg.feature_dim], last_activation=True)
        self.output_shape = {"feature": (cfg.feature_dim,)}

    def forward(self, inputs: dict) -> dict:
        p = inputs["points"]
        x = torch.cat([(p[..., :3] - self.centre) * 4.0, p[..., 3:4]], dim=-1)
        h = self.point_mlp(x)
        h = h.masked_fill(p[..., 4:5] < 0.5, -1e4)
        feat = h.amax(dim=1)
        empty = p[..., 4].sum(dim=1) == 0
        return {"feature": torch.where(empty[:, None], torch.zeros_like(feat), feat)}
