"""Shared plumbing for omni_ros nodes: QoS, guarded subscriptions, diagnostics, the main loop."""

from __future__ import annotations

import sys
import traceback
from typing import Any, Callable

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import ExternalShutdownException
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data

from ..conversions import ConversionError, health_to_diagnostics, stamp_to_ns
from ..core.config import ConfigError
from ..core.health import HealthBook

RELIABLE_QOS = QoSProfile(depth=10)
QOS_CHOICES = ("sensor_data", "reliable")


def qos_for(name: str, depth: int | None = None) -> QoSProfile:
    """``sensor_data`` (best effort, shallow) or ``reliable`` (depth 10); ``depth`` overrides
    the history depth (a stream whose every message matters to a slow callback, e.g. audio)."""
    qos = qos_profile_sensor_data if name == "sensor_data" else RELIABLE_QOS
    if depth is None:
        return qos
    return QoSProfile(history=qos.history, depth=depth, reliability=qos.reliability,
                      durability=qos.durability)


def message_size(msg: Any) -> int:
    """Bytes of the largest payload field of ``msg`` (data, forces) - for bandwidth tables."""
    data = getattr(msg, "data", None)
    if data is not None:
        return len(data) * getattr(data, "itemsize", 1)
    pads = getattr(msg, "pads", None)
    return sum(len(p.forces) * 4 for p in pads) if pads else 0


class GuardedInputs:
    """Subscriptions whose callbacks never take the node down.

    Each message is decoded; a :class:`ConversionError` is counted under its field, logged
    (throttled) and dropped; an unexpected exception is counted as ``internal`` and logged with
    its traceback. Good messages go to ``handler(key, decoded, msg)``.
    """

    def __init__(self, node: Node, diagnostics_period_s: float = 1.0, log_period_s: float = 1.0):
        self.node = node
        self.health = HealthBook()
        self._log_period_ns = int(log_period_s * 1e9)
        self._last_log_ns: dict[str, int] = {}
        self.extra_statuses: Callable[[], list] | None = None  # more DiagnosticStatus per period
        self._diag_pub = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._timer = node.create_timer(diagnostics_period_s, self.publish_diagnostics)
        self.subscriptions: list = []

    def close(self) -> None:
        """Destroy every subscription, the diagnostics timer and publisher this made."""
        for sub in self.subscriptions:
            self.node.destroy_subscription(sub)
        self.subscriptions = []
        self.node.destroy_timer(self._timer)
        self.node.destroy_publisher(self._diag_pub)

    def subscribe(self, key: str, msg_type: type, topic: str, decode: Callable[[Any], Any],
                  handler: Callable[[str, Any, Any], None], qos: QoSProfile):
        self.health.stats(key)

        def callback(msg):
            now = self.node.get_clock().now().nanoseconds
            try:
                value = decode(msg)
            except ConversionError as err:
                self.health.reject(key, now, err.field, str(err))
                self._log(key, now, f"rejected {topic}: {err}")
                return
            except Exception as err:  # a bug, not bad data: keep running, say so loudly
                self.health.reject(key, now, "internal", repr(err))
                self._log(key, now, f"error decoding {topic}: {traceback.format_exc()}", error=True)
                return
            header = getattr(msg, "header", None)
            stamp_ns = stamp_to_ns(header.stamp) if header is not None else None
            self.health.accept(key, now, stamp_ns, message_size(msg))
            try:
                handler(key, value, msg)
            except Exception as err:  # a bug in the node: say so loudly, keep serving the rest
                if not self.node.context.ok():
                    return  # shutting down: publishers are gone, nothing is wrong
                self.health.reject(key, now, "internal", repr(err))
                self._log(key, now, f"error handling {topic}: {traceback.format_exc()}", error=True)

        sub = self.node.create_subscription(msg_type, topic, callback, qos)
        self.subscriptions.append(sub)
        return sub

    def _log(self, key: str, now_ns: int, text: str, error: bool = False) -> None:
        """Log ``text`` unless this input logged within the last log period (per input, so one
        noisy topic cannot hide another)."""
        if now_ns - self._last_log_ns.get(key, -self._log_period_ns) < self._log_period_ns:
            return
        self._last_log_ns[key] = now_ns
        logger = self.node.get_logger()
        if error:  # rclpy binds a severity to each call site: one call per severity
            logger.error(text)
        else:
            logger.warning(text)

    def publish_diagnostics(self) -> None:
        now = self.node.get_clock().now().nanoseconds
        msg = health_to_diagnostics(self.health, self.node.get_name(), now)
        if self.extra_statuses is not None:
            msg.status += self.extra_statuses()
        self._diag_pub.publish(msg)


def spin_node(factory: Callable[[], Node], args=None) -> int:
    """Init rclpy, build the node and spin it until Ctrl-C, shutdown, or ``node.done`` turns
    true. A node with ``tick()`` and ``wait_s()`` is driven by its own loop: callbacks are
    served for up to ``wait_s()`` seconds between ticks. Exit code: 2 on bad parameters, else
    ``node.exit_code`` (default 0)."""
    rclpy.init(args=args)
    node = None
    try:
        node = factory()
        tick = getattr(node, "tick", None)
        while rclpy.ok() and not getattr(node, "done", False):
            try:
                rclpy.spin_once(node, timeout_sec=0.1 if tick is None else node.wait_s())
                if tick is not None and rclpy.ok():
                    tick()
            except (_rclpy.RCLError, RuntimeError):
                # A Ctrl-C / SIGTERM shuts the context down under a wait or a take in progress;
                # anything else is a real error.
                if rclpy.ok():
                    raise
    except ConfigError as err:
        print(f"invalid parameters: {err}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return int(getattr(node, "exit_code", 0))
