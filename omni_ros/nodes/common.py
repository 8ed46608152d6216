"""Shared plumbing for omni_ros nodes: QoS, guarded subscriptions, diagnostics, the main loop."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import traceback
from typing import Any, Callable

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.event_handler import SubscriptionEventCallbacks, UnsupportedEventTypeError
from rclpy.executors import ExternalShutdownException
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data

from ..conversions import health_to_diagnostics, stamp_to_ns
from ..core.config import ConfigError
from ..core.errors import InputError
from ..core.health import HealthBook, RateConfig

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


# A refused message at least this big [bytes] hands the freed heap back to the OS (below).
TRIM_AFTER_BYTES = 1 << 20


def _heap_trimmer() -> Callable[[int], Any]:
    """glibc's ``malloc_trim(0)``, or a no-op where the C library has none (musl, macOS).

    A huge message (a 4096² depth image, a 2 M-point cloud) is copied into Python and freed
    once refused, but glibc keeps the freed pages in the heap: perception's RSS stayed
    +130-165 MB after the fuzz suite's huge cases (436 -> 569-602 MB in 6 runs, against the
    600 MB budget); trimmed on the next diagnostics tick after a big refusal (once the message
    is freed): 522-549 MB in 3 runs. (MALLOC_ARENA_MAX / MMAP / TRIM thresholds did not help.)"""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return lambda *_: 0


class GuardedInputs:
    """Subscriptions whose callbacks never take the node down.

    Each message is first checked (``check(msg)``: bounds, frame; before any work) and
    decoded; an :class:`~omni_ros.core.errors.InputError` (a ``ConversionError``, or a bound
    broken further in, e.g. by a modality's window) is counted under its field, logged
    (throttled) and dropped; an unexpected exception is counted as ``internal`` and logged with
    its traceback. Good messages go to ``handler(key, decoded, msg)``. Messages the middleware
    reports lost before delivery (a huge best-effort message whose fragments never all arrived)
    are counted as ``lost`` on /diagnostics.
    """

    def __init__(self, node: Node, diagnostics_period_s: float = 1.0, log_period_s: float = 1.0,
                 diagnostics=None):
        """``diagnostics``: how rates are judged and each input's nominal rate (the node's
        live :class:`~omni_ros.nodes.diagnostics_config.DiagnosticsConfig`); without one, no
        input is rate-checked (silence and rejections still are)."""
        self.node = node
        self.health = HealthBook(rates=diagnostics if diagnostics is not None else RateConfig(),
                                 nominal=getattr(diagnostics, "nominal_hz", None))
        self._log_period_ns = int(log_period_s * 1e9)
        self._last_log_ns: dict[str, int] = {}
        self.extra_statuses: Callable[[], list] | None = None  # more DiagnosticStatus per period
        self._diag_pub = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._timer = node.create_timer(diagnostics_period_s, self.publish_diagnostics)
        self.subscriptions: list = []
        self._trim_heap = _heap_trimmer()
        self._trim_due = False

    def close(self) -> None:
        """Destroy every subscription, the diagnostics timer and publisher this made."""
        for sub in self.subscriptions:
            self.node.destroy_subscription(sub)
        self.subscriptions = []
        self.node.destroy_timer(self._timer)
        self.node.destroy_publisher(self._diag_pub)

    def subscribe(self, key: str, msg_type: type, topic: str, decode: Callable[[Any], Any],
                  handler: Callable[[str, Any, Any], None], qos: QoSProfile,
                  check: Callable[[Any], None] | None = None, callback_group=None):
        self.health.stats(key)

        def callback(msg):
            now = self.node.get_clock().now().nanoseconds
            try:
                if check is not None:
                    check(msg)
                value = decode(msg)
            except InputError as err:
                self.reject(key, now, err, topic, message_size(msg))
                return
            except Exception as err:  # a bug, not bad data: keep running, say so loudly
                self.health.reject(key, now, "internal", repr(err))
                self._log(key, now, f"error decoding {topic}: {traceback.format_exc()}", error=True)
                return
            header = getattr(msg, "header", None)
            stamp_ns = stamp_to_ns(header.stamp) if header is not None else None
            try:
                handler(key, value, msg)
                self.health.accept(key, now, stamp_ns, message_size(msg))
            except InputError as err:  # out of bounds further in (a window, the clock)
                self.reject(key, now, err, topic, message_size(msg))
            except Exception as err:  # a bug in the node: say so loudly, keep serving the rest
                if not self.node.context.ok():
                    return  # shutting down: publishers are gone, nothing is wrong
                self.health.reject(key, now, "internal", repr(err))
                self._log(key, now, f"error handling {topic}: {traceback.format_exc()}", error=True)

        def lost(info):  # the middleware dropped messages before they reached ``callback``
            self.health.lose(key, info.total_count_change)

        try:
            sub = self.node.create_subscription(
                msg_type, topic, callback, qos, callback_group=callback_group,
                event_callbacks=SubscriptionEventCallbacks(message_lost=lost))
        except UnsupportedEventTypeError:  # an RMW that does not report lost messages
            sub = self.node.create_subscription(msg_type, topic, callback, qos,
                                                callback_group=callback_group)
        self.subscriptions.append(sub)
        return sub

    def reject(self, key: str, now_ns: int, err: InputError, topic: str = "",
               size: int = 0) -> None:
        """Count ``err`` against input ``key`` under its field and log it (throttled); a
        refused message of ``size`` >= TRIM_AFTER_BYTES gives its freed memory back."""
        self.health.reject(key, now_ns, err.field, str(err))
        self._log(key, now_ns, f"rejected {topic or key}: {err}")
        self._trim_due |= size >= TRIM_AFTER_BYTES  # trimmed by the timer, once it is freed

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
        if self._trim_due:
            self._trim_due = False
            self._trim_heap(0)
        now = self.node.get_clock().now().nanoseconds
        msg = health_to_diagnostics(self.health, self.node.get_name(), now)
        if self.extra_statuses is not None:
            msg.status += self.extra_statuses()
        self._diag_pub.publish(msg)


def spin_node(factory: Callable[[], Node], args=None, stop_grace_s: float = 8.0) -> int:
    """Init rclpy, build the node and spin it until SIGINT / SIGTERM, shutdown, or ``node.done``
    turns true. A node with ``tick()`` and ``wait_s()`` is driven by its own loop: callbacks are
    served for up to ``wait_s()`` seconds (at most 0.1 s) between ticks. Exit code: 2 on bad
    parameters, else ``node.exit_code`` (default 0) - also after SIGINT or SIGTERM.

    Stopping (when called in the main thread, as every node's ``main`` is): the first SIGINT or
    SIGTERM only sets a flag, checked before the node is built and between callbacks and ticks
    (at least every 0.1 s); the node is then destroyed and rclpy shut down here, in this thread,
    before the interpreter exits. From then on a SIGTERM kills at once (its default action: how
    the launcher and ROS 2 launch escalate); more SIGINTs change nothing (a terminal's Ctrl-C
    and ROS 2 launch both send one). A teardown stuck for ``stop_grace_s`` seconds prints every
    thread's traceback and exits with 1.

    rclpy's own signal handlers are not installed. They shut the context down from rclpy's
    signal thread while this thread is still building the node or ticking (RCLError: "context
    is invalid", exit 1), raise KeyboardInterrupt at whatever line runs (in rclpy, in the
    physics, in ``destroy_node``) - and, with the context already down, ``rclpy.shutdown`` was
    skipped: the DDS teardown was left to interpreter exit (sim_bridge: 3.4-5.4 s instead of
    2.2-3.3 s on an idle machine), during which rclpy's handler was still installed and
    swallowed every SIGTERM - the launcher's escalation after its SIGINT - so a ``sim_bridge``
    slow to exit could only be SIGKILLed.
    """
    import faulthandler
    import signal
    import threading

    from rclpy.signals import SignalHandlerOptions

    stopping: list[int] = []  # the signal that asked this node to stop

    def on_signal(signum, frame) -> None:
        if not stopping:
            stopping.append(signum)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

    main = threading.current_thread() is threading.main_thread()
    if main:  # (in another thread, e.g. a test's, rclpy's handlers and exceptions stop it)
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO if main else None)
    node = None
    try:
        if not stopping:  # (a signal during rclpy.init: no node at all)
            node = factory()
        tick = getattr(node, "tick", None)
        while not stopping and rclpy.ok() and not getattr(node, "done", False):
            try:
                rclpy.spin_once(node, timeout_sec=0.1 if tick is None else min(node.wait_s(), 0.1))
                if tick is not None and not stopping and rclpy.ok():
                    tick()
            except (_rclpy.RCLError, RuntimeError):
                # Someone shut the context down under a wait or a take in progress; anything
                # else is a real error.
                if rclpy.ok():
                    raise
    except ConfigError as err:
        print(f"invalid parameters: {err}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if main:  # a teardown stuck for good (DDS, a library): say where, and end
            faulthandler.dump_traceback_later(stop_grace_s, exit=True)
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
        if main:
            faulthandler.cancel_dump_traceback_later()
    return int(getattr(node, "exit_code", 0))
