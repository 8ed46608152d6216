"""The live viewer (the viz node, as ``omni-ros up --sim --viz`` starts it) over a real sim
graph: sim bridge, perception, teleop and action as separate processes over real DDS in sim
time, the viewer serving them.

- rerun: headless Chromium (Debian's ``chromium``) opens the web viewer the viz node serves
  (offline, from the rerun-sdk wheel); the page must fetch the viewer and then receive the
  recording over the gRPC stream (bytes counted by Chromium's DevTools network events), and the
  screenshot must show more than a blank page.
- Foxglove: a WebSocket client speaking ``foxglove.websocket.v1`` reads the advertised channels
  (ROS types, ``ros2msg`` schemas identical to what our MCAP files carry), subscribes to every
  one and decodes one message of each kind from CDR with rclpy.
"""

import importlib.util
import json
import os
import socket
import struct
import sys
import time

import numpy as np
import pytest

from omni_ros.launcher import Graph, graph
from _util import free_port

pytestmark = [pytest.mark.ros, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def viz_graph():
    """The sim graph plus the viewer; yields (graph, ports)."""
    from omni_ros import dds_env
    from omni_ros.cli.viz import viz_spec

    dds_env.isolate()
    ports = {"web_port": free_port(), "grpc_port": free_port(),
             "foxglove_port": free_port()}
    # Bandwidth caps as a user sets them: half-size images, at most 500 lidar points.
    viz = {**ports, "image_downscale": 2, "lidar_max_points": 500}
    g = Graph(graph(sim=True) + [viz_spec()], sim_time=True, capture=True,
              overrides={"sim_bridge": {"seed": 3, "real_time_factor": 1.0}, "viz": viz})
    with g:
        g.start()
        t0 = time.monotonic()
        end = time.monotonic() + 180
        while time.monotonic() < end and not any("foxglove websocket:" in ln
                                                 for ln in g.lines("viz")):
            assert g.poll()["viz"] is None, "\n".join(g.lines("viz"))
            time.sleep(0.2)
        assert any("rerun web viewer:" in ln for ln in g.lines("viz")), g.lines("viz")
        print(f"viewer up after {time.monotonic() - t0:.1f} s")
        yield g, ports


def _png_pixels(path) -> np.ndarray:
    import matplotlib.image

    return np.asarray(matplotlib.image.imread(str(path)))


def test_rerun_web_viewer_in_headless_chromium_receives_the_stream(viz_graph, tmp_path):
    from omni_ros.viz.browser import find_browser, screenshot

    if importlib.util.find_spec("rerun") is None:
        pytest.skip(f"rerun-sdk 0.41 has no wheel for Python {sys.version.split()[0]} "
                    "(>= 3.11 only): the viewer serves Foxglove alone here")
    from omni_ros.viz.rerun_out import viewer_url

    if find_browser() is None:
        if os.geteuid() != 0:
            pytest.skip("no chromium and not root to install it: "
                        "sudo apt-get install -y chromium (tools/bootstrap.py does as root)")
        pytest.fail("no chromium although running as root: tools/bootstrap.py (make setup) "
                    "installs it with apt-get")
    g, ports = viz_graph
    grpc = f"http://127.0.0.1:{ports['grpc_port']}"
    # Enough stream to hold camera frames: a 64x64 RGB image alone is 12 kB (the viewer's
    # stream is compressed; a page that never connected gets 0).
    t0 = time.monotonic()
    load = screenshot(viewer_url(ports["web_port"], ports["grpc_port"]), tmp_path / "viz.png",
                      wait_origin=grpc, min_bytes=50_000, settle_s=5.0, timeout_s=240)
    print(f"screenshot after {time.monotonic() - t0:.1f} s: {load}")
    web = load.bytes_by_origin.get(f"http://127.0.0.1:{ports['web_port']}", 0)
    assert web > 1_000_000, load  # the viewer itself (wasm) came from the local server
    assert load.bytes_by_origin.get(grpc, 0) >= 50_000, load
    px = _png_pixels(load.screenshot)
    assert px.shape[:2] == (800, 1280)
    # Not a blank page: the viewer's panels, plots and images make many distinct colours.
    colours = len(np.unique((px[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0))
    assert colours > 50, colours
    assert all(code is None for code in g.poll().values()), g.poll()


def _foxglove_connect(port: int):
    import websocket

    end = time.monotonic() + 60
    while True:
        try:
            return websocket.create_connection(
                f"ws://127.0.0.1:{port}", timeout=60,
                subprotocols=["foxglove.sdk.v1", "foxglove.websocket.v1"])
        except (ConnectionError, OSError):
            if time.monotonic() > end:
                raise
            time.sleep(0.5)


def _messages(ws, timeout_s: float):
    """The Foxglove server's data messages as (subscription id, CDR bytes) until ``timeout_s``
    passed; (None, None) after each second without one, so a caller can act in between."""
    end = time.monotonic() + timeout_s
    ws.settimeout(1.0)
    while time.monotonic() < end:
        try:
            msg = ws.recv()
        except Exception as err:  # a receive timeout: nothing this second
            if type(err).__name__ != "WebSocketTimeoutException":
                raise
            yield None, None
            continue
        if isinstance(msg, bytes) and msg[0] == 0x01:
            yield struct.unpack_from("<IQ", msg, 1)[0], msg[13:]


def test_foxglove_client_subscribes_and_decodes_one_message_of_each_kind(viz_graph):
    import rclpy
    from rclpy.serialization import deserialize_message
    from std_msgs.msg import String

    from omni_ros.dataset.mcap_io import message_definition, type_name
    from omni_ros.nodes.viz import topics
    from omni_ros_sim.config import SimConfig

    g, ports = viz_graph
    want = {t.topic: t.msg_type for t in topics()}
    ws = _foxglove_connect(ports["foxglove_port"])
    assert ws.subprotocol in ("foxglove.sdk.v1", "foxglove.websocket.v1")
    channels = {}
    end = time.monotonic() + 60
    while set(channels) != set(want) and time.monotonic() < end:
        msg = ws.recv()
        if isinstance(msg, str):
            op = json.loads(msg)
            if op["op"] == "advertise":
                channels.update({c["topic"]: c for c in op["channels"]})
    assert set(channels) == set(want), sorted(channels)
    for topic, c in channels.items():
        assert c["encoding"] == "cdr" and c["schemaEncoding"] == "ros2msg"
        assert c["schemaName"] == type_name(want[topic])
        assert c["schema"] == message_definition(want[topic])
    subs = {i: topic for i, topic in enumerate(sorted(channels), start=1)}
    ws.send(json.dumps({"op": "subscribe", "subscriptions": [
        {"id": i, "channelId": channels[topic]["id"]} for i, topic in subs.items()]}))
    # Commands and task status come from a typed "stop" (teleop hears it, action reports it).
    context = rclpy.Context()
    rclpy.init(context=context, args=[])
    node = rclpy.create_node("viz_test_operator", context=context)
    pub = node.create_publisher(String, "/omni/command_text", 10)
    decoded = {}
    try:
        next_stop = 0.0
        for sub_id, data in _messages(ws, 300):
            if time.monotonic() > next_stop and pub.get_subscription_count() > 0:
                pub.publish(String(data="stop"))
                next_stop = time.monotonic() + 5.0
            if sub_id is not None and subs[sub_id] not in decoded:
                decoded[subs[sub_id]] = deserialize_message(data, want[subs[sub_id]])
            if set(decoded) == set(want):
                break
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)
        ws.close()
    assert set(decoded) == set(want), sorted(set(want) - set(decoded))
    scene = decoded["/omni/scene"]
    assert len(scene.gate_weights) == len(scene.modalities) > 0
    cam = SimConfig().camera
    color = decoded["/camera/color/image_raw"]
    assert color.encoding == "rgb8" and (color.height, color.width) == (cam.height // 2,
                                                                        cam.width // 2)
    assert decoded["/camera/depth/image_raw"].width == cam.width // 2
    info = decoded["/camera/camera_info"]  # intrinsics of the half-size image
    assert info.width == cam.width // 2 and abs(info.k[2] - (cam.width - 1) / 4) < 0.5
    assert 0 < decoded["/lidar/points"].width * decoded["/lidar/points"].height <= 500
    assert decoded["/omni/teleop"].intent == "stop"
    assert decoded["/omni/task_status"].state
    assert all(code is None for code in g.poll().values()), g.poll()


def test_rate_cap_admits_at_most_the_rate_per_stream_and_counts_the_rest():
    from omni_ros.viz.bandwidth import RateCap

    cap = RateCap({"color": 10.0, "lidar": 0.0})
    t = np.arange(0, 2.0, 1 / 30)  # a 30 Hz source for 2 s
    color = [cap.admit("color", s) for s in t]
    lidar = [cap.admit("lidar", s) for s in t]
    assert sum(color) == 20 and cap.skipped["color"] == 40  # 10 Hz of 30
    assert all(lidar) and "lidar" not in cap.skipped         # 0 = every message
    assert all(cap.admit("commands", s) for s in t)          # uncapped stream


def test_downscale_and_thinning_keep_values_and_bound_sizes():
    from omni_ros.viz.bandwidth import downscale, thin_points

    depth = np.arange(64 * 48, dtype=np.float32).reshape(48, 64)
    small = downscale(depth, 4)
    assert small.shape == (12, 16) and small[1, 1] == depth[4, 4]  # metric values untouched
    assert downscale(np.zeros((48, 64, 3), np.uint8), 1).shape == (48, 64, 3)
    pts = np.random.default_rng(0).normal(size=(5760, 4)).astype(np.float32)
    thin = thin_points(pts, 2048)
    assert thin.shape == (2048, 4) and (thin[0] == pts[0]).all() and (thin[-1] == pts[-1]).all()
    assert thin_points(pts, 0) is pts and thin_points(pts[:10], 2048).shape == (10, 4)


def test_viz_config_refuses_bad_values_saying_what_is_allowed():
    from omni_ros.core.config import ConfigError, from_flat_dict
    from omni_ros.viz.config import VizConfig

    cfg = from_flat_dict(VizConfig, {"max_rate_hz.color": 2.5, "image_downscale": 2})
    assert cfg.max_rate_hz.color == 2.5 and cfg.image_downscale == 2
    for bad, words in (({"max_rate_hz.lidar": -1.0}, "must be in [0.0, 1000.0]"),
                       ({"image_downscale": 0}, "must be in [1, 16]"),
                       ({"web_port": 9876}, "must differ"),
                       ({"lidar_pose": [0.0, 1.0]}, "6 numbers")):
        with pytest.raises(ConfigError) as err:
            from_flat_dict(VizConfig, bad)
        assert words in str(err.value), err.value


def test_the_node_refuses_bad_parameters_and_a_taken_port_saying_why():
    from _util import run_py

    bad = run_py("-m", "omni_ros.nodes.viz", "--ros-args", "-p", "image_downscale:=0",
                 timeout=120)
    assert bad.returncode == 2 and "'image_downscale' = 0: must be in [1, 16]" in bad.stderr, \
        bad.stderr
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = run_py("-m", "omni_ros.nodes.viz", "--ros-args", "-p", f"grpc_port:={port}",
                      "-p", f"web_port:={free_port()}", "-p", "foxglove:=false", timeout=120)
    assert busy.returncode == 2 and f"'grpc_port' = {port}: the port is in use" in busy.stderr, \
        busy.stderr


@pytest.mark.ros
def test_the_caps_change_at_run_time_with_validation_and_ports_stay_read_only(rclpy_context):
    """`ros2 param set /viz ...` on the caps: the rate gate, the image size (CameraInfo scaled
    with it) and the cloud size follow at once; a value out of range is refused with the range
    and changes nothing; ports are read-only."""
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import CameraInfo

    from omni_ros import conversions as cv
    from omni_ros.nodes.viz import Viz

    node = Viz(context=rclpy_context, parameter_overrides=[
        Parameter("rerun", value=False), Parameter("foxglove", value=False)])
    try:
        image = cv.numpy_to_image(np.zeros((48, 64, 3), np.uint8), "rgb8", "cam", 0)
        info = CameraInfo(width=64, height=48, k=[60.0, 0, 32, 0, 60.0, 24, 0, 0, 1])
        pts = np.random.default_rng(0).uniform(-1, 1, (5000, 4)).astype(np.float32)
        cloud = cv.array_to_pointcloud2(pts, cv.pointcloud.XYZI, "lidar", 0)
        assert node._thinned("color", image).width == 64 and node.cap.rates["color"] == 10.0
        ok = node.set_parameters_atomically([Parameter("image_downscale", value=2),
                                             Parameter("max_rate_hz.color", value=2.0),
                                             Parameter("lidar_max_points", value=500)])
        assert ok.successful, ok.reason
        assert node.cap.rates["color"] == 2.0
        assert (node._thinned("color", image).width, node._thinned("color", image).height) == (32, 24)
        assert node._thinned("camera_info", info).width == 32
        assert node._thinned("lidar", cloud).width * node._thinned("lidar", cloud).height == 500
        (bad,) = node.set_parameters([Parameter("image_downscale", value=0)])
        assert not bad.successful and "image_downscale" in bad.reason and "Min: 1, Max: 16" in bad.reason, bad.reason
        assert node.cfg.image_downscale == 2
        (port,) = node.set_parameters([Parameter("foxglove_port", value=9999)])
        assert not port.successful and "read-only" in port.reason
    finally:
        node.destroy_node()


def test_a_foxglove_client_sees_image_downscale_change_at_run_time(viz_graph):
    """`ros2 param set /viz image_downscale 4` on the running viewer (its SetParameters service,
    as the ros2 CLI calls it): a Foxglove client then receives quarter-size images; an
    out-of-range value is refused with the range."""
    import rclpy
    import rclpy.executors
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import Image

    from omni_ros_sim.config import SimConfig

    g, ports = viz_graph
    width = SimConfig().camera.width
    ws = _foxglove_connect(ports["foxglove_port"])
    topic, channel = "/camera/color/image_raw", None
    end = time.monotonic() + 60
    while channel is None and time.monotonic() < end:
        msg = ws.recv()
        if isinstance(msg, str) and json.loads(msg)["op"] == "advertise":
            channel = next((c for c in json.loads(msg)["channels"] if c["topic"] == topic), None)
    assert channel is not None
    ws.send(json.dumps({"op": "subscribe", "subscriptions": [{"id": 1, "channelId": channel["id"]}]}))
    context = rclpy.Context()
    rclpy.init(context=context, args=[])
    node = rclpy.create_node("viz_test_param_setter", context=context)
    client = node.create_client(SetParameters, "/viz/set_parameters")
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(node)

    def set_param(value):
        assert client.wait_for_service(timeout_sec=120)
        fut = client.call_async(SetParameters.Request(parameters=[
            Parameter("image_downscale", value=value).to_parameter_msg()]))
        executor.spin_until_future_complete(fut, timeout_sec=120)
        return fut.result().results[0]

    def widths_until(want):
        seen = []
        for sub_id, data in _messages(ws, 300):
            if sub_id is not None:
                seen.append(deserialize_message(data, Image).width)
                if seen[-1] == want:
                    break
        return seen

    try:
        assert width // 2 in widths_until(width // 2)  # the fixture's image_downscale: 2
        ok = set_param(4)
        assert ok.successful, ok.reason
        seen = widths_until(width // 4)
        assert seen and seen[-1] == width // 4, seen
        bad = set_param(0)
        assert not bad.successful and "Min: 1, Max: 16" in bad.reason, bad.reason
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)
        ws.close()
    assert all(code is None for code in g.poll().values()), g.poll()
