"""sensor_monitor: subscribes to every sensor topic, validates each message by decoding it, and
reports per-topic rate, latency, bandwidth and rejected messages (table + /diagnostics).

A field tool for a robot's sensor streams, and the receiving half of ``omni-ros demo``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from rclpy.node import Node

from ..core.config import param
from .common import QOS_CHOICES, GuardedInputs, qos_for, spin_node
from .diagnostics_config import DiagnosticsConfig
from .params import declare_config
from .topics import SENSOR_BY_KEY, SENSOR_TOPICS

ALL_KEYS = tuple(s.key for s in SENSOR_TOPICS)


@dataclass
class SensorMonitorConfig:
    inputs: list[str] = param(list(ALL_KEYS), "sensor streams to watch", choices=ALL_KEYS)
    qos: str = param("sensor_data", "QoS of the subscriptions", choices=QOS_CHOICES)
    report_period_s: float = param(0.0, "log the table this often [s]; 0 = only at exit",
                                   min=0.0, max=3600.0)
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)


class SensorMonitor(Node):
    def __init__(self, **kwargs):
        super().__init__("sensor_monitor", **kwargs)
        self.cfg = cfg = declare_config(self, SensorMonitorConfig, runtime=True)
        self.guard = GuardedInputs(self, diagnostics=cfg.diagnostics)
        for key in cfg.inputs:
            s = SENSOR_BY_KEY[key]
            self.guard.subscribe(key, s.msg_type, s.topic, s.decode, self._on_message,
                                 qos_for(cfg.qos))
        if cfg.report_period_s > 0:
            self.create_timer(cfg.report_period_s, lambda: self.get_logger().info("\n" + self.report()))

    def _on_message(self, key, value, msg) -> None:
        pass  # decoding (done by GuardedInputs) is the check; counts live in self.guard.health

    def report(self) -> str:
        """A fixed-width table of what each topic delivered."""
        head = (f"{'topic':<26} {'type':<13} {'ok':>5} {'bad':>4} {'Hz':>7} {'nominal':>7} "
                f"{'lat p50 ms':>10} {'p99 ms':>7} {'MB/s':>7}  rejected because")
        lines = [head, "-" * len(head)]
        for key in self.cfg.inputs:
            s, st = SENSOR_BY_KEY[key], self.guard.health.stats(key)
            span_s = (st.last_ns - st.first_ns) / 1e9 if st.accepted > 1 else 0.0
            mbps = st.bytes / span_s / 1e6 if span_s > 0 else 0.0
            reasons = ", ".join(f"{f} x{n}" for f, n in sorted(st.rejected.items()))
            lines.append(
                f"{s.topic:<26} {s.msg_type.__name__:<13} {st.accepted:>5} {st.rejected_total:>4} "
                f"{st.rate_hz():>7.1f} {s.rate_hz:>7.1f} {st.latency_ms(50):>10.2f} "
                f"{st.latency_ms(99):>7.2f} {mbps:>7.2f}  {reasons}")
        return "\n".join(lines)


def watch_talker(talker_params: dict, drain_s: float = 0.5,
                 extra_env: dict | None = None) -> tuple[SensorMonitor, int]:
    """Start ``demo_talker`` in a second process with ``talker_params`` and watch its streams
    from this one until it exits (plus ``drain_s`` for messages still in flight).

    Returns the monitor (its ``guard.health`` holds the counts) and the talker's exit code.
    Initialises and shuts down rclpy in this process.
    """
    import os
    import subprocess
    import time

    import rclpy

    cmd = [sys.executable, "-m", "omni_ros.nodes.demo_talker", "--ros-args", "--log-level", "warn"]
    for name, value in talker_params.items():
        cmd += ["-p", f"{name}:={str(value).lower() if isinstance(value, bool) else value}"]
    rclpy.init(args=[])
    monitor = SensorMonitor()
    talker = subprocess.Popen(cmd, env=dict(os.environ, **(extra_env or {})))
    try:
        while talker.poll() is None:
            rclpy.spin_once(monitor, timeout_sec=0.05)
        drain_until = time.monotonic() + drain_s
        while time.monotonic() < drain_until:
            rclpy.spin_once(monitor, timeout_sec=0.05)
    finally:
        if talker.poll() is None:
            talker.terminate()
            talker.wait(timeout=10)
        monitor.destroy_node()
        rclpy.shutdown()
    return monitor, talker.returncode


def main(args=None) -> int:
    holder = {}

    def make():
        holder["node"] = SensorMonitor()
        return holder["node"]

    code = spin_node(make, args)
    if "node" in holder:
        print(holder["node"].report())
    return code


if __name__ == "__main__":
    sys.exit(main())
