"""Camera (RGB-D) modality: a small U-Net over colour + depth.

Input: colour (B, H, W, 3) uint8 and depth (B, H, W) float32 metres (NaN = no return) in the
optical frame ``camera_color_optical_frame``, H x W the model's (``width``, ``height``). The
window takes images of any size and lens: with the camera's CameraInfo each is resampled to the
model's size at the focal length of the model's training camera (``fov_deg`` at ``height``),
cropping a wider lens and padding a narrower one (black, no depth), so that objects keep the
size in pixels the model learned; without CameraInfo it is cropped (centred) to the model's
aspect ratio and resized. A model with a ``workspace_crop_m`` zooms instead on that box of
the base frame once the camera's pose is known too (:func:`workspace_crop`): far objects
get more pixels, and ``camera_K`` carries the focal length each camera ends up with. Colour
by area averaging, depth by the nearest pixel (no depth is invented at object edges); the
intrinsics are scaled the same way.
With the camera's mounting pose (set by whoever owns the window: the perception node's
``camera.pose``, the sim's camera for datasets) each input carries its geometry:
``camera_K`` (3x3, of the model-size image) and ``camera_pose`` ([x, y, z, roll, pitch, yaw]
of the camera body frame in the base frame, m and rad; NaN while unknown), from which
:func:`camera_geometry` back-projects depth into the base frame. Preprocessing stacks r, g, b in [0, 1], depth
centred on ``depth_centre_m`` and scaled by ``depth_scale_m`` (0 where invalid), a validity
channel, and the local surface relief: depth minus its valid-pixel mean over a 5x5 window,
scaled by ``relief_scale_m`` (a flat face reads 0, a curved one does not; at 96 px an object
is only ~5 px wide, so this is what separates a small cube from a cylinder). The encoder returns a global feature and per-pixel features at half resolution, from
which the object head predicts classes and centre votes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ...camera import CameraIntrinsics, CameraViewConfig, check_pose
from ...config import ConfigError, param
from ...errors import require
from ...geometry import CameraGeometry, valid_depth
from .. import channels as ch
from . import register
from .windows import Stream, Window


@dataclass
class CameraModalityConfig(CameraViewConfig):
    """The camera's view (it must match the camera of the data) + preprocessing and widths."""

    depth_centre_m: float = param(0.9, "depth normalisation centre [m]", min=0.0, max=10.0)
    depth_scale_m: float = param(0.4, "depth normalisation scale [m]", min=0.01, max=10.0)
    relief_scale_m: float = param(0.01, "surface relief normalisation [m]", min=0.001, max=1.0)
    channels: list[int] = param([16, 32, 64], "U-Net encoder widths", min=4, max=512)
    pixel_dim: int = param(32, "per-pixel feature width", min=4, max=256)
    feature_dim: int = param(128, "global feature width", min=8, max=1024)
    head_width: int = param(64, "object head trunk width (3x3 conv over the pixel features)",
                            min=4, max=512)
    workspace_crop_m: list[float] = param(
        [], "box [x_min, x_max, y_min, y_max, z_min, z_max] in the base frame [m] that the input "
        "zooms on once the camera's pose and CameraInfo are known (workspace_crop); empty: every "
        "image at the training camera's focal length")
    crop_margin: float = param(0.1, "workspace crop: share of the box's projected size added "
                               "on each side", min=0.0, max=1.0)
    max_zoom: float = param(3.0, "workspace crop: largest focal length, as a multiple of the "
                            "training camera's", min=1.0, max=10.0)

    def check(self) -> None:
        box = self.workspace_crop_m
        if box and (len(box) != 6 or not all(a < b for a, b in zip(box[::2], box[1::2]))):
            raise ConfigError(f"parameter 'model.camera.workspace_crop_m' = {box}: must be empty "
                              "or [x_min, x_max, y_min, y_max, z_min, z_max] with each min < max [m]")


IN_CHANNELS = 6  # r, g, b, depth, valid, relief


def preprocess(batch: dict, cfg: CameraModalityConfig) -> dict:
    rgb = torch.as_tensor(np.asarray(batch["color"]), dtype=torch.float32).permute(0, 3, 1, 2) / 255.0
    depth = np.asarray(batch["depth"], np.float32)
    valid = torch.as_tensor(valid_depth(depth))
    depth = torch.as_tensor(depth)
    d = torch.where(valid, (depth - cfg.depth_centre_m) / cfg.depth_scale_m, torch.zeros_like(depth))
    v = valid[:, None].float()
    dz = torch.where(valid, depth, torch.zeros_like(depth))[:, None]
    mean = F.avg_pool2d(dz, 5, 1, 2) / F.avg_pool2d(v, 5, 1, 2).clamp(min=1e-6)
    relief = ((dz - mean) / cfg.relief_scale_m).clamp(-3, 3) * v
    return {"image": torch.cat([rgb, d[:, None], v, relief], dim=1)}


def _block(a: int, b: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(a, b, 3, stride, 1), nn.BatchNorm2d(b), nn.GELU())


STREAMS = (
    Stream("depth", "/camera/depth/image_raw", "sensor_msgs/msg/Image", "camera_color_optical_frame",
           "depth"),
    Stream("color", "/camera/color/image_raw", "sensor_msgs/msg/Image", "camera_color_optical_frame",
           "image:rgb8", info=("camera_info", "/camera/camera_info")),
)


def crop(a: np.ndarray, box, fill) -> np.ndarray:
    """The ``box`` (x0, y0, w, h) [px] of image ``a``; parts beyond the image read ``fill``."""
    x0, y0, w, h = box
    H, W = a.shape[:2]
    pad = [(max(0, -y0), max(0, y0 + h - H)), (max(0, -x0), max(0, x0 + w - W))]
    if any(p for pair in pad for p in pair):
        a = np.pad(a, pad + [(0, 0)] * (a.ndim - 2), constant_values=fill)
        x0, y0 = x0 + pad[1][0], y0 + pad[0][0]
    return a[y0:y0 + h, x0:x0 + w]


def resize_color(a: np.ndarray, box, hw) -> np.ndarray:
    """The ``box`` of an (H, W, 3) uint8 image (black beyond it) resized to ``hw`` by area
    averaging (bilinear when enlarging)."""
    t = torch.as_tensor(np.ascontiguousarray(crop(a, box, 0)), dtype=torch.float32)
    t = t.permute(2, 0, 1)[None]
    mode = "area" if box[2] >= hw[1] and box[3] >= hw[0] else "bilinear"
    out = F.interpolate(t, size=hw, mode=mode, **({} if mode == "area" else {"align_corners": False}))
    return out[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


def resize_depth(a: np.ndarray, box, hw) -> np.ndarray:
    """The ``box`` of an (H, W) depth image [m] (no return beyond it) sampled at the target
    pixels' centres (no depth is invented between pixels)."""
    a = crop(a, box, np.nan)
    w, h = box[2], box[3]
    cols = np.minimum(((np.arange(hw[1]) + 0.5) * w / hw[1]).astype(int), w - 1)
    rows = np.minimum(((np.arange(hw[0]) + 0.5) * h / hw[0]).astype(int), h - 1)
    return np.ascontiguousarray(a[np.ix_(rows, cols)], dtype=np.float32)


def workspace_crop(source: CameraIntrinsics, pose, box_m, hw, margin: float, max_focal: float
                   ) -> tuple[int, int, int, int] | None:
    """The box (x0, y0, w, h) [px] of ``source``'s images that, resampled to ``hw`` (height,
    width), holds the projection of the base-frame box ``box_m`` (x/y/z min, max [m]) plus
    ``margin`` of its size on each side, centred on it, at a focal length of at most
    ``max_focal`` [px] (no more zoom than that: a far or tiny box is shown at that focal
    length). The box may reach beyond the image (the rest reads as padding). None when a
    corner of ``box_m`` is not in front of the camera (the caller falls back to no crop)."""
    corners = np.array([(x, y, z) for x in box_m[0:2] for y in box_m[2:4] for z in box_m[4:6]])
    uv, depth = CameraGeometry.from_pose(source, pose).project(corners)
    if not np.all(depth > 0.01):
        return None
    lo, hi = uv.min(axis=0), uv.max(axis=0)
    size = (hi - lo) * (1 + 2 * margin)
    focal = min(hw[1] * source.fx / max(size[0], 1.0), hw[0] * source.fy / max(size[1], 1.0),
                max_focal)
    w, h = max(1, round(hw[1] * source.fx / focal)), max(1, round(hw[0] * source.fy / focal))
    cu, cv = (lo + hi) / 2 + 0.5  # pixel centres at integer coordinates -> edges
    return round(cu - w / 2), round(cv - h / 2), w, h


def window_view(cfg: CameraModalityConfig) -> dict:
    """What decides the images a camera window makes of a camera's (a dataset records it, and
    a model trains only on images made as its own window makes them): size, the focal length
    (``fov_deg``) and the workspace crop."""
    view = {"width": cfg.width, "height": cfg.height, "fov_deg": cfg.fov_deg,
            "workspace_crop_m": [float(v) for v in cfg.workspace_crop_m]}
    if cfg.workspace_crop_m:
        view.update(crop_margin=cfg.crop_margin, max_zoom=cfg.max_zoom)
    return view


def camera_geometry(arrays: dict, cfg: CameraViewConfig) -> CameraGeometry:
    """The geometry of one (unbatched) camera input: its ``camera_K`` and ``camera_pose``;
    each that is missing or unknown (no CameraInfo yet, datasets recorded before they were) is
    taken from the view ``cfg`` (the camera the model was trained with)."""
    depth = np.asarray(arrays["depth"])
    K, pose = arrays.get("camera_K"), arrays.get("camera_pose")
    view = CameraGeometry.from_config(cfg)
    intr = (CameraIntrinsics.from_K(K, depth.shape[1], depth.shape[0])
            if K is not None and np.all(np.isfinite(K)) else view.intrinsics)
    if pose is None or not np.all(np.isfinite(pose)):
        return CameraGeometry(intr, view.position, view.rotation)
    return CameraGeometry.from_pose(intr, pose)


class CameraWindow(Window):
    """Colour + depth of one stamp (a frame is encoded once both halves have arrived); missing
    depth reads NaN, missing colour black. Images of any size are cropped and resized to the
    model's; the CameraInfo stream ("camera_info") gives the intrinsics, ``pose`` the mount."""

    trigger, primary = ("color", "depth"), "color"
    info = ("camera_info",)

    def __init__(self, cfg: CameraModalityConfig):
        super().__init__()
        self.hw = (cfg.height, cfg.width)
        self.focal = CameraIntrinsics.from_fov(cfg.width, cfg.height, cfg.fov_deg).fy  # [px]
        self.source: CameraIntrinsics | None = None   # the latest CameraInfo (the camera's size)
        self.box: tuple[int, int, int, int] | None = None  # what of its images the model reads
        self.intrinsics: CameraIntrinsics | None = None  # ... scaled to the model's size
        self.pose = np.full(6, np.nan)
        self.crop_m = list(cfg.workspace_crop_m)
        self.margin, self.max_focal = cfg.crop_margin, cfg.max_zoom * self.focal

    def set_pose(self, pose) -> None:
        """The camera's mounting pose [x, y, z, roll, pitch, yaw] in the base frame (m, rad)."""
        self.pose = check_pose(pose, "camera.pose")
        if self.source is not None:
            self._fit()

    def _fit(self) -> None:
        """What of the camera's images the model reads: the workspace crop where the model has
        one and the pose is known, else the box at the training camera's focal length."""
        src, hw = self.source, self.hw
        box = (workspace_crop(src, self.pose, self.crop_m, hw, self.margin, self.max_focal)
               if self.crop_m and np.all(np.isfinite(self.pose)) else None)
        if box is None:
            self.box, self.intrinsics = src.fit(hw[1], hw[0], self.focal)
        else:
            self.box, self.intrinsics = box, src.resampled(box, hw[1], hw[0])

    def convert(self, key, payload):
        if key == "camera_info":
            require(isinstance(payload, CameraIntrinsics) and payload.fx > 0 and payload.fy > 0,
                    key, "intrinsics with fx, fy > 0 (a calibrated camera)")
            if payload != self.source:
                self.source = payload
                self._fit()
            return payload
        a = np.asarray(payload)
        want = 3 if key == "color" else 2
        require(a.ndim == want and (key == "depth" or a.shape[2] == 3), key,
                f"array of shape {a.shape}; expected (height, width{', 3' if key == 'color' else ''})")
        src = self.source
        if src is not None:
            require((src.width, src.height) == (a.shape[1], a.shape[0]), key,
                    f"image of {a.shape[1]}x{a.shape[0]} (width x height) but the CameraInfo says "
                    f"{src.width}x{src.height}")
        if src is None:  # the lens is unknown: the largest box of the model's aspect ratio
            if a.shape[:2] == self.hw:
                return a
            box = CameraIntrinsics(a.shape[1], a.shape[0], 1, 1, 0, 0).fit(self.hw[1], self.hw[0])[0]
        elif self.box == (0, 0, self.hw[1], self.hw[0]):
            return a
        else:
            box = self.box
        return resize_color(a, box, self.hw) if key == "color" else resize_depth(a, box, self.hw)

    def empty(self, key):
        return np.zeros((*self.hw, 3), np.uint8) if key == "color" else np.full(self.hw, np.nan, np.float32)

    def ready(self, key, stamp_ns):
        if key == "camera_info":
            return False
        other = self.latest.get("depth" if key == "color" else "color")
        return other is not None and other[0] == stamp_ns

    def read(self, now_ns=None, stale_s=None):
        out = super().read(now_ns, stale_s)
        k = self.intrinsics
        out["camera_K"] = (k.K if k is not None else np.full((3, 3), np.nan)).astype(np.float32)
        out["camera_pose"] = self.pose.astype(np.float32)
        return out


@register("camera", CameraModalityConfig, preprocess, streams=STREAMS, window=CameraWindow,
          max_age_s=0.3, presence="depth")
class CameraEncoder(nn.Module):
    cacheable = False  # cheap to preprocess per batch, large to keep as floats

    def __init__(self, cfg: CameraModalityConfig):
        super().__init__()
        c1, c2, c3 = cfg.channels
        self.enc1 = nn.Sequential(_block(IN_CHANNELS, c1, 1), _block(c1, c1, 2))  # H/2
        self.enc2 = nn.Sequential(_block(c1, c2, 2), _block(c2, c2, 1))  # H/4
        self.enc3 = nn.Sequential(_block(c2, c3, 2), _block(c3, c3, 1))  # H/8
        self.up3 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.dec2 = _block(c3 + c2, c2, 1)
        self.dec1 = _block(c2 + c1, cfg.pixel_dim, 1)
        self.glob = nn.Sequential(nn.Linear(2 * c3, cfg.feature_dim), nn.GELU())
        self.output_shape = {"feature": (cfg.feature_dim,),
                             "pixels": (cfg.pixel_dim, cfg.height // 2, cfg.width // 2)}

    def forward(self, inputs: dict) -> dict:
        x = inputs["image"]
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        g = torch.cat([e3.mean(dim=(2, 3)), e3.amax(dim=(2, 3))], dim=1)
        d2 = self.dec2(torch.cat([self.up3(e3), e2], dim=1))
        d1 = self.dec1(torch.cat([self.up3(d2), e1], dim=1))
        return {"feature": self.glob(g), "pixels": d1}

    def narrowed(self, cfg: CameraModalityConfig, keep: float
                 ) -> tuple["CameraEncoder", CameraModalityConfig]:
        """This U-Net with a fraction ``keep`` of each encoder and decoder width (the strongest
        channels, :mod:`..channels`), the pixel and global features as wide as before; and its
        config. To be fine-tuned: it is not the same function."""
        new_cfg = copy.deepcopy(cfg)
        new_cfg.channels = [ch.kept(c, keep) for c in cfg.channels]
        c1, c2, c3 = cfg.channels
        n1, n2, n3 = new_cfg.channels
        new = CameraEncoder(new_cfg)
        new.enc1[0], a = ch.block(self.enc1[0], n1, None)
        new.enc1[1], e1 = ch.block(self.enc1[1], n1, a)
        new.enc2[0], a = ch.block(self.enc2[0], n2, e1)
        new.enc2[1], e2 = ch.block(self.enc2[1], n2, a)
        new.enc3[0], a = ch.block(self.enc3[0], n3, e2)
        new.enc3[1], e3 = ch.block(self.enc3[1], n3, a)
        new.dec2, d2 = ch.block(self.dec2, n2, ch.concat(e3, e2, c3))
        new.dec1, _ = ch.block(self.dec1, None, ch.concat(d2, e1, c2))
        new.glob[0] = ch.linear(self.glob[0], ch.concat(e3, e3, c3))  # [mean, max] of e3
        return new, new_cfg
