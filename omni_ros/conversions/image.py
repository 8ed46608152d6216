"""``sensor_msgs/Image`` <-> numpy.

Decoding returns a view on ``msg.data`` (no copy), honouring ``step`` padding; copy the result if
you mutate the message afterwards. Depth images: ``32FC1`` holds metres (NaN = no return),
``16UC1`` holds millimetres (0 = no return).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from sensor_msgs.msg import Image

from .buffers import to_byte_array
from .errors import ConversionError, require
from .time import make_header


class _Encoding(NamedTuple):
    dtype: np.dtype
    channels: int


ENCODINGS: dict[str, _Encoding] = {
    "rgb8": _Encoding(np.dtype(np.uint8), 3),
    "bgr8": _Encoding(np.dtype(np.uint8), 3),
    "rgba8": _Encoding(np.dtype(np.uint8), 4),
    "bgra8": _Encoding(np.dtype(np.uint8), 4),
    "mono8": _Encoding(np.dtype(np.uint8), 1),
    "8UC1": _Encoding(np.dtype(np.uint8), 1),
    "8UC3": _Encoding(np.dtype(np.uint8), 3),
    "mono16": _Encoding(np.dtype("<u2"), 1),
    "16UC1": _Encoding(np.dtype("<u2"), 1),
    "32FC1": _Encoding(np.dtype("<f4"), 1),
}
DEPTH_ENCODINGS = ("32FC1", "16UC1")
MM_PER_M = 1000.0


def _encoding(name: str) -> _Encoding:
    try:
        return ENCODINGS[name]
    except KeyError:
        raise ConversionError(
            "encoding", f"unknown encoding {name!r}; supported: {', '.join(ENCODINGS)}") from None


def image_to_numpy(msg: Image) -> np.ndarray:
    """Pixels of ``msg`` as an (H, W) array for one channel, else (H, W, C); dtype per encoding."""
    enc = _encoding(msg.encoding)
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    require(h > 0 and w > 0, "height/width", f"must both be > 0, got {h}x{w}")
    row_bytes = w * enc.channels * enc.dtype.itemsize
    require(step >= row_bytes, "step",
            f"{step} is less than width*bytes_per_pixel = {row_bytes} for {msg.encoding}")
    n = len(msg.data)
    require(n == h * step, "data",
            f"has {n} bytes, expected height*step = {h}*{step} = {h * step}")
    require(not (msg.is_bigendian and enc.dtype.itemsize > 1), "is_bigendian",
            "big-endian multi-byte pixels are not supported; publish little-endian")
    rows = np.frombuffer(msg.data, dtype=np.uint8).reshape(h, step)[:, :row_bytes]
    pixels = rows.view(enc.dtype)
    return pixels.reshape(h, w) if enc.channels == 1 else pixels.reshape(h, w, enc.channels)


def numpy_to_image(pixels: np.ndarray, encoding: str, frame_id: str = "", stamp_ns: int = 0,
                   step: int | None = None) -> Image:
    """An ``Image`` holding ``pixels`` ((H, W) or (H, W, C)) with the given encoding.

    ``step`` (bytes per row) defaults to the packed row size; a larger value pads each row.
    """
    enc = _encoding(encoding)
    pixels = np.asarray(pixels)
    shape = pixels.shape
    channels = 1 if pixels.ndim == 2 else (shape[2] if pixels.ndim == 3 else -1)
    require(channels == enc.channels, "pixels",
            f"shape {shape} does not fit {encoding} ({enc.channels} channel(s))")
    require(shape[0] > 0 and shape[1] > 0, "pixels", f"shape {shape} is empty")
    require(pixels.dtype.kind == enc.dtype.kind and pixels.dtype.itemsize == enc.dtype.itemsize,
            "pixels", f"dtype {pixels.dtype} does not fit {encoding} ({enc.dtype})")
    h, w = shape[0], shape[1]
    row_bytes = w * enc.channels * enc.dtype.itemsize
    step = row_bytes if step is None else int(step)
    require(step >= row_bytes, "step", f"{step} is less than the packed row size {row_bytes}")
    packed = np.ascontiguousarray(pixels, dtype=enc.dtype).reshape(h, row_bytes // enc.dtype.itemsize)
    if step != row_bytes:
        padded = np.zeros((h, step), dtype=np.uint8)
        padded[:, :row_bytes] = packed.view(np.uint8)
        packed = padded
    msg = Image(header=make_header(frame_id, stamp_ns), height=h, width=w, encoding=encoding,
                is_bigendian=0, step=step)
    msg.data = to_byte_array(packed)
    return msg


def depth_to_metres(msg: Image) -> np.ndarray:
    """Depth image as float32 (H, W) metres; invalid pixels (16UC1 zero, 32FC1 NaN) are NaN."""
    require(msg.encoding in DEPTH_ENCODINGS, "encoding",
            f"{msg.encoding!r} is not a depth encoding; expected one of {DEPTH_ENCODINGS}")
    raw = image_to_numpy(msg)
    if msg.encoding == "32FC1":
        return raw.astype(np.float32)
    metres = raw.astype(np.float32) / np.float32(MM_PER_M)
    metres[raw == 0] = np.nan
    return metres


def metres_to_depth_image(depth_m: np.ndarray, encoding: str = "32FC1", frame_id: str = "",
                          stamp_ns: int = 0) -> Image:
    """A depth ``Image`` from float (H, W) metres.

    For ``16UC1`` values are rounded to millimetres; NaN, inf, <= 0 and > 65.535 m become 0 (no
    return). ``32FC1`` keeps the values as they are.
    """
    require(encoding in DEPTH_ENCODINGS, "encoding",
            f"{encoding!r} is not a depth encoding; expected one of {DEPTH_ENCODINGS}")
    depth_m = np.asarray(depth_m, dtype=np.float32)
    require(depth_m.ndim == 2, "depth", f"must be (H, W), got shape {depth_m.shape}")
    if encoding == "32FC1":
        return numpy_to_image(depth_m, encoding, frame_id, stamp_ns)
    mm = np.rint(depth_m.astype(np.float64) * MM_PER_M)
    valid = np.isfinite(mm) & (mm > 0) & (mm <= np.iinfo(np.uint16).max)
    return numpy_to_image(np.where(valid, mm, 0).astype(np.uint16), encoding, frame_id, stamp_ns)
