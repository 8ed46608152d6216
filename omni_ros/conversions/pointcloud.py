"""``sensor_msgs/PointCloud2`` <-> numpy, for any field layout.

Decoding builds one numpy structured dtype from the message's fields (offsets, point_step) and
reads the buffer through it: no Python loop over points. Only little-endian data is accepted.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.lib import recfunctions
from sensor_msgs.msg import PointCloud2, PointField

from .buffers import to_byte_array
from .errors import ConversionError, require
from .time import make_header

# PointField datatype constant -> little-endian numpy dtype.
POINTFIELD_DTYPES: dict[int, np.dtype] = {
    PointField.INT8: np.dtype("i1"), PointField.UINT8: np.dtype("u1"),
    PointField.INT16: np.dtype("<i2"), PointField.UINT16: np.dtype("<u2"),
    PointField.INT32: np.dtype("<i4"), PointField.UINT32: np.dtype("<u4"),
    PointField.FLOAT32: np.dtype("<f4"), PointField.FLOAT64: np.dtype("<f8"),
}
_DATATYPE_OF = {dt.str.lstrip("<|"): code for code, dt in POINTFIELD_DTYPES.items()}

XYZ = ("x", "y", "z")
XYZI = ("x", "y", "z", "intensity")


def _point_dtype(msg: PointCloud2) -> np.dtype:
    """Structured dtype of one point, after checking every field against point_step."""
    step = int(msg.point_step)
    require(step > 0, "point_step", "must be > 0")
    names, formats, offsets, spans = [], [], [], []
    for i, f in enumerate(msg.fields):
        where = f"fields[{i}] ({f.name!r})"
        require(f.datatype in POINTFIELD_DTYPES, where,
                f"unknown datatype {f.datatype}; expected 1..8 (INT8..FLOAT64)")
        require(f.name not in names, where, "duplicate field name")
        dt = POINTFIELD_DTYPES[f.datatype]
        count = max(int(f.count), 1)
        size = dt.itemsize * count
        require(int(f.offset) + size <= step, where,
                f"offset {f.offset} + {size} bytes runs past point_step {step}")
        names.append(f.name)
        formats.append(dt if count == 1 else (dt, (count,)))
        offsets.append(int(f.offset))
        spans.append((int(f.offset), int(f.offset) + size, f.name))
    spans.sort()
    for (_, end_a, name_a), (start_b, _, name_b) in zip(spans, spans[1:]):
        require(start_b >= end_a, "fields", f"{name_a!r} and {name_b!r} overlap")
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": step})


def pointcloud2_to_structured(msg: PointCloud2) -> np.ndarray:
    """All points as an (H, W) structured array (one named column per field)."""
    require(not msg.is_bigendian, "is_bigendian", "big-endian clouds are not supported")
    dtype = _point_dtype(msg)
    h, w, row_step = int(msg.height), int(msg.width), int(msg.row_step)
    packed_row = w * dtype.itemsize
    require(row_step >= packed_row, "row_step",
            f"{row_step} is less than width*point_step = {w}*{dtype.itemsize} = {packed_row}")
    n = len(msg.data)
    require(n == h * row_step, "data",
            f"has {n} bytes, expected height*row_step = {h}*{row_step} = {h * row_step}")
    raw = np.frombuffer(msg.data, dtype=np.uint8)
    if row_step != packed_row:
        raw = np.ascontiguousarray(raw.reshape(h, row_step)[:, :packed_row])
    return raw.view(dtype).reshape(h, w)


def pointcloud2_to_array(msg: PointCloud2, fields: Sequence[str] = XYZ, skip_nans: bool = True,
                         organised: bool = False) -> np.ndarray:
    """Selected fields as float32: (N, len(fields)), or (H, W, len(fields)) if ``organised``.

    With ``skip_nans`` (ignored when ``organised``) points with any non-finite value are dropped,
    whatever ``is_dense`` claims.
    """
    points = pointcloud2_to_structured(msg)
    missing = [f for f in fields if f not in points.dtype.names]
    if missing:
        raise ConversionError("fields", f"missing {missing}; the cloud has {list(points.dtype.names)}")
    for f in fields:
        require(points.dtype[f].shape == (), "fields", f"field {f!r} has count > 1")
    out = recfunctions.structured_to_unstructured(points[list(fields)], dtype=np.float32)
    if organised:
        return out
    out = out.reshape(-1, len(fields))
    if skip_nans:
        finite = np.isfinite(out)
        if not finite.all():
            keep = finite[:, 0].copy()
            for j in range(1, finite.shape[1]):  # column-wise: ~10x faster than all(axis=1)
                keep &= finite[:, j]
            out = np.compress(keep, out, axis=0)
    return out


def structured_to_pointcloud2(points: np.ndarray, frame_id: str = "",
                              stamp_ns: int = 0) -> PointCloud2:
    """A ``PointCloud2`` from an (N,) or (H, W) structured array; its dtype sets the layout."""
    points = np.asarray(points)
    require(points.dtype.names is not None, "points", "must be a structured array")
    if points.ndim == 1:
        points = points.reshape(1, -1)
    require(points.ndim == 2, "points", f"must be (N,) or (H, W), got shape {points.shape}")
    fields = []
    for name in points.dtype.names:
        dt, offset = points.dtype.fields[name][:2]
        base, shape = (dt.base, dt.shape) if dt.shape else (dt, ())
        code = _DATATYPE_OF.get(base.newbyteorder("<").str.lstrip("<|"))
        require(code is not None, f"points[{name!r}]", f"dtype {dt} has no PointField datatype")
        fields.append(PointField(name=name, offset=offset, datatype=code,
                                 count=int(np.prod(shape)) if shape else 1))
    h, w = points.shape
    little = points.astype(points.dtype.newbyteorder("<"), copy=False)
    finite = all(np.isfinite(points[f]).all() for f in XYZ if f in points.dtype.names
                 and points.dtype[f].kind == "f")
    msg = PointCloud2(header=make_header(frame_id, stamp_ns), height=h, width=w, fields=fields,
                      is_bigendian=False, point_step=points.dtype.itemsize,
                      row_step=w * points.dtype.itemsize, is_dense=bool(finite))
    msg.data = to_byte_array(little)
    return msg


def array_to_pointcloud2(points: np.ndarray, fields: Sequence[str] | None = None,
                         frame_id: str = "", stamp_ns: int = 0) -> PointCloud2:
    """A float32 ``PointCloud2`` from (N, k) or organised (H, W, k) points.

    ``fields`` names the k columns; default x, y, z (k=3) or x, y, z, intensity (k=4).
    """
    points = np.asarray(points)
    require(points.ndim in (2, 3), "points", f"must be (N, k) or (H, W, k), got {points.shape}")
    k = points.shape[-1]
    if fields is None:
        require(k in (3, 4), "points", f"has {k} columns; pass field names for k not in (3, 4)")
        fields = XYZ if k == 3 else XYZI
    require(len(fields) == k, "fields", f"{len(fields)} names for {k} columns")
    dtype = np.dtype([(name, "<f4") for name in fields])
    flat = np.ascontiguousarray(points, dtype="<f4")
    structured = flat.reshape(*points.shape[:-1], k).view(dtype)[..., 0]
    return structured_to_pointcloud2(structured, frame_id, stamp_ns)
