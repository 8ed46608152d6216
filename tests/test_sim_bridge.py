"""The sim bridge over real DDS: rates in sim time, actions, malformed input, services."""

import subprocess
import sys
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

from omni_ros import conversions as cv
from omni_ros.core.types import Primitive
from omni_ros.nodes.common import RELIABLE_QOS
from omni_ros.streams import BY_KEY, STREAMS
from omni_ros_msgs.msg import PrimitiveCommand, PrimitiveStatus
from omni_ros_msgs.srv import ResetWorld, SpawnObject
from rosgraph_msgs.msg import Clock

from _util import ROOT, call_service

pytestmark = pytest.mark.ros

RATES = {"joints": 60, "wrench": 120, "tactile": 80, "audio": 50, "lidar": 10,
         "ground_truth": 15, "camera_info": 15, "depth": 15, "color": 15}


class Harness:
    """A test node plus an executor, and the bridge process it talks to."""

    def __init__(self, context, *params):
        self.node = Node("bridge_test", context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "omni_ros.nodes.sim_bridge", "--ros-args", "-p", "qos:=reliable",
             *[a for p in params for a in ("-p", p)]],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def spin_until(self, condition, timeout_s, what):
        deadline = time.monotonic() + timeout_s
        while not condition():
            assert self.proc.poll() is None or what == "exit", f"bridge exited: {self.output()}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            self.executor.spin_once(timeout_sec=0.05)

    def output(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.communicate(timeout=30)[0]

    def close(self):
        out = self.output()
        self.executor.shutdown()
        self.node.destroy_node()
        return out


def test_every_topic_arrives_at_its_configured_rate_in_sim_time(rclpy_context):
    """Once every topic has been heard (discovery done, however long that took), 3 s of sim
    time of each stream are counted by their stamps. Deep reader queues, so a busy test process
    loses nothing; the period is the median gap between stamps, which a lost message would not
    move anyway."""
    h = Harness(rclpy_context, "real_time_factor:=1.0")
    stamps = {s.key: [] for s in STREAMS if s.key in RATES}
    clock = []
    deep = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
    window_s = 3.0
    try:
        for s in STREAMS:
            if s.key in RATES:
                h.node.create_subscription(
                    s.msg_type, s.topic,
                    lambda m, k=s.key: stamps[k].append(cv.stamp_to_ns(m.header.stamp)), deep)
        h.node.create_subscription(Clock, "/clock", lambda m: clock.append(cv.stamp_to_ns(m.clock)), deep)
        h.spin_until(lambda: clock and all(stamps.values()), 120, "every topic")
        t0 = max(ts[0] for ts in stamps.values())
        t1 = t0 + int(window_s * 1e9)
        h.spin_until(lambda: all(ts[-1] >= t1 for ts in stamps.values()), 120, "3 s of sim time")
    finally:
        h.close()
    for key, rate in RATES.items():
        t = np.array([x for x in stamps[key] if t0 <= x < t1])
        assert len(t) >= 0.8 * rate * window_s, f"{key}: {len(t)} messages in {window_s} s"
        period = np.median(np.diff(t)) / 1e9
        assert 1.0 / period == pytest.approx(rate, rel=0.02), key
    assert len(clock) > 100 and np.all(np.diff(clock) > 0)


def test_actions_move_the_arm_and_malformed_ones_are_rejected(rclpy_context):
    h = Harness(rclpy_context, "real_time_factor:=2.0")
    statuses, joints, diags = [], [], {}
    try:
        pub = h.node.create_publisher(PrimitiveCommand, "/omni/action", RELIABLE_QOS)
        h.node.create_subscription(PrimitiveStatus, "/omni/action_status",
                                   lambda m: statuses.append(cv.msg_to_status(m)), RELIABLE_QOS)
        h.node.create_subscription(BY_KEY["joints"].msg_type, "/joint_states",
                                   lambda m: joints.append(np.array(m.position)), RELIABLE_QOS)
        h.node.create_subscription(
            DiagnosticArray, "/diagnostics",
            lambda m: diags.update({s.name: {kv.key: kv.value for kv in s.values} for s in m.status}), 10)
        h.spin_until(lambda: pub.get_subscription_count() > 0 and joints, 120, "the bridge")

        bad = cv.primitive_to_msg(Primitive(0, "panda_link0", 1, "move", (0.4, 0.2, 0.3), (1, 0, 0, 0)))
        bad.primitive = "jump"
        pub.publish(bad)
        nan = cv.primitive_to_msg(Primitive(0, "panda_link0", 2, "move", (0.4, 0.2, 0.3), (1, 0, 0, 0)))
        nan.ee_pose.position.x = float("nan")
        pub.publish(nan)
        start = joints[-1].copy()
        pub.publish(cv.primitive_to_msg(Primitive(0, "panda_link0", 3, "move", (0.4, -0.2, 0.25),
                                                  (1, 0, 0, 0))))
        h.spin_until(lambda: any(s.sequence_id == 3 and s.state == "succeeded" for s in statuses),
                     120, "the move to succeed")
        h.spin_until(lambda: int(diags.get("sim_bridge: action", {}).get("rejected_total", 0)) == 2,
                     60, "two rejections on /diagnostics")
        assert np.abs(joints[-1][:7] - start[:7]).max() > 0.1
        assert {s.sequence_id for s in statuses} == {3}
        # An unsafe target is rejected by the executor with a reason.
        pub.publish(cv.primitive_to_msg(Primitive(0, "panda_link0", 4, "move", (2.0, 0.0, 0.3),
                                                  (1, 0, 0, 0))))
        h.spin_until(lambda: any(s.sequence_id == 4 for s in statuses), 90, "the rejection")
        assert statuses[-1].state == "rejected" and "workspace" in statuses[-1].reason
    finally:
        out = h.close()
    assert "rejected /omni/action: primitive: 'jump' is not one of" in out  # (logs are throttled)
    assert "Traceback" not in out


def test_reset_and_spawn_services(rclpy_context):
    h = Harness(rclpy_context, "real_time_factor:=1.0")
    try:
        reset = h.node.create_client(ResetWorld, "/sim/reset")
        spawn = h.node.create_client(SpawnObject, "/sim/spawn")
        h.spin_until(lambda: reset.service_is_ready() and spawn.service_is_ready(), 120, "services")

        def call(client, request):
            # (repeated if the reply is lost: a reset is idempotent, a spawn adds one more)
            return call_service(client, request, lambda: h.executor.spin_once(timeout_sec=0.05))

        r = call(reset, ResetWorld.Request(seed=7))
        assert r.success and r.message.startswith("seed 7:")
        s = call(spawn, SpawnObject.Request(shape="cube", color="red", material="metal", size=0.04,
                                            x=0.6, y=0.3, yaw=0.0))
        assert s.success and s.message.startswith("obj_")
        bad = call(spawn, SpawnObject.Request(shape="torus", color="red", material="metal",
                                              size=0.04, x=0.6, y=0.3))
        assert not bad.success and "shape 'torus'" in bad.message
        bad_scene = call(reset, ResetWorld.Request(seed=1, scene_yaml="objects: [{id: a}]"))
        assert not bad_scene.success and bad_scene.message.startswith("bad scene")
    finally:
        h.close()


def test_bad_parameter_stops_the_bridge_with_a_clear_message():
    out = subprocess.run([sys.executable, "-m", "omni_ros.nodes.sim_bridge", "--ros-args",
                          "-p", "sim.camera.rate_hz:=25.0"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2
    assert "'camera.rate_hz' = 25.0: must divide the physics rate 240 Hz" in out.stderr


def test_parameter_file_nesting_maps_to_dotted_names(tmp_path):
    yaml_text = (ROOT / "config" / "sim_bridge.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml_text.replace("camera: {rate_hz: 15.0", "camera: {rate_hz: 25.0"))
    out = subprocess.run([sys.executable, "-m", "omni_ros.nodes.sim_bridge", "--ros-args",
                          "--params-file", str(bad)], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2 and "'camera.rate_hz' = 25.0" in out.stderr
    good = tmp_path / "good.yaml"
    good.write_text(yaml_text.replace("duration_s: 0.0", "duration_s: 0.5")
                    .replace("real_time_factor: 1.0", "real_time_factor: 0.0"))
    out = subprocess.run([sys.executable, "-m", "omni_ros.nodes.sim_bridge", "--ros-args",
                          "--params-file", str(good)], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
