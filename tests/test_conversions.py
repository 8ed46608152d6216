"""Round trips of CameraInfo, WrenchStamped, AudioChunk, TactileArray, stamps and the output
messages (SceneUnderstanding, DetectedObject, SceneEvent, LatentStamped, TeleopCommand,
PrimitiveCommand)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from omni_ros_msgs.msg import (AudioChunk, PrimitiveCommand, PrimitiveStatus, SceneEvent,
                               TeleopCommand)

from omni_ros import conversions as cv
from omni_ros.core import types
from omni_ros.core.camera import CameraIntrinsics
from omni_ros.samples import OUTPUT_TOPICS, output_sample

finite = st.floats(-1e6, 1e6, allow_nan=False, width=64)


@given(ns=st.integers(0, 2**62))
def test_stamp_round_trip(ns):
    assert cv.stamp_to_ns(cv.ns_to_stamp(ns)) == ns


@given(w=st.integers(1, 4000), h=st.integers(1, 4000), fx=st.floats(1, 5000), fy=st.floats(1, 5000),
       cx=finite, cy=finite, d=st.lists(finite, max_size=8))
def test_camera_info_round_trip(w, h, fx, fy, cx, cy, d):
    intr = CameraIntrinsics(w, h, fx, fy, cx, cy, "plumb_bob", tuple(d))
    msg = cv.intrinsics_to_camera_info(intr, "cam", 42)
    assert cv.camera_info_to_intrinsics(msg) == intr
    assert msg.p[0] == fx and msg.p[3] == 0.0 and msg.r[0] == 1.0


def test_backproject_puts_principal_point_on_the_axis():
    intr = CameraIntrinsics(5, 3, 10.0, 10.0, 2.0, 1.0)
    pts = intr.backproject(np.full((3, 5), 2.0))
    np.testing.assert_allclose(pts[1, 2], [0.0, 0.0, 2.0])
    np.testing.assert_allclose(pts[1, 4], [0.4, 0.0, 2.0])  # (4 - 2) / 10 * 2 m


@given(w=arrays(np.float64, 6, elements=finite))
def test_wrench_round_trip(w):
    msg = cv.numpy_to_wrench(w, "ft", 9)
    assert msg.header.frame_id == "ft"
    np.testing.assert_array_equal(cv.wrench_to_numpy(msg), w)


@given(frames=st.integers(1, 800), channels=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_audio_int16_round_trip(frames, channels, seed):
    x = np.random.default_rng(seed).integers(-32768, 32767, (frames, channels), endpoint=True)
    msg = cv.numpy_to_audio_chunk(x.astype(np.int16), 16000)
    assert msg.encoding == AudioChunk.ENCODING_S16LE and msg.channels == channels
    assert len(msg.data) == frames * channels * 2
    np.testing.assert_array_equal(cv.audio_chunk_to_numpy(msg, as_float=False), x)
    np.testing.assert_array_equal(cv.audio_chunk_to_numpy(msg), x.astype(np.float32) / 32768)


@given(frames=st.integers(1, 800), channels=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_audio_float32_round_trip(frames, channels, seed):
    x = np.random.default_rng(seed).uniform(-1, 1, (frames, channels)).astype(np.float32)
    msg = cv.numpy_to_audio_chunk(x, 48000)
    assert msg.encoding == AudioChunk.ENCODING_F32LE
    np.testing.assert_array_equal(cv.audio_chunk_to_numpy(msg), x)


def test_audio_channels_are_interleaved():
    x = np.array([[1, -1], [2, -2], [3, -3]], np.int16)
    msg = cv.numpy_to_audio_chunk(x, 8000)
    assert np.frombuffer(msg.data, "<i2").tolist() == [1, -1, 2, -2, 3, -3]


def test_float_audio_encoded_as_s16_is_scaled_and_clipped():
    msg = cv.numpy_to_audio_chunk(np.array([0.5, 2.0, -2.0], np.float32), 16000, "S16LE")
    assert cv.audio_chunk_to_numpy(msg, as_float=False)[:, 0].tolist() == [16384, 32767, -32768]


@given(rows=st.integers(1, 16), cols=st.integers(1, 16), n_pads=st.integers(0, 3),
       seed=st.integers(0, 2**32 - 1))
def test_tactile_round_trip(rows, cols, n_pads, seed):
    rng = np.random.default_rng(seed)
    pads = {f"pad{i}": rng.uniform(0, 5, (rows, cols)).astype(np.float32) for i in range(n_pads)}
    back = cv.tactile_to_dict(cv.dict_to_tactile(pads, 0.004, "hand", 1))
    assert list(back) == list(pads)
    for name in pads:
        np.testing.assert_array_equal(back[name], pads[name])


def test_tactile_is_row_major():
    msg = cv.dict_to_tactile({"p": np.array([[1, 2, 3], [4, 5, 6]], np.float32)})
    assert list(msg.pads[0].forces) == [1, 2, 3, 4, 5, 6]
    assert (msg.pads[0].rows, msg.pads[0].cols) == (2, 3)


@pytest.mark.parametrize("key", sorted(OUTPUT_TOPICS))
def test_output_messages_round_trip(key):
    msg = output_sample(key, seed=4, stamp_ns=1_700_000_000_000_000_001)
    parse, build = {"scene": (cv.msg_to_scene, cv.scene_to_msg),
                    "latent": (cv.msg_to_latent, cv.latent_to_msg),
                    "teleop": (cv.msg_to_command, cv.command_to_msg),
                    "action": (cv.msg_to_primitive, cv.primitive_to_msg),
                    "action_status": (cv.msg_to_status, cv.status_to_msg)}[key]
    assert build(parse(msg)) == msg


def test_scene_carries_parallel_modality_arrays_and_objects():
    scene = cv.msg_to_scene(output_sample("scene", 0, 5))
    assert len(scene.modalities) == len(scene.gate_weights) == len(scene.present) == 5
    assert abs(sum(scene.gate_weights) - 1.0) < 1e-5
    assert [o.shape for o in scene.objects] == ["cube", "sphere", "cylinder"]
    assert scene.objects[0].latent.shape == (128,)
    assert scene.events[0].kind == "impact"


def test_core_constants_equal_the_message_constants():
    def consts(cls, prefix):
        return {v for k, v in vars(cls).items() if k.startswith(prefix) and isinstance(v, str)}

    assert consts(TeleopCommand, "INTENT_") == set(types.INTENTS)
    assert consts(TeleopCommand, "SOURCE_") == set(types.SOURCES)
    assert consts(PrimitiveCommand, "PRIMITIVE_") == set(types.PRIMITIVES)
    assert consts(SceneEvent, "KIND_") == set(types.EVENT_KINDS)
    assert consts(PrimitiveStatus, "STATE_") == set(types.PRIMITIVE_STATES)
