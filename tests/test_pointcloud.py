"""PointCloud2 conversions over arbitrary field layouts."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from omni_ros.conversions import (ConversionError, array_to_pointcloud2, pointcloud2_to_array,
                                  pointcloud2_to_structured, structured_to_pointcloud2)

EXTRA_TYPES = ["i1", "u1", "<i2", "<u2", "<i4", "<u4", "<f4", "<f8"]


@st.composite
def layouts(draw):
    """A random point layout: x, y, z (float32 or float64) plus extra fields, in random order,
    at random offsets with gaps, and a point_step possibly larger than needed."""
    xyz_type = draw(st.sampled_from(["<f4", "<f8"]))
    fields = [(n, xyz_type, 1) for n in ("x", "y", "z")]
    n_extra = draw(st.integers(0, 3))
    for i in range(n_extra):
        fields.append((f"extra{i}", draw(st.sampled_from(EXTRA_TYPES)), draw(st.integers(1, 3))))
    order = draw(st.permutations(range(len(fields))))
    names, formats, offsets, off = [], [], [], 0
    for i in order:
        name, t, count = fields[i]
        off += draw(st.integers(0, 5))  # gap before the field
        names.append(name)
        formats.append(np.dtype(t) if count == 1 else (np.dtype(t), (count,)))
        offsets.append(off)
        off += np.dtype(t).itemsize * count
    itemsize = off + draw(st.integers(0, 7))
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": itemsize})


def fill(dtype, shape, rng, nan_fraction=0.0):
    arr = np.zeros(shape, dtype)
    for name in dtype.names:
        sub = arr[name]
        if sub.dtype.kind == "f":
            sub[...] = rng.standard_normal(sub.shape) * 10
        else:
            info = np.iinfo(sub.dtype)
            sub[...] = rng.integers(info.min, info.max, sub.shape, endpoint=True)
    if nan_fraction:
        holes = rng.random(shape) < nan_fraction
        arr["x"][holes] = np.nan
    return arr


def with_row_padding(msg, pad):
    """Re-pack ``msg`` with ``pad`` junk bytes after every row."""
    rows = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.row_step)
    junk = np.full((msg.height, pad), 0xAB, np.uint8)
    msg.data = np.concatenate([rows, junk], axis=1).tobytes()
    msg.row_step += pad
    return msg


@given(dtype=layouts(), h=st.integers(1, 6), w=st.integers(0, 50), row_pad=st.integers(0, 9),
       nan_fraction=st.sampled_from([0.0, 0.2]), seed=st.integers(0, 2**32 - 1))
def test_any_layout_round_trips(dtype, h, w, row_pad, nan_fraction, seed):
    rng = np.random.default_rng(seed)
    points = fill(dtype, (h, w), rng, nan_fraction)
    msg = with_row_padding(structured_to_pointcloud2(points, "lidar", 5), row_pad)
    assert msg.point_step == dtype.itemsize

    structured = pointcloud2_to_structured(msg)
    for name in dtype.names:
        np.testing.assert_array_equal(structured[name], points[name])

    xyz = np.stack([points[n] for n in "xyz"], -1).astype(np.float32)
    organised = pointcloud2_to_array(msg, organised=True)
    assert organised.shape == (h, w, 3)
    np.testing.assert_array_equal(organised, xyz)

    flat = pointcloud2_to_array(msg)
    expected = xyz.reshape(-1, 3)
    expected = expected[np.isfinite(expected).all(axis=1)]
    np.testing.assert_array_equal(flat, expected)
    assert msg.is_dense == bool(np.isfinite(xyz).all())


@pytest.mark.parametrize("k", [3, 4])
def test_float_array_round_trip(k):
    pts = np.random.default_rng(0).standard_normal((100_000, k)).astype(np.float32)
    msg = array_to_pointcloud2(pts, frame_id="lidar_link", stamp_ns=7)
    assert [f.name for f in msg.fields] == ["x", "y", "z", "intensity"][:k]
    fields = ("x", "y", "z", "intensity")[:k]
    np.testing.assert_array_equal(pointcloud2_to_array(msg, fields), pts)


def test_organised_array_round_trip():
    pts = np.random.default_rng(1).standard_normal((16, 180, 3)).astype(np.float32)
    msg = array_to_pointcloud2(pts)
    assert (msg.height, msg.width) == (16, 180)
    np.testing.assert_array_equal(pointcloud2_to_array(msg, organised=True), pts)


def test_intensity_can_be_requested_from_a_cloud_that_has_it():
    pts = np.arange(12, dtype=np.float32).reshape(3, 4)
    msg = array_to_pointcloud2(pts)
    np.testing.assert_array_equal(pointcloud2_to_array(msg, ("intensity",))[:, 0], pts[:, 3])


def test_empty_cloud_is_valid():
    msg = array_to_pointcloud2(np.zeros((0, 3), np.float32))
    assert pointcloud2_to_array(msg).shape == (0, 3)


def test_xyz_fields_with_count_above_one_are_rejected():
    dtype = np.dtype([("x", "<f4", (2,)), ("y", "<f4"), ("z", "<f4")])
    msg = structured_to_pointcloud2(np.zeros(3, dtype))
    with pytest.raises(ConversionError, match="count > 1"):
        pointcloud2_to_array(msg)
