"""viz: the live viewer bridge. Subscribes to the running graph and serves it to browsers and
the Foxglove app, each stream capped in rate (parameters ``max_rate_hz.*``, ``image_downscale``,
``lidar_max_points``; see :class:`omni_ros.viz.config.VizConfig`):

- rerun web viewer (``rerun: true``): page on ``web_port``, stream on ``grpc_port``; the URL to
  open is logged at start. Camera colour, depth and thermal images, the lidar cloud and the
  perceived objects with the target in the base frame, gate weights and leave-one-out
  contributions per modality as time series, heard commands, task status, scene events.
- Foxglove WebSocket (``foxglove: true``, ``ws://foxglove_host:foxglove_port``): the same
  topics as ROS messages (CDR, ``ros2msg`` schemas) plus the camera's CameraInfo.

Messages that fail to decode are counted on /diagnostics (GuardedInputs) and dropped; the node
keeps serving the rest.
"""

from __future__ import annotations

import copy
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from omni_ros_msgs.msg import SceneUnderstanding, TaskStatus, TeleopCommand
from rclpy.node import Node
from rclpy.serialization import serialize_message

from .. import conversions as cv
from ..core.config import ConfigError
from ..dataset.mcap_io import message_definition, type_name
from ..streams import BY_KEY
from ..viz.bandwidth import RateCap, downscale, thin_points
from ..viz.config import VizConfig
from .common import GuardedInputs, qos_for, spin_node
from .params import declare_config


@dataclass(frozen=True)
class VizTopic:
    key: str        # stream key (rate caps: max_rate_hz.<rate>)
    topic: str
    msg_type: type
    qos: str
    rate: str = ""  # which max_rate_hz field caps it ("" = never capped)


def topics() -> tuple[VizTopic, ...]:
    """What the viewer subscribes to."""
    s = BY_KEY
    return (VizTopic("color", s["color"].topic, s["color"].msg_type, "sensor_data", "color"),
            VizTopic("camera_info", s["camera_info"].topic, s["camera_info"].msg_type,
                     "sensor_data", "color"),
            VizTopic("depth", s["depth"].topic, s["depth"].msg_type, "sensor_data", "depth"),
            VizTopic("thermal", s["thermal"].topic, s["thermal"].msg_type, "sensor_data",
                     "thermal"),
            VizTopic("lidar", s["lidar"].topic, s["lidar"].msg_type, "sensor_data", "lidar"),
            VizTopic("scene", "/omni/scene", SceneUnderstanding, "sensor_data", "scene"),
            VizTopic("commands", "/omni/teleop", TeleopCommand, "reliable"),
            VizTopic("task", "/omni/task_status", TaskStatus, "reliable"))


def rerun_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("rerun") is not None


def _port_free(port: int, name: str) -> None:
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError as err:
            raise ConfigError(f"parameter '{name}' = {port}: the port is in use ({err}); "
                              f"choose a free one") from None


def scaled_camera_info(msg, k: int):
    """CameraInfo of the images downscaled by ``k`` (pixel k*i kept as pixel i, so x' = x / k):
    size and the intrinsics in K and P (fx, fy, cx, cy, Tx) divided by ``k``."""
    out = copy.deepcopy(msg)
    out.width, out.height = -(-msg.width // k), -(-msg.height // k)
    K, P = [float(v) for v in msg.k], [float(v) for v in msg.p]
    for i in (0, 2, 4, 5):
        K[i] /= k
    for i in (0, 2, 3, 5, 6):
        P[i] /= k
    out.k, out.p = K, P
    return out


class Viz(Node):
    def __init__(self, **kwargs):
        super().__init__("viz", **kwargs)
        # the caps follow `ros2 param set` (validated; the config changes in place and the
        # message paths read it per message); ports and what is served stay read-only
        self.cfg = cfg = declare_config(self, VizConfig, runtime=True,
                                        on_change=lambda _: self._set_rates())
        self.cap = RateCap({})
        self._set_rates()
        self.rerun = self.fox = None
        if cfg.rerun and not rerun_available():
            self.get_logger().warning(
                "rerun: rerun-sdk is not installed (its wheels need Python >= 3.11; this is "
                f"{sys.version.split()[0]}): no web viewer, Foxglove only")
        elif cfg.rerun:
            from ..viz.rerun_out import RerunOut

            _port_free(cfg.grpc_port, "grpc_port")
            _port_free(cfg.web_port, "web_port")
            self.rerun = RerunOut(cfg.grpc_port, cfg.web_port, cfg.memory_limit, cfg.lidar_pose)
            self.get_logger().info(f"rerun web viewer: {self.rerun.url}")
        if cfg.foxglove:
            from ..viz.foxglove_out import FoxgloveOut

            try:
                self.fox = FoxgloveOut(cfg.foxglove_host, cfg.foxglove_port)
            except Exception as err:  # the port is taken, a bad address
                raise ConfigError(f"parameters 'foxglove_host'/'foxglove_port' = "
                                  f"{cfg.foxglove_host}:{cfg.foxglove_port}: cannot serve "
                                  f"there ({err})") from None
            self.get_logger().info(f"foxglove websocket: {self.fox.url}")
        self.guard = GuardedInputs(self)
        self.guard.extra_statuses = self._status
        self.sent_bytes: dict[str, int] = {}  # CDR bytes served to Foxglove clients per stream
        self._rerun_log: dict[str, Callable[[Any], None]] = {
            "color": self._color, "depth": self._depth, "thermal": self._thermal,
            "lidar": self._lidar, "scene": lambda m: self.rerun.scene(cv.msg_to_scene(m)),
            "commands": lambda m: self.rerun.command(cv.msg_to_command(m)),
            "task": self._task}
        self._topic = {}
        for t in topics():
            self._topic[t.key] = t
            if self.fox is not None:
                self.fox.add_topic(t.topic, type_name(t.msg_type), message_definition(t.msg_type))
            self.guard.subscribe(t.key, t.msg_type, t.topic, lambda m: m, self._on_message,
                                 qos_for(t.qos))

    def _set_rates(self) -> None:
        self.cap.rates = {t.key: getattr(self.cfg.max_rate_hz, t.rate) for t in topics() if t.rate}

    def _on_message(self, key: str, _, msg) -> None:
        if not self.cap.admit(key, time.monotonic()):
            return
        topic = self._topic[key].topic
        if self.fox is not None and self.fox.wanted(topic):
            cdr = serialize_message(self._thinned(key, msg))
            self.fox.publish(topic, cdr, time.time_ns())
            self.sent_bytes[key] = self.sent_bytes.get(key, 0) + len(cdr)
        if self.rerun is not None and key in self._rerun_log:
            self._rerun_log[key](msg)

    def _status(self) -> list:
        """/diagnostics: per stream, messages forwarded and skipped by the rate caps, and
        bytes served to Foxglove clients; where to open the viewers."""
        values = []
        for t in topics():
            counts = {"forwarded": self.cap.admitted.get(t.key, 0),
                      "skipped": self.cap.skipped.get(t.key, 0),
                      "foxglove_bytes": self.sent_bytes.get(t.key, 0)}
            values += [KeyValue(key=f"{t.key}.{k}", value=str(v)) for k, v in counts.items()]
        where = [u for u in (self.rerun and self.rerun.url, self.fox and self.fox.url) if u]
        return [DiagnosticStatus(level=DiagnosticStatus.OK, name=f"{self.get_name()}: streams",
                                 hardware_id=self.get_name(), message=" ".join(where),
                                 values=values)]

    def _thinned(self, key: str, msg):
        """The message as sent to Foxglove: images downscaled, clouds thinned (as configured)."""
        k, n = self.cfg.image_downscale, self.cfg.lidar_max_points
        stamp = cv.stamp_to_ns(msg.header.stamp)
        if key in ("color", "depth", "thermal") and k > 1:
            return cv.numpy_to_image(downscale(cv.image_to_numpy(msg), k), msg.encoding,
                                     msg.header.frame_id, stamp)
        if key == "camera_info" and k > 1:
            return scaled_camera_info(msg, k)
        if key == "lidar" and n > 0 and msg.width * msg.height > n:
            pts = cv.pointcloud2_to_array(msg, cv.pointcloud.XYZI)
            return cv.array_to_pointcloud2(thin_points(pts.reshape(-1, 4), n),
                                           cv.pointcloud.XYZI, msg.header.frame_id, stamp)
        return msg

    @staticmethod
    def _stamp(msg) -> int:
        return cv.stamp_to_ns(msg.header.stamp)

    def _color(self, msg) -> None:
        img = downscale(cv.image_to_numpy(msg), self.cfg.image_downscale)
        self.rerun.image("camera/color", self._stamp(msg), img)

    def _depth(self, msg) -> None:
        self.rerun.depth("camera/depth", self._stamp(msg),
                         downscale(cv.depth_to_metres(msg), self.cfg.image_downscale))

    def _thermal(self, msg) -> None:
        self.rerun.thermal("thermal/image", self._stamp(msg),
                           downscale(cv.image_to_numpy(msg), self.cfg.image_downscale))

    def _lidar(self, msg) -> None:
        pts = cv.pointcloud2_to_array(msg, cv.pointcloud.XYZI).reshape(-1, 4)[:, :3]
        self.rerun.cloud(self._stamp(msg), thin_points(pts, self.cfg.lidar_max_points))

    def _task(self, m) -> None:
        self.rerun.task(self._stamp(m), m.state, m.command, m.primitive, m.step, m.steps,
                        m.reason)

    def destroy_node(self):
        if self.fox is not None:
            self.fox.close()
        if self.rerun is not None:
            self.rerun.close()
        return super().destroy_node()


def main(args=None) -> int:
    return spin_node(lambda: Viz(), args)


if __name__ == "__main__":
    sys.exit(main())
