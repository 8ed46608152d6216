"""Real cross-process DDS: every message type, a 1 MB image and a 100k-point cloud arrive exactly;
a node fed garbage rejects it, counts it on /diagnostics and keeps running."""

import subprocess
import sys
import time
from contextlib import contextmanager
from types import SimpleNamespace

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Image

from omni_ros import conversions as cv
from omni_ros.nodes.common import RELIABLE_QOS, qos_for
from omni_ros.nodes.demo_talker import ONCE_STAMP_NS
from omni_ros.nodes.topics import SENSOR_TOPICS
from omni_ros.samples import OUTPUT_TOPICS, SampleSizes, garbage_sample, output_sample, sensor_sample

from _util import ROOT

pytestmark = pytest.mark.ros

BIG = SampleSizes(image_width=640, image_height=546, cloud_points=100_000)


def spin_until(executor, done, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        executor.spin_once(timeout_sec=0.05)


def start(*ros_args):
    return subprocess.Popen([sys.executable, "-m", *ros_args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_every_message_type_crosses_processes_exactly(rclpy_context):
    node = Node("dds_receiver", context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    got = {}
    topics = {s.key: (s.topic, s.msg_type) for s in SENSOR_TOPICS} | OUTPUT_TOPICS
    for key, (topic, msg_type) in topics.items():
        node.create_subscription(msg_type, topic, lambda m, k=key: got.setdefault(k, m), RELIABLE_QOS)
    talker = start("omni_ros.nodes.demo_talker", "--ros-args", "-p", "once:=true",
                   "-p", f"sizes.image_width:={BIG.image_width}",
                   "-p", f"sizes.image_height:={BIG.image_height}",
                   "-p", f"sizes.cloud_points:={BIG.cloud_points}", "-p", "seed:=11")
    try:
        spin_until(executor, lambda: len(got) == len(topics) or talker.poll() is not None, 120,
                   f"all of {sorted(topics)}; got {sorted(got)}")
        spin_until(executor, lambda: len(got) == len(topics), 60, "the last messages")
        assert talker.wait(timeout=60) == 0, talker.stdout.read()
    finally:
        if talker.poll() is None:
            talker.kill()
        executor.shutdown()
        node.destroy_node()

    for s in SENSOR_TOPICS:
        expected = sensor_sample(s.key, 11, 0, ONCE_STAMP_NS, BIG, s.frame_id)
        assert got[s.key] == expected, f"{s.topic} differs"
    for key in OUTPUT_TOPICS:
        assert got[key] == output_sample(key, 11, ONCE_STAMP_NS), f"{key} differs"

    image = cv.image_to_numpy(got["color"])
    assert image.nbytes >= 1_000_000 and image.shape == (546, 640, 3)
    cloud = cv.pointcloud2_to_array(got["lidar"], ("x", "y", "z", "intensity"))
    assert cloud.shape == (100_000, 4)
    expected_cloud = cv.pointcloud2_to_array(
        sensor_sample("lidar", 11, 0, ONCE_STAMP_NS, BIG), ("x", "y", "z", "intensity"))
    np.testing.assert_array_equal(cloud, expected_cloud)


def diagnostics_by_input(msg: DiagnosticArray) -> dict:
    out = {}
    for status in msg.status:
        key = status.name.split(": ", 1)[1]
        out[key] = {kv.key: kv.value for kv in status.values} | {"level": status.level}
    return out


@contextmanager
def monitored(rclpy_context, sender: str, *monitor_args: str):
    """``sensor_monitor`` in its own process (``monitor_args``: its ROS arguments) and a node
    ``sender`` here that keeps the monitor's latest /diagnostics per input. Yields a namespace
    (monitor, node, executor, latest); once stopped, ``output`` is what the monitor printed."""
    m = SimpleNamespace(monitor=start("omni_ros.nodes.sensor_monitor", *monitor_args),
                        node=Node(sender, context=rclpy_context),
                        executor=SingleThreadedExecutor(context=rclpy_context), latest={})
    m.executor.add_node(m.node)
    m.node.create_subscription(DiagnosticArray, "/diagnostics",
                               lambda msg: m.latest.update(diagnostics_by_input(msg)), 10)
    try:
        yield m
    finally:
        m.monitor.terminate()
        m.output, _ = m.monitor.communicate(timeout=30)
        m.executor.shutdown()
        m.node.destroy_node()


def test_garbage_on_every_sensor_topic_is_rejected_counted_and_the_node_keeps_running(rclpy_context):
    with monitored(rclpy_context, "garbage_sender", "--ros-args", "-p", "qos:=reliable") as m:
        monitor, node, executor, latest = m.monitor, m.node, m.executor, m.latest
        pubs = {s.key: node.create_publisher(s.msg_type, s.topic, qos_for("reliable"))
                for s in SENSOR_TOPICS}
        sizes = SampleSizes()

        def matched():
            assert monitor.poll() is None, f"the monitor exited: {monitor.stdout.read()}"
            return all(p.get_subscription_count() for p in pubs.values())

        spin_until(executor, matched, 120, "the monitor's subscriptions")
        for i in range(3):  # garbage first, then a good message: it must still be processed
            for s in SENSOR_TOPICS:
                pubs[s.key].publish(garbage_sample(s.key, 0, i, 1, sizes))
        for s in SENSOR_TOPICS:
            pubs[s.key].publish(sensor_sample(s.key, 0, 9, 1, sizes))

        def all_counted():
            return all(int(latest.get(s.key, {}).get("rejected_total", 0)) == 3
                       and int(latest[s.key]["accepted"]) == 1 for s in SENSOR_TOPICS)

        spin_until(executor, all_counted, 120, f"diagnostics to count everything; last: {latest}")
        assert monitor.poll() is None, "the monitor died"
        for s in SENSOR_TOPICS:
            d = latest[s.key]
            assert d["level"] == DiagnosticStatus.WARN, f"{s.key}: WARN expected after rejections: {d}"
            assert any(k.startswith("rejected.") for k in d), d
    assert "rejected /wrist/wrench: wrench: non-finite values in force.z" in m.output
    assert "rejected /lidar/points: data: has" in m.output


def test_huge_best_effort_images_that_never_arrive_whole_are_counted_lost(rclpy_context):
    """A camera sending images far too big for the link (12 MB, best effort): DDS drops some
    of their fragments, they never reach the callback, and /diagnostics says so (``lost``)
    instead of the input just looking silent. Once small images get through after them, the
    huge ones show up in the books, as received or as lost. How many of the three Fast DDS
    reports lost depends on load (one CI run next to two busy loops counted 1 of 2), so the
    test asks for at least one; without the counter it finds none (0 lost, 0 received)."""
    with monitored(rclpy_context, "huge_sender") as m:  # sensor_data QoS: best effort
        monitor, executor, latest = m.monitor, m.executor, m.latest
        pub = m.node.create_publisher(Image, "/camera/color/image_raw", qos_for("sensor_data"))
        huge, small = SampleSizes(image_width=2048, image_height=2048), SampleSizes()

        def count(key):
            return int(latest.get("color", {}).get(key, 0))

        def spin_for(seconds):
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                executor.spin_once(timeout_sec=0.05)

        spin_until(executor, lambda: pub.get_subscription_count() > 0 or monitor.poll() is not None,
                   120, "the monitor's subscription")
        assert monitor.poll() is None, monitor.stdout.read()
        for i in range(3):
            pub.publish(sensor_sample("color", 3, i, 1, huge))
            spin_for(0.2)
        smalls, deadline = 0, time.monotonic() + 120

        def accounted():  # huge images received (at least) + messages lost
            taken = count("accepted") + count("rejected_total")
            return taken >= 1 and count("lost") + max(0, taken - smalls) >= 1

        while not accounted():  # small ones, resent (best effort) until the books add up
            assert time.monotonic() < deadline, f"not accounted for: {latest.get('color')}"
            pub.publish(sensor_sample("color", 3, 9, 1, small))
            smalls += 1
            spin_for(1.0)
        assert monitor.poll() is None, "the monitor died"
