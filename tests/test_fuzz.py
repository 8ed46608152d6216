"""Hostile input against the running sim graph (real processes, real DDS, the launcher of
``omni-ros up --sim``), as an adversarial user would send it: every message is published once
with sensor-data QoS and once reliable. For each case: the message is rejected and counted on
/diagnostics under the field it broke, no node dies, /omni/scene keeps coming (no gap over 1 s
of sim time, or 2.5x the largest gap of undisturbed traffic measured in the same run when the
machine is so loaded that normal gaps approach 1 s), never carries NaN or inf, and the operator's target survives odd stamps; a typed
stop is not delayed by audio floods; perception's memory stays within its 600 MB budget after
huge messages.

Waits are on observable events with generous deadlines (the suite runs next to busy loops);
the one wall-clock bound is the stop latency, against a baseline measured in the same run.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from geometry_msgs.msg import PointStamped, WrenchStamped
from omni_ros_msgs.msg import AudioChunk, SceneUnderstanding, TactileArray, TeleopCommand
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState, PointCloud2

from omni_ros import conversions as cv
from omni_ros.benchmarks.live import live_graph
from omni_ros.core.types import OperatorCommand
from omni_ros.nodes.common import RELIABLE_QOS
from omni_ros.streams import JOINT_NAMES

pytestmark = [pytest.mark.ros, pytest.mark.slow, pytest.mark.timeout(900)]

SEED = 9
RSS_BUDGET_MB = 600
# Small enough that a message over them is still delivered by DDS here (so the door check is
# what refuses it); the huge cases (2 M points, 4096^2 pixels) are sent as well.
LIMITS = {"limits.max_points": 20_000, "limits.max_pixels": 150_000}
TOPICS = {"color": (Image, "/camera/color/image_raw"), "depth": (Image, "/camera/depth/image_raw"),
          "lidar": (PointCloud2, "/lidar/points"), "wrench": (WrenchStamped, "/wrist/wrench"),
          "joints": (JointState, "/joint_states"), "tactile": (TactileArray, "/tactile"),
          "audio": (AudioChunk, "/audio"), "clicked_point": (PointStamped, "/clicked_point"),
          "teleop": (TeleopCommand, "/omni/teleop")}


class Fuzzer:
    """The operator node plus two publishers (best effort, reliable) per attacked topic and a
    raw record of every /omni/scene."""

    def __init__(self, graph, op):
        self.graph, self.op = graph, op
        self.pubs = {k: [op.create_publisher(t, topic, qos_profile_sensor_data),
                         op.create_publisher(t, topic, RELIABLE_QOS)]
                     for k, (t, topic) in TOPICS.items()}
        self.scenes: list[SceneUnderstanding] = []
        op.create_subscription(SceneUnderstanding, "/omni/scene", self.scenes.append, 100)

    def send(self, key: str, msg) -> None:
        for pub in self.pubs[key]:
            pub.publish(msg)

    def rejected(self, node: str, key: str, field: str | None = None) -> int:
        d = self.op.diagnostic(f"{node}: {key}")
        if field is None:
            return int(d.get("rejected_total", 0))
        return int(d.get(f"rejected.{field}", 0))

    def wait_rejected(self, node: str, key: str, field: str, send, timeout_s: float = 120) -> bool:
        """Send (``send()``) until ``node`` has counted a rejection of ``key`` under ``field``."""
        before = self.rejected(node, key, field)
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            send()
            if self.op.spin_until(lambda: self.rejected(node, key, field) > before, 1.5):
                return True
        return False

    def alive(self) -> bool:
        return all(code is None for code in self.graph.poll().values())

    def rss_mb(self, node: str = "perception") -> float:
        with open(f"/proc/{self.graph.procs[node].pid}/status") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
        return kb / 1024

    def now(self) -> int:
        return self.op.now_ns()

    def scene_mark(self) -> int:
        return len(self.scenes)

    def max_gap_s(self, since: int) -> float:
        """Largest stamp gap between consecutive scenes since index ``since`` [s, sim time]."""
        st = [cv.stamp_to_ns(m.header.stamp) for m in self.scenes[since:]]
        return max(np.diff(st), default=0) / 1e9

    def more_scenes(self, n: int = 30, timeout_s: float = 120) -> bool:
        k = len(self.scenes) + n
        return self.op.spin_until(lambda: len(self.scenes) >= k, timeout_s)


def non_finite(msg) -> list[str]:
    """Names of every float field of ``msg`` (recursively) that is NaN or inf."""
    bad = []

    def walk(obj, path):
        if isinstance(obj, float):
            if not math.isfinite(obj):
                bad.append(path)
        elif hasattr(obj, "get_fields_and_field_types"):
            for name in obj.get_fields_and_field_types():
                walk(getattr(obj, name), f"{path}.{name}")
        elif isinstance(obj, (list, tuple)) or type(obj).__name__ == "array":
            for i, x in enumerate(obj):
                walk(float(x) if isinstance(x, (np.floating,)) else x, f"{path}[{i}]")
    walk(msg, "scene")
    return bad


@pytest.fixture(scope="module")
def fuzz():
    with live_graph(SEED, extra={"perception": LIMITS}) as (graph, op):
        f = Fuzzer(graph, op)
        assert op.spin_until(lambda: op.scene is not None and op.truth is not None, 180)
        # (a best-effort publisher never matches a reliable subscription: /omni/teleop,
        # /clicked_point take only the reliable one)
        assert op.spin_until(lambda: all(any(p.get_subscription_count() > 0 for p in ps)
                                         for ps in f.pubs.values()), 120)
        # the largest scene gap of undisturbed traffic on this machine, now: the gap bound is
        # 1 s (the bar) or, on a machine so loaded that normal gaps approach it, 2.5x that
        mark = f.scene_mark()
        assert f.more_scenes(60)
        f.gap_bound_s = max(1.0, 2.5 * f.max_gap_s(mark))
        yield f
        assert f.alive(), graph.poll()
        bad = [(i, non_finite(m)) for i, m in enumerate(f.scenes) if non_finite(m)]
        assert not bad, bad[:3]


def _image(w, h, enc="rgb8", frame="camera_color_optical_frame", stamp=None, op=None):
    if enc == "32FC1":
        return cv.metres_to_depth_image(np.ones((h, w), np.float32), "32FC1", frame,
                                        stamp if stamp is not None else op.now_ns())
    return cv.numpy_to_image(np.zeros((h, w, 3), np.uint8), enc, frame,
                             stamp if stamp is not None else op.now_ns())


def _cloud(n, frame="lidar_link", stamp=0):
    pts = np.random.default_rng(n).uniform(-1, 1, (n, 4)).astype(np.float32)
    return cv.array_to_pointcloud2(pts, frame_id=frame, stamp_ns=stamp)


def _wrench(value, stamp, frame="panda_hand_ft"):
    m = cv.numpy_to_wrench(np.array([0, 0, -9.8, 0, 0, 0]), frame, stamp)
    m.wrench.force.x = value
    return m


def test_target_survives_odd_stamps_and_each_is_refused_and_counted(fuzz):
    op = fuzz.op
    label, obj = next((f"{o.color} {o.shape}", o) for o in op.truth.objects)
    # move (not pick) keeps the arm out of the way: the target is the object at the click
    op.click(obj.position)
    op.spin_until(lambda: False, 0.3)
    op.type("move here")
    assert op.spin_until(lambda: op.scene.target_object_id != "", 120), "no target grounded"
    target = op.scene.target_object_id
    mark = fuzz.scene_mark()
    now = fuzz.now()
    odd = {"zero": 0, "10 s old": now - 10 * 10**9, "1.5 s old": now - 1_500_000_000,
           "1 h ahead": now + 3600 * 10**9}
    for name, stamp in odd.items():
        assert fuzz.wait_rejected("perception", "wrench", "header.stamp",
                                  lambda: fuzz.send("wrench", _wrench(0.0, stamp))), name
    assert fuzz.more_scenes(30)
    after = fuzz.scenes[-1]
    assert after.target_object_id == target, (target, after.target_object_id)
    assert op.diagnostic("perception: pipeline")["clock_jumps"] == "0"  # nothing was reset
    assert fuzz.max_gap_s(mark) <= fuzz.gap_bound_s
    assert fuzz.alive()


@pytest.mark.parametrize("case", ["wrench 1e39", "wrench 1e30", "finger joint 1e39",
                                  "tactile no pads", "tactile unknown pad", "tactile negative",
                                  "tactile 1e30", "tactile 64x64 pads", "cloud in map",
                                  "image in map", "colour/depth 512^2", "mismatched sizes",
                                  "cloud over max_points", "audio rate 1", "audio 2 s chunk",
                                  "audio 9 channels"])
def test_malformed_input_is_refused_with_the_field_and_counted(fuzz, case):
    op = fuzz.op
    t = fuzz.now
    pad = lambda name, grid: cv.dict_to_tactile({name: grid}, 0.005, "panda_hand", t())  # noqa: E731
    joints = lambda v: cv.arrays_to_joint_state(JOINT_NAMES, [0.0] * 8 + [v], stamp_ns=t())  # noqa: E731
    audio = lambda rate, n, ch=1: AudioChunk(header=cv.make_header("microphone_link", t()),  # noqa: E731
                                             sample_rate=rate, channels=ch, encoding="S16LE",
                                             data=bytes(2 * n * ch))
    cases = {  # case -> (node, input, field, message factory)
        "wrench 1e39": ("perception", "wrench", "wrench.force", lambda: _wrench(1e39, t())),
        "wrench 1e30": ("perception", "wrench", "wrench.force", lambda: _wrench(1e30, t())),
        "finger joint 1e39": ("perception", "joints", "position", lambda: joints(1e39)),
        "tactile no pads": ("perception", "tactile", "pads",
                            lambda: TactileArray(header=cv.make_header("panda_hand", t()))),
        "tactile unknown pad": ("perception", "tactile", "pads",
                                lambda: pad("toe_pad", np.zeros((4, 4)))),
        "tactile negative": ("perception", "tactile", "pads[0].forces",
                             lambda: pad("panda_leftfinger_pad", -np.ones((4, 4)) * 50)),
        "tactile 1e30": ("perception", "tactile", "pads[0].forces",
                         lambda: pad("panda_leftfinger_pad", np.full((4, 4), 1e30))),
        "tactile 64x64 pads": ("perception", "tactile", "pads['panda_leftfinger_pad']",
                               lambda: pad("panda_leftfinger_pad", np.zeros((64, 64)))),
        "cloud in map": ("perception", "lidar", "header.frame_id", lambda: _cloud(100, "map", t())),
        "image in map": ("perception", "color", "header.frame_id",
                         lambda: _image(96, 96, frame="map", op=op)),
        "colour/depth 512^2": ("perception", "color", "height*width",
                               lambda: _image(512, 512, op=op)),
        "mismatched sizes": ("perception", "depth", "depth",
                             lambda: _image(64, 48, "32FC1", op=op)),
        "cloud over max_points": ("perception", "lidar", "height*width",
                                  lambda: _cloud(30_000, stamp=t())),
        "audio rate 1": ("teleop", "audio", "sample_rate", lambda: audio(1, 320)),
        "audio 2 s chunk": ("teleop", "audio", "data", lambda: audio(16000, 32000)),
        "audio 9 channels": ("perception", "audio", "channels", lambda: audio(16000, 320, 9)),
    }
    node, key, field, make = cases[case]
    mark = fuzz.scene_mark()
    assert fuzz.wait_rejected(node, key, field, lambda: fuzz.send(key, make())), \
        (case, op.diagnostic(f"{node}: {key}"))
    assert fuzz.more_scenes(10)
    assert fuzz.max_gap_s(mark) <= fuzz.gap_bound_s, case
    assert fuzz.alive(), fuzz.graph.poll()


def test_huge_messages_cost_no_scene_gap_and_no_memory_beyond_the_budget(fuzz):
    op = fuzz.op
    mark = fuzz.scene_mark()
    huge = [lambda: _cloud(2_000_000, stamp=fuzz.now()), lambda: _image(4096, 4096, op=op),
            lambda: _image(4096, 4096, "32FC1", op=op), lambda: _cloud(500_000, stamp=fuzz.now())]
    for _ in range(2):
        for key, make in zip(("lidar", "color", "depth", "lidar"), huge):
            fuzz.send(key, make())
            op.spin_until(lambda: False, 0.5)   # one huge message at a time, as a user sends it
    assert fuzz.more_scenes(60)
    # The bar, 1 s (measured 0.27 s quiet, 0.20-0.41 s next to two busy loops; with a
    # whole second test session on the same 2 cores it reached 1.6-2.4 s, and so did normal
    # traffic's gaps, which gap_bound_s then follows).
    assert fuzz.max_gap_s(mark) <= fuzz.gap_bound_s
    rss = fuzz.rss_mb()
    assert rss <= RSS_BUDGET_MB, f"perception RSS {rss:.0f} MB"
    assert fuzz.alive(), fuzz.graph.poll()


def _stop_latency_s(fuzz) -> float:
    """Wall time from typing "stop" to teleop publishing it on /omni/teleop [s]."""
    op = fuzz.op
    n = len(op.heard)
    t0 = time.monotonic()
    op.type("stop")
    assert op.spin_until(lambda: any(c.intent == "stop" for c in op.heard[n:]), 60, 0.005)
    return time.monotonic() - t0


def test_a_typed_stop_is_not_delayed_by_audio_floods(fuzz):
    op = fuzz.op
    base = min(_stop_latency_s(fuzz) for _ in range(3))
    noise = np.random.default_rng(0)

    def loud(rate):  # 1 s of loud noise: the VAD hears speech, the recogniser has work
        x = (noise.standard_normal(rate) * 8000).clip(-32768, 32767).astype(np.int16)
        return cv.numpy_to_audio_chunk(x, rate, frame_id="microphone_link", stamp_ns=op.now_ns())

    floods = {
        "sample rate 1": lambda: AudioChunk(header=cv.make_header("microphone_link", op.now_ns()),
                                            sample_rate=1, channels=1, encoding="S16LE",
                                            data=bytes(640)),
        "1 s chunks at 48 kHz": lambda: loud(48000),
    }
    # The sample-rate flood (the 35.5 s case) is refused at the door; loud noise is
    # decoded, by the recogniser's own process (pocketsphinx holds the GIL while it decodes: in
    # the node's process that stalled every other thread for up to 5.5 s). Either way the stop
    # is as fast as without the flood (the margin is for a loaded machine, not for a queue).
    for name, make in floods.items():
        for _ in range(20):
            fuzz.send("audio", make())
        latency = _stop_latency_s(fuzz)
        assert latency <= base + 2.0, (name, latency, base)
    assert fuzz.alive()


def test_typed_words_outside_the_vocabulary_are_understood_and_never_delay_a_stop(fuzz):
    """"fetch the azure orb" reaches /omni/teleop as a pick of the blue sphere (the lexicon
    worker); a flood of unknown words keeps that worker busy, not the executor: a typed stop is
    as fast as without it, and the flood is dropped and counted past the backlog."""
    op = fuzz.op
    base = min(_stop_latency_s(fuzz) for _ in range(3))
    n = len(op.heard)
    op.type("fetch the azure orb")
    assert op.spin_until(lambda: any((c.intent, c.target_description) == ("pick", "blue sphere")
                                     for c in op.heard[n:]), 180)
    for i in range(40):
        op.type(f"zorble{i} the quux{i} with frobnicators{i} and wibbles{i}")
    latency = _stop_latency_s(fuzz)
    assert latency <= base + 2.0, (latency, base)
    assert op.spin_until(lambda: fuzz.rejected("teleop", "text_command") > 0, 120)
    assert fuzz.alive()


def test_a_command_flood_is_rate_limited_and_an_absent_object_is_refused(fuzz):
    op = fuzz.op
    present = {(o.color, o.shape) for o in op.truth.objects}
    colour, shape = next((c, s) for c in ("red", "green", "blue", "yellow", "purple", "orange")
                         for s in ("cube", "sphere", "cylinder") if (c, s) not in present)
    text = f"pick up the {colour} {shape}"
    # start from no target (loud noise in the previous test may have been heard as a command)
    op.type("stop")
    assert op.spin_until(lambda: op.scene.target_object_id == "", 60)
    n_status = len(op.statuses)
    mark = fuzz.scene_mark()
    for _ in range(200):  # 200 in ~2 s, paced so that DDS delivers every one (depth 10)
        op.type(text)
        op.spin_until(lambda: False, 0.005)
    assert op.spin_until(lambda: fuzz.rejected("teleop", "command_text", "rate") > 0, 120)
    assert op.spin_until(lambda: fuzz.rejected("perception", "grounding", "not_in_view") > 0, 120)
    # the task is refused with a reason naming what is missing; nothing else was targeted
    assert op.spin_until(lambda: any(s.state in ("failed", "rejected") and
                                     f"{colour} {shape}" in s.reason
                                     for s in op.statuses[n_status:]), 120)
    assert fuzz.more_scenes(30)
    # nothing else was targeted: a target, if any, is an object perceived as exactly the one
    # named (a misdetection of the scene's objects as it), never the nearest other one
    for m in fuzz.scenes[mark:]:
        if m.target_object_id:
            o = next((o for o in m.objects if o.id == m.target_object_id), None)
            assert o is None or (o.color, o.shape) == (colour, shape), (m.target_object_id, text)
    # the same flood straight onto /omni/teleop (bypassing teleop): perception and action
    # rate-limit it per source and count it
    cmd = cv.command_to_msg(OperatorCommand(op.now_ns(), "text", text, "pick", f"{colour} {shape}"))
    for _ in range(100):  # ~100 in 1-2 s, paced so that DDS delivers every one (depth 10)
        fuzz.send("teleop", cmd)
        op.spin_until(lambda: False, 0.01)
    for node in ("perception", "action"):
        assert op.spin_until(lambda: fuzz.rejected(node, "teleop", "rate") > 0, 120), node
    assert fuzz.alive()
