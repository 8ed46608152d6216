"""Image and depth conversions: round trips, step padding, zero-copy views."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from omni_ros.conversions import (depth_to_metres, image_to_numpy, metres_to_depth_image,
                                  numpy_to_image)
from omni_ros.conversions.image import ENCODINGS


def random_pixels(rng, encoding, h, w):
    enc = ENCODINGS[encoding]
    shape = (h, w) if enc.channels == 1 else (h, w, enc.channels)
    if enc.dtype.kind == "f":
        return rng.standard_normal(shape).astype(enc.dtype)
    return rng.integers(0, np.iinfo(enc.dtype).max, shape, endpoint=True).astype(enc.dtype)


@given(encoding=st.sampled_from(sorted(ENCODINGS)), h=st.integers(1, 40), w=st.integers(1, 40),
       pad=st.integers(0, 13), seed=st.integers(0, 2**32 - 1))
def test_round_trip_every_encoding_with_step_padding(encoding, h, w, pad, seed):
    pixels = random_pixels(np.random.default_rng(seed), encoding, h, w)
    row = w * ENCODINGS[encoding].channels * ENCODINGS[encoding].dtype.itemsize
    msg = numpy_to_image(pixels, encoding, "cam", 123, step=row + pad)
    assert (msg.height, msg.width, msg.step, msg.encoding) == (h, w, row + pad, encoding)
    assert len(msg.data) == h * (row + pad)
    back = image_to_numpy(msg)
    assert back.dtype == pixels.dtype and back.shape == pixels.shape
    np.testing.assert_array_equal(back, pixels)


def test_decoding_is_a_view_on_the_message_buffer():
    msg = numpy_to_image(np.zeros((4, 5, 3), np.uint8), "rgb8")
    view = image_to_numpy(msg)
    msg.data[0] = 7
    assert view[0, 0, 0] == 7


def test_padding_bytes_are_ignored():
    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4)
    msg = numpy_to_image(pixels, "mono8", step=6)
    for r in range(3):  # fill the two padding bytes of every row with junk
        msg.data[r * 6 + 4] = 255
        msg.data[r * 6 + 5] = 255
    np.testing.assert_array_equal(image_to_numpy(msg), pixels)


def test_1mb_image_round_trip():
    pixels = random_pixels(np.random.default_rng(1), "rgb8", 546, 640)
    msg = numpy_to_image(pixels, "rgb8")
    assert len(msg.data) >= 1_000_000
    np.testing.assert_array_equal(image_to_numpy(msg), pixels)


@pytest.mark.parametrize("encoding", ["32FC1", "16UC1"])
def test_depth_round_trip(encoding):
    rng = np.random.default_rng(3)
    depth = rng.uniform(0.1, 10.0, (20, 30)).astype(np.float32)
    depth[2, 3] = np.nan
    back = depth_to_metres(metres_to_depth_image(depth, encoding))
    assert np.isnan(back[2, 3])
    valid = ~np.isnan(depth)
    tol = 0 if encoding == "32FC1" else 0.0005 + 1e-6  # 16UC1 stores whole millimetres
    np.testing.assert_allclose(back[valid], depth[valid], atol=tol, rtol=0)


def test_16uc1_is_millimetres_and_zero_means_no_return():
    msg = numpy_to_image(np.array([[0, 1500]], np.uint16), "16UC1")
    m = depth_to_metres(msg)
    assert np.isnan(m[0, 0]) and m[0, 1] == pytest.approx(1.5)


def test_16uc1_out_of_range_depths_become_no_return():
    msg = metres_to_depth_image(np.array([[-1.0, np.inf, 70.0, 1.0]], np.float32), "16UC1")
    np.testing.assert_array_equal(image_to_numpy(msg), [[0, 0, 0, 1000]])
