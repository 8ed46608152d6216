"""Geometry shared by the simulator and the model: signed distance fields of the object shapes
and a camera's pixel <-> base-frame mapping. Metres, REP 103 base frame."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from .camera import CameraIntrinsics, look_at, optical_to_pose, pose_to_optical

MAX_DEPTH_M = 100.0  # a depth reading beyond this (or <= 0, NaN, inf) is no return


def valid_depth(depth_m: np.ndarray) -> np.ndarray:
    """Where ``depth_m`` holds a usable return: finite, > 0 and <= MAX_DEPTH_M."""
    d = np.asarray(depth_m)
    with np.errstate(invalid="ignore"):
        return np.isfinite(d) & (d > 0) & (d <= MAX_DEPTH_M)


def signed_distance(points: np.ndarray, shape: str, extents, pos, orn) -> np.ndarray:
    """Signed distance [m] from (N, 3) points to an object's surface (< 0 inside).
    ``extents``: full size along the object's axes; ``orn``: quaternion (x, y, z, w)."""
    local = Rotation.from_quat(orn).inv().apply(np.asarray(points) - np.asarray(pos))
    half = np.asarray(extents) / 2
    if shape == "sphere":
        return np.linalg.norm(local, axis=1) - half[0]
    if shape == "cylinder":
        radial = np.linalg.norm(local[:, :2], axis=1) - half[0]
        axial = np.abs(local[:, 2]) - half[2]
        d = np.stack([radial, axial], axis=1)
        return np.minimum(d.max(axis=1), 0) + np.linalg.norm(np.maximum(d, 0), axis=1)
    q = np.abs(local) - half
    return np.minimum(q.max(axis=1), 0) + np.linalg.norm(np.maximum(q, 0), axis=1)


class CameraGeometry:
    """A pinhole camera (``intrinsics``) whose optical frame sits at ``position`` [m] with
    ``rotation`` (3x3, optical axes as columns) in the base frame; maps depth images to points
    in the base frame and base-frame points to pixels."""

    def __init__(self, intrinsics: CameraIntrinsics, position, rotation):
        self.intrinsics = intrinsics
        self.position = np.asarray(position, float)
        self.rotation = np.asarray(rotation, float)

    @classmethod
    def look(cls, width: int, height: int, fov_deg: float, eye, target) -> "CameraGeometry":
        """A camera of vertical FOV ``fov_deg`` at ``eye`` looking at ``target`` (base frame)."""
        position, orn = look_at(eye, target)
        return cls(CameraIntrinsics.from_fov(width, height, fov_deg), position,
                   Rotation.from_quat(orn).as_matrix())

    @classmethod
    def from_config(cls, cfg) -> "CameraGeometry":
        """The camera of a :class:`~.camera.CameraViewConfig` (the view a model was trained with)."""
        return cls.look(cfg.width, cfg.height, cfg.fov_deg, cfg.eye, cfg.target)

    @classmethod
    def from_pose(cls, intrinsics: CameraIntrinsics, pose) -> "CameraGeometry":
        """A camera with mounting pose ``pose`` [x, y, z, roll, pitch, yaw] (body frame)."""
        return cls(intrinsics, *pose_to_optical(pose))

    @property
    def pose(self) -> list[float]:
        """Mounting pose [x, y, z, roll, pitch, yaw] of the camera's body frame [m, rad]."""
        return optical_to_pose(self.position, self.rotation)

    def matrix(self) -> np.ndarray:
        """4x4 transform optical frame -> base frame."""
        m = np.eye(4)
        m[:3, :3], m[:3, 3] = self.rotation, self.position
        return m

    def project(self, points_base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 2) pixel coordinates (u right, v down) and (N,) depth along the optical axis [m]
        of (N, 3) base-frame points; depth <= 0 is behind the camera."""
        p = (np.asarray(points_base, float) - self.position) @ self.rotation  # optical frame
        k = self.intrinsics
        z = p[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = np.stack([k.fx * p[:, 0] / z + k.cx, k.fy * p[:, 1] / z + k.cy], axis=1)
        return uv, z

    def points_base(self, depth_m: np.ndarray, stride: int = 1) -> np.ndarray:
        """(H/stride, W/stride, 3) base-frame points of every ``stride``-th pixel (offset
        stride // 2 ... the centre of each block); NaN where depth is no return."""
        depth_m = np.where(valid_depth(depth_m), depth_m, np.nan)
        pts = self.intrinsics.backproject(depth_m)
        o = stride // 2
        pts = pts[o::stride, o::stride]
        return pts @ self.rotation.T + self.position
