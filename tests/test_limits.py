"""Input bounds at the door, robust time, and outputs that are always valid - without a ROS graph
(tests/test_fuzz.py sends the same cases through the running graph)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omni_ros_msgs.msg import AudioChunk

from omni_ros import conversions as cv
from omni_ros.conversions import ConversionError, InputLimits, checker
from omni_ros.core.errors import InputError
from omni_ros.core.health import HealthBook, RateLimiter
from omni_ros.streams import BY_KEY, JOINT_NAMES

MS = 1_000_000
LIM = InputLimits()


def _chunk(rate=16000, n=320, channels=1, encoding="S16LE", data=None):
    width = 2 if encoding == "S16LE" else 4
    return AudioChunk(sample_rate=rate, channels=channels, encoding=encoding,
                      data=bytes(width * n * channels) if data is None else data)


@pytest.mark.parametrize("chunk,field", [
    (_chunk(rate=1), "sample_rate"), (_chunk(rate=96000), "sample_rate"),
    (_chunk(channels=9), "channels"), (_chunk(n=16001), "data"),
])
def test_audio_outside_its_bounds_is_refused_naming_the_field(chunk, field):
    with pytest.raises(ConversionError) as err:
        cv.audio_chunk_to_numpy(chunk)
    assert err.value.field == field


def test_f32le_audio_reads_as_sound_and_other_rates_are_resampled_to_16_khz():
    decode = BY_KEY["audio"].decode
    t = np.arange(44100) / 44100
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    f32 = cv.numpy_to_audio_chunk(tone, 44100)                  # F32LE at 44.1 kHz
    s16 = cv.numpy_to_audio_chunk((tone * 32767).astype(np.int16), 44100)
    a, b = decode(f32), decode(s16)
    assert a.dtype == np.int16 and len(a) == 16000              # 1 s at the model's rate
    assert np.abs(a).max() > 15000                              # not silence
    np.testing.assert_allclose(a, b, atol=3)                    # both encodings read the same
    spectrum = np.abs(np.fft.rfft(a.astype(float)))
    assert np.argmax(spectrum) * 16000 / len(a) == pytest.approx(440, abs=2)


def _wrench(fx):
    m = cv.numpy_to_wrench(np.zeros(6), "panda_hand_ft")
    m.wrench.force.x = fx
    return m


@pytest.mark.parametrize("kind,msg,field", [
    ("wrench", _wrench(1e39), "wrench.force"),          # finite in float64, inf in float32
    ("wrench", _wrench(1e30), "wrench.force"),
    ("joints", cv.arrays_to_joint_state(JOINT_NAMES, [0.0] * 8 + [1e39]), "position"),
    ("tactile", cv.dict_to_tactile({"panda_leftfinger_pad": -np.ones((4, 4)) * 50}), "pads[0].forces"),
    ("tactile", cv.dict_to_tactile({"panda_leftfinger_pad": np.full((4, 4), 1e30)}), "pads[0].forces"),
    ("tactile", cv.tactile.TactileArray(), "pads"),
    ("image:rgb8", cv.numpy_to_image(np.zeros((1100, 2000, 3), np.uint8), "rgb8"), "height*width"),
    ("pointcloud", cv.array_to_pointcloud2(np.zeros((300_001, 3), np.float32)), "height*width"),
])
def test_values_and_sizes_outside_the_limits_are_refused(kind, msg, field):
    with pytest.raises(ConversionError) as err:
        checker(kind, LIM)(msg)
    assert err.value.field == field


def test_a_frame_other_than_the_configured_one_is_refused():
    msg = cv.array_to_pointcloud2(np.zeros((5, 3), np.float32), frame_id="map")
    with pytest.raises(ConversionError, match="'map'; this input is configured for 'lidar_link'"):
        checker("pointcloud", LIM, "lidar_link")(msg)
    checker("pointcloud", LIM)(msg)  # '' = any frame


def test_the_health_book_and_the_rate_limiter_cannot_be_grown_by_hostile_names():
    book = HealthBook()
    for i in range(1000):
        book.reject("tactile", i, f"pads[{i}].forces", "x" * 10_000)
    s = book.stats("tactile")
    assert len(s.rejected) <= 33 and s.rejected["other"] > 900 and len(s.last_reason) <= 500
    limit = RateLimiter(rate_hz=2.0, burst=5, max_sources=4)
    passed = sum(limit.allow("text", i * MS) for i in range(200))   # 200 in 0.2 s
    assert passed == 5
    assert limit.allow("text", 10**9)                                # refilled after a while
    for i in range(100):
        limit.allow(f"made-up-{i}", 0)
    assert len(limit._buckets) <= 5
    flood = RateLimiter(rate_hz=1.0, burst=1)
    flood.require("voice", 0)
    with pytest.raises(InputError, match="more than 1 commands/s from 'voice'"):
        flood.require("voice", 1)
    flood.require("voice", 2, exempt=True)   # a stop always passes


def test_messages_lost_before_delivery_are_on_the_diagnostics_of_their_input():
    book = HealthBook()
    book.lose("color", 3)
    book.lose("color", -1)  # a middleware's change is never negative; ignored if it were
    (status,) = cv.health_to_diagnostics(book, "perception", 10**9).status
    values = {kv.key: kv.value for kv in status.values}
    assert values["lost"] == "3" and values["accepted"] == "0"
    assert status.message == "no data (3 lost in transport: too big for the link, or a lossy one?)"
    book.accept("color", 10**9)
    (status,) = cv.health_to_diagnostics(book, "perception", 10**9).status
    assert status.message == "ok" and {kv.key: kv.value for kv in status.values}["lost"] == "3"


@pytest.fixture(scope="module")
def pipe():
    from omni_ros.core.model.checkpoint import load_checkpoint
    from omni_ros.core.perception.pipeline import Perception

    model, _, _ = load_checkpoint("omni_small.pt")
    return Perception(model)


def _readings(rng, scale):
    """One reading of every stream, values drawn at ``scale`` (1: normal, 1e6: extreme)."""
    return {"color": rng.integers(0, 256, (96, 96, 3), dtype=np.uint8),
            "depth": (rng.uniform(0, 2, (96, 96)) * scale).astype(np.float32),
            "lidar": (rng.standard_normal((16, 180, 4)) * scale).astype(np.float32),
            "audio": rng.integers(-32768, 32767, 320).astype(np.int16),
            "tactile": {"panda_leftfinger_pad": (rng.uniform(0, 2, (4, 4)) * scale).astype(np.float32)},
            "joints": {"position": rng.standard_normal(9) * scale, "velocity": np.zeros(9)},
            "wrench": rng.standard_normal(6) * scale}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31), scale=st.sampled_from([1.0, 1e3, 1e6, 3e38]),
       holes=st.booleans())
def test_whatever_passes_the_door_the_scene_is_valid(pipe, seed, scale, holes):
    """Random, extreme and malformed readings through the door checks and the pipeline: each is
    refused with an InputError, or the fused scene has no NaN/inf and no confidence outside
    [0, 1]."""
    from omni_ros.core.perception.pipeline import scene_problems
    from omni_ros.streams import SENSOR_STREAMS

    rng = np.random.default_rng(seed)
    readings = _readings(rng, scale)
    if holes:  # NaN / inf sprinkled in (depth and lidar mark no-return with NaN)
        readings["depth"].flat[rng.integers(0, 96 * 96, 50)] = np.inf
        readings["lidar"].flat[rng.integers(0, 16 * 180 * 4, 50)] = np.nan
    now = 10**12 + seed
    pipe.reset()
    for s in SENSOR_STREAMS:
        if s.key not in readings:
            continue
        try:
            msg = s.encode(readings[s.key], s.frame_id, now, _Ctx())
            checker(s.codec, LIM, s.frame_id)(msg)
            pipe.push(s.key, now, s.decode(msg), now)
        except InputError:
            continue  # refused at the door or by the window: fine
    scene = pipe.fuse(now + 10 * MS)
    assert scene is not None
    assert scene_problems(scene) == []


class _Ctx:
    audio_rate_hz = 16000
    taxel_pitch_m = 0.005
    intrinsics = {}


def test_time_small_skew_is_fresh_odd_stamps_are_refused_and_nothing_resets(pipe):
    pipe.reset()
    now = 10**12
    w = np.array([0, 0, -9.8, 0, 0, 0])
    pipe.push("wrench", now + 5 * MS, w, now)                  # 5 ms ahead of the clock: skew
    assert pipe.fresh(now)[pipe.names.index("force")]
    pipe.target_id = "red_cube"
    for stamp, why in [(0, "older than this node's clock"), (now - 10**10, "older"),
                       (now + 3600 * 10**9, "ahead of this node's clock"),
                       (now - 10 * MS, "older than the previous message of this stream")]:
        with pytest.raises(InputError, match=why) as err:
            pipe.push("wrench", stamp, w, now)
        assert err.value.field == "header.stamp"
    assert pipe.target_id == "red_cube" and "force" in pipe.cache


def test_a_command_naming_an_object_that_is_not_there_is_refused(pipe):
    from omni_ros.core.perception.commands import apply_command
    from omni_ros.core.types import ObjectEstimate, OperatorCommand

    pipe.reset()
    sphere = ObjectEstimate("red_sphere", "sphere", "red", position=np.array([0.5, 0.0, 0.02]),
                            latent=np.ones(pipe.mcfg.latent_dim) / np.sqrt(pipe.mcfg.latent_dim))
    lidar_only = ObjectEstimate("obj_1", "", "", position=np.array([0.6, 0.1, 0.02]))
    pipe.objects = lambda now_ns, camera_fresh: [sphere]
    out = apply_command(pipe, OperatorCommand(0, "text", "pick up the red cube", "pick", "red cube"),
                        0, "panda_link0")
    assert (out.action, out.detail, pipe.target_id) == ("refused", "no red cube in view", "")
    out = apply_command(pipe, OperatorCommand(0, "text", "pick up the red sphere", "pick",
                                              "red sphere"), 0, "panda_link0")
    assert (out.action, pipe.target_id) == ("target", "red_sphere")
    # an object whose colour and shape the sensors could not tell (lidar only) is never meant
    # by a description alone; it may be when the operator points at it
    pipe.objects = lambda now_ns, camera_fresh: [lidar_only]
    out = apply_command(pipe, OperatorCommand(0, "text", "pick up the red cube", "pick", "red cube"),
                        0, "panda_link0")
    assert (out.action, out.detail, pipe.target_id) == ("refused", "no red cube in view", "")
    out = apply_command(pipe, OperatorCommand(0, "text", "pick up the red cube", "pick", "red cube",
                                              point=np.array([0.6, 0.1, 0.0])), 0, "panda_link0")
    assert (out.action, pipe.target_id) == ("target", "obj_1")
    del pipe.objects


def test_a_dense_cloud_of_another_layout_is_voxel_downsampled_not_cut():
    from omni_ros.core.model.modalities import REGISTRY
    from omni_ros.core.model.model_config import ModelConfig

    cfg = ModelConfig().lidar
    w = REGISTRY["lidar"].window(cfg)
    rng = np.random.default_rng(0)
    xyz = rng.uniform([-0.3, -0.5, -0.4], [0.4, 0.5, 0.0], (200_000, 3))   # sorted by nothing
    xyz = xyz[np.argsort(xyz[:, 0])]           # a cut would keep only the smallest x
    cloud = np.c_[xyz, np.full(len(xyz), 50.0)].astype(np.float32)
    w.push("lidar", 0, cloud)
    grid = w.read()["lidar"].reshape(-1, 4)
    kept = grid[np.isfinite(grid).all(axis=1)]
    assert 0 < len(kept) <= cfg.rings * cfg.columns
    assert kept[:, 0].max() - kept[:, 0].min() > 0.6    # spans the cloud, not its first rows
