"""Static RGB-D camera rendered with PyBullet's TinyRenderer, and the random camera of a
randomised cell (mount, field of view, resolution, lighting).

Output: colour (H, W, 3) uint8 and depth (H, W) float32 metres along the optical axis (NaN
beyond the far plane), in the optical frame ``camera_color_optical_frame`` (z forward, x right,
y down). The intrinsics follow from the vertical field of view. Positions and directions are in
the base frame (REP 103: x forward, y left, z up), metres.
"""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np
import pybullet as pb
from omni_ros.core.camera import CameraIntrinsics, look_at
from omni_ros.core.geometry import CameraGeometry

from ..config import CameraConfig, RandomizeConfig
from ..scene import SPAWN_X, SPAWN_Y, cell_rng

WORKSPACE_CENTRE = (np.mean(SPAWN_X), np.mean(SPAWN_Y), 0.0)  # over-the-shoulder target [m]
MAX_HEIGHT_PX = next(  # the tallest image CameraConfig allows [px]
    f for f in fields(CameraConfig) if f.name == "height").metadata["max"]
VIEW_DRAWS = 100  # random views tried before falling back to the configured one
# RGB factors of the light of a black body at temperature BLACKBODY_K [K] as a camera
# white-balanced for 6500 K records it (sRGB; from Planck's law and the CIE 1931 observer),
# brightest channel 1.
BLACKBODY_K = (2700.0, 3500.0, 4500.0, 5500.0, 6500.0)
BLACKBODY_RGB = ((1.0, 0.694, 0.352), (1.0, 0.799, 0.545), (1.0, 0.890, 0.734),
                 (1.0, 0.954, 0.883), (1.0, 1.0, 1.0))


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
            flags=pb.ER_NO_SEGMENTATION_MASK, lightDirection=c.light_direction,
            lightColor=c.light_color, lightAmbientCoeff=c.light_ambient,
            lightDiffuseCoeff=c.light_diffuse, lightSpecularCoeff=c.light_specular,
            physicsClientId=self.cid)
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


def random_camera(seed: int, cfg: CameraConfig, r: RandomizeConfig) -> CameraConfig:
    """The camera of episode ``seed``'s randomised cell: ``cfg`` with a random view
    (random_view) and lighting (random_lighting), each from a stream of its own."""
    view = random_view(cell_rng(seed, "camera"), cfg, r)
    return random_lighting(cell_rng(seed, "light"), view, r)


def random_view(rng: np.random.Generator, cfg: CameraConfig, r: RandomizeConfig) -> CameraConfig:
    """``cfg`` with a random mount, field of view and image size (RandomizeConfig says how): the
    mount family first (over the shoulder with probability ``r.over_shoulder_p``), then the rest,
    redrawn until the workspace is in what a model trained with ``cfg``'s field of view reads of
    the images (sees_workspace); after VIEW_DRAWS draws ``cfg``."""
    over_shoulder = rng.random() < r.over_shoulder_p
    for _ in range(VIEW_DRAWS):
        view = _draw_view(rng, cfg, r, over_shoulder)
        if sees_workspace(view, r.object_size_m[1], cfg.fov_deg):
            return view
    return cfg


def _draw_view(rng: np.random.Generator, cfg: CameraConfig, r: RandomizeConfig,
               over_shoulder: bool) -> CameraConfig:
    """One unchecked draw of random_view in the given mount family."""
    if over_shoulder:
        x, y, z = r.over_shoulder_eye
        eye, target = np.array([x, rng.choice([-1.0, 1.0]) * y, z]), np.array(WORKSPACE_CENTRE)
    else:
        eye, target = np.asarray(cfg.eye, float), np.asarray(cfg.target, float)
    eye = eye + rng.uniform(-r.eye_jitter_m, r.eye_jitter_m, 3)
    d = target - eye
    turn = np.radians(rng.uniform(-r.view_jitter_deg, r.view_jitter_deg, 2))  # yaw, pitch
    yaw = np.arctan2(d[1], d[0]) + turn[0]
    pitch = np.arctan2(d[2], np.hypot(d[0], d[1])) + turn[1]
    target = eye + np.linalg.norm(d) * np.array([np.cos(pitch) * np.cos(yaw),
                                                 np.cos(pitch) * np.sin(yaw), np.sin(pitch)])
    fov = float(rng.uniform(*r.fov_deg))
    aspect = r.aspect_ratios()[int(rng.integers(len(r.aspects)))]
    max_width = min(r.width_px[1], int(MAX_HEIGHT_PX * aspect))
    width = int(rng.integers(min(r.width_px[0], max_width), max_width, endpoint=True))
    return replace(cfg, eye=[float(v) for v in eye], target=[float(v) for v in target],
                   fov_deg=fov, width=width, height=round(width / aspect))


def sees_workspace(cfg: CameraConfig, height_m: float, model_fov_deg: float) -> bool:
    """Whether every point of the object workspace (SPAWN_X x SPAWN_Y, from the table top up to
    ``height_m`` [m]) lies beyond the near plane and in what a square model input of vertical
    field of view ``model_fov_deg`` [deg] reads of the image: the centred square of the image,
    and of that no more than the model's field of view (the model's camera window resamples
    images to its focal length, cropping a wider lens)."""
    corners = np.array([(x, y, z) for x in SPAWN_X for y in SPAWN_Y for z in (0.0, height_m)])
    geometry = CameraGeometry.from_config(cfg)
    uv, depth = geometry.project(corners)
    k = geometry.intrinsics
    half = min((min(cfg.width, cfg.height) - 1) / 2, k.fy * np.tan(np.radians(model_fov_deg) / 2))
    return bool(np.all(depth > cfg.near) and np.all(np.abs(uv - [k.cx, k.cy]) <= half))


def random_lighting(rng: np.random.Generator, cfg: CameraConfig,
                    r: RandomizeConfig) -> CameraConfig:
    """``cfg`` with a random light: from any azimuth at an elevation in
    ``r.light_elevation_deg``, of colour temperature ``r.light_temperature_k`` (light_rgb),
    coefficients in ``r.light_ambient``, ``r.light_diffuse`` and ``r.light_specular``."""
    azimuth = rng.uniform(-np.pi, np.pi)
    elevation = np.radians(rng.uniform(*r.light_elevation_deg))
    direction = [np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth),
                 np.sin(elevation)]
    return replace(cfg, light_direction=[float(v) for v in direction],
                   light_color=light_rgb(rng.uniform(*r.light_temperature_k)),
                   light_ambient=float(rng.uniform(*r.light_ambient)),
                   light_diffuse=float(rng.uniform(*r.light_diffuse)),
                   light_specular=float(rng.uniform(*r.light_specular)))


def light_rgb(kelvin: float) -> list[float]:
    """RGB factors of light of colour temperature ``kelvin`` [K] (BLACKBODY_RGB, interpolated)."""
    return [float(np.interp(kelvin, BLACKBODY_K, channel)) for channel in zip(*BLACKBODY_RGB)]
