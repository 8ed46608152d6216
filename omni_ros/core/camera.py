"""Pinhole camera intrinsics and mounting poses.

Frames (REP 103): the optical frame has z forward, x right, y down; a sensor's body frame (the
one a mounting pose gives, like ``camera_link``) has x forward, y left, z up. Metres, radians.
A mounting pose is ``[x, y, z, roll, pitch, yaw]`` of the body frame in the base frame (fixed
axes roll about x, then pitch about y, then yaw about z: what ``static_transform_publisher``
and URDF ``rpy`` mean)."""

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

    def fit(self, width: int, height: int, focal: float | None = None
            ) -> tuple[tuple[int, int, int, int], "CameraIntrinsics"]:
        """How an image of this camera becomes one of ``width`` x ``height``: the centred box
        ``(x0, y0, w, h)`` [px] to resample, and the intrinsics of the result (pixel centres at
        integer coordinates). Without ``focal`` the box is the largest of the target's aspect
        ratio; with it, the box is scaled so that the result's focal length is ``focal`` [px]
        (a model's training camera: objects keep the size in pixels it learned), which may
        reach beyond the image (a narrower lens: the rest is padding)."""
        if focal is None:
            w = min(self.width, round(self.height * width / height))
            h = min(self.height, round(self.width * height / width))
        else:
            # sizes of the image's parity, so that the box is centred to the pixel
            w = max(1, self.width - 2 * round((self.width - width * self.fx / focal) / 2))
            h = max(1, self.height - 2 * round((self.height - height * self.fy / focal) / 2))
        box = ((self.width - w) // 2, (self.height - h) // 2, w, h)
        return box, self.resampled(box, width, height)

    def resampled(self, box: tuple[int, int, int, int], width: int, height: int
                  ) -> "CameraIntrinsics":
        """The intrinsics of the ``box`` (x0, y0, w, h) [px] of this camera's images (it may
        reach beyond them) resampled to ``width`` x ``height`` (pixel centres at integer
        coordinates)."""
        x0, y0, w, h = box
        sx, sy = width / w, height / h
        return CameraIntrinsics(
            width, height, self.fx * sx, self.fy * sy, (self.cx - x0 + 0.5) * sx - 0.5,
            (self.cy - y0 + 0.5) * sy - 0.5, self.distortion_model, self.distortion)

    @classmethod
    def from_K(cls, K, width: int, height: int) -> "CameraIntrinsics":
        """Intrinsics of a 3x3 camera matrix (no distortion)."""
        K = np.asarray(K, float)
        return cls(width, height, float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]))

    @classmethod
    def from_fov(cls, width: int, height: int, fov_deg: float) -> "CameraIntrinsics":
        """Square pixels, principal point at the image centre, vertical field of view [deg]."""
        f = height / (2 * np.tan(np.radians(fov_deg) / 2))
        return cls(width, height, f, f, (width - 1) / 2, (height - 1) / 2)


# optical axes (x right, y down, z forward) in the body frame (x forward, y left, z up)
BODY_TO_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def check_pose(pose, name: str = "pose", max_m: float = 100.0) -> np.ndarray:
    """``pose`` as 6 floats [x, y, z, roll, pitch, yaw] (m, rad) or ValueError saying what is
    allowed: finite, |x|, |y|, |z| <= ``max_m``, angles within [-2 pi, 2 pi]."""
    p = np.asarray(pose, float).reshape(-1)
    if p.shape != (6,) or not np.all(np.isfinite(p)):
        raise ValueError(f"{name} must be 6 finite numbers [x, y, z, roll, pitch, yaw] (m, rad; "
                         f"the body frame, x forward, z up, in the base frame), got {list(pose)}")
    if np.any(np.abs(p[:3]) > max_m) or np.any(np.abs(p[3:]) > 2 * np.pi):
        raise ValueError(f"{name} {p.tolist()}: position within +-{max_m:g} m, angles in radians "
                         "within +-2 pi")
    return p


def pose_to_optical(pose) -> tuple[np.ndarray, np.ndarray]:
    """Position [m] and 3x3 rotation (optical axes as columns, base frame) of a camera whose
    body frame has mounting pose ``pose`` [x, y, z, roll, pitch, yaw]."""
    p = check_pose(pose)
    body = Rotation.from_euler("xyz", p[3:]).as_matrix()
    return p[:3].copy(), body @ BODY_TO_OPTICAL


def optical_to_pose(position, rotation) -> list[float]:
    """The mounting pose [x, y, z, roll, pitch, yaw] of a camera whose optical frame is at
    ``position`` with rotation ``rotation`` (inverse of :func:`pose_to_optical`)."""
    body = np.asarray(rotation, float) @ BODY_TO_OPTICAL.T
    rpy = Rotation.from_matrix(body).as_euler("xyz")
    return [float(v) for v in (*np.asarray(position, float), *rpy)]


def pose_matrix(pose) -> np.ndarray:
    """4x4 transform (body frame -> base frame) of a mounting pose."""
    p = check_pose(pose)
    m = np.eye(4)
    m[:3, :3] = Rotation.from_euler("xyz", p[3:]).as_matrix()
    m[:3, 3] = p[:3]
    return m


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
