"""Bounds every sensor message is checked against before any work is done on it.

A message outside them is refused with a :class:`ConversionError` naming the field and the
bound (nodes count it on /diagnostics): the size checks read only the header fields (height,
width, point count), so a huge message costs nothing beyond its delivery. Values are checked as
the model will read them, float32: 1e39 is finite in a float64 field but inf in float32.
Audio bounds (rate, channels, chunk length) are part of :func:`audio_chunk_to_numpy`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..core.config import param
from .buffers import from_typed_array
from .errors import require


@dataclass
class InputLimits:
    """Largest inputs and values accepted (see ``omni_ros.conversions.limits``)."""

    max_pixels: int = param(2_073_600, "largest image or CameraInfo accepted, width*height "
                            "[pixels] (default 1920x1080)", min=1, max=100_000_000)
    max_points: int = param(300_000, "largest point cloud accepted, width*height [points]",
                            min=1, max=50_000_000)
    max_force_n: float = param(2000.0, "largest |force| component of a wrench [N]",
                               min=1.0, max=1e6)
    max_torque_nm: float = param(300.0, "largest |torque| component of a wrench [N*m]",
                                 min=0.1, max=1e6)
    max_taxel_n: float = param(200.0, "largest taxel force [N]; below -1 % of it is refused "
                               "too (a normal force does not pull)", min=0.1, max=1e6)
    max_joint: float = param(50.0, "largest |joint position| [rad or m] and |velocity| "
                             "[rad/s or m/s]", min=1.0, max=1e6)
    max_coordinate_m: float = param(100.0, "largest |x|, |y|, |z| of a clicked point [m]",
                                    min=1.0, max=1e6)


def _bounded(values, bound: float, field: str, unit: str, low: float | None = None) -> None:
    """``values`` finite as float32 and within [low (default -bound), bound]."""
    v = np.asarray(values, np.float64)
    low = -bound if low is None else low
    with np.errstate(over="ignore"):
        f32 = v.astype(np.float32)
    require(bool(np.all(np.isfinite(f32))), field, "contains NaN or inf (as float32)")
    require(bool(np.all((v >= low) & (v <= bound))), field,
            f"value {float(v.flat[np.argmax((v < low) | (v > bound))]):.6g} {unit} is outside "
            f"[{low:g}, {bound:g}] {unit}")


def check_size(msg, limit: int, what: str, field: str = "height*width") -> None:
    n = int(msg.height) * int(msg.width)
    require(n <= limit, field, f"{msg.height}x{msg.width} = {n} {what}; at most {limit} "
            f"(parameter limits.max_{what})")


def check_wrench(msg, lim: InputLimits) -> None:
    f, t = msg.wrench.force, msg.wrench.torque
    _bounded([f.x, f.y, f.z], lim.max_force_n, "wrench.force", "N")
    _bounded([t.x, t.y, t.z], lim.max_torque_nm, "wrench.torque", "N*m")


def check_joints(msg, lim: InputLimits) -> None:
    _bounded(msg.position, lim.max_joint, "position", "rad or m")
    _bounded(msg.velocity, lim.max_joint, "velocity", "rad/s or m/s")


def check_tactile(msg, lim: InputLimits) -> None:
    require(len(msg.pads) > 0, "pads", "is empty; expected one entry per fingertip pad")
    for i, pad in enumerate(msg.pads):
        _bounded(from_typed_array(pad.forces, np.float64), lim.max_taxel_n, f"pads[{i}].forces",
                 "N", low=-0.01 * lim.max_taxel_n)


def check_point(point, lim: InputLimits) -> None:
    _bounded(point, lim.max_coordinate_m, "point", "m")


# codec kind (see omni_ros.streams.CODECS) or "camera_info" -> its checks
CHECKS: dict[str, Callable[[Any, InputLimits], None]] = {
    "image": lambda m, lim: check_size(m, lim.max_pixels, "pixels"),
    "depth": lambda m, lim: check_size(m, lim.max_pixels, "pixels"),
    "camera_info": lambda m, lim: check_size(m, lim.max_pixels, "pixels"),
    "pointcloud": lambda m, lim: check_size(m, lim.max_points, "points"),
    "wrench": check_wrench,
    "joints": check_joints,
    "tactile": check_tactile,
}


def checker(kind: str, lim: InputLimits, frame_id: str = "") -> Callable[[Any], None]:
    """The door check of one input: its kind's bounds, then (if ``frame_id`` is set) the
    header's frame id must be ``frame_id``."""
    bounds = CHECKS.get(kind.partition(":")[0])

    def check(msg) -> None:
        if frame_id:
            got = msg.header.frame_id
            require(got == frame_id, "header.frame_id",
                    f"{got!r}; this input is configured for {frame_id!r}")
        if bounds is not None:
            bounds(msg, lim)
    return check


MAX_LATENT_OBJECTS = 256  # objects one edge latent may carry (a cell holds at most tens)


def latent_checker(latent_dim: int) -> Callable[[Any], None]:
    """The door check of an edge encoder's LatentStamped before it is decoded: exactly
    ``latent_dim`` values (the fusion model's width) and at most MAX_LATENT_OBJECTS objects,
    each with an empty latent or one of ``latent_dim`` values."""
    def check(msg) -> None:
        require(len(msg.latent) == latent_dim, "latent",
                f"{len(msg.latent)} values; this model's latents have {latent_dim}")
        require(len(msg.objects) <= MAX_LATENT_OBJECTS, "objects",
                f"{len(msg.objects)} objects; at most {MAX_LATENT_OBJECTS}")
        for i, o in enumerate(msg.objects):
            require(len(o.latent) in (0, latent_dim), f"objects[{i}].latent",
                    f"{len(o.latent)} values; empty or {latent_dim}")
    return check
