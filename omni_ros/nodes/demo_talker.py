"""demo_talker: publishes deterministic sample data on every sensor topic at its nominal rate.

A stand-in robot for demos, tests and benchmarks until the simulation bridge exists. With
``once:=true`` it publishes every sensor and output message type exactly once over reliable QoS,
waits until each is acknowledged by its subscribers, and exits - the cross-process DDS test.
With ``garbage_every:=N`` every N-th message on each topic is malformed on purpose.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from rclpy.duration import Duration
from rclpy.node import Node

from ..core.config import param
from ..samples import OUTPUT_TOPICS, SampleSizes, garbage_sample, output_sample, sensor_sample
from .common import QOS_CHOICES, qos_for, spin_node
from .params import declare_config
from .topics import SENSOR_TOPICS


# Stamp of every message in ``once`` mode, so receivers can regenerate them exactly.
ONCE_STAMP_NS = 1_700_000_000_123_456_789


@dataclass
class DemoTalkerConfig:
    seed: int = param(0, "seed of the sample data", min=0, max=2**31 - 1)
    duration_s: float = param(3.0, "stream this long, then exit [s]; 0 = until stopped",
                              min=0.0, max=86400.0)
    rate_scale: float = param(1.0, "multiplies every stream's nominal rate", min=0.01, max=10.0)
    qos: str = param("sensor_data", "QoS of the publishers", choices=QOS_CHOICES)
    garbage_every: int = param(0, "make every N-th message malformed (0 = never)", min=0,
                               max=1_000_000)
    once: bool = param(False, "publish each message type once (reliable QoS), wait for acks, exit")
    wait_for_subscribers_s: float = param(
        10.0, "wait up to this long for a subscriber on every topic before publishing [s]",
        min=0.0, max=600.0)
    sizes: SampleSizes = field(default_factory=SampleSizes)


class DemoTalker(Node):
    def __init__(self):
        super().__init__("demo_talker")
        self.cfg = cfg = declare_config(self, DemoTalkerConfig)
        qos = qos_for("reliable" if cfg.once else cfg.qos)
        self.pubs = {s.key: self.create_publisher(s.msg_type, s.topic, qos) for s in SENSOR_TOPICS}
        if cfg.once:
            self.pubs.update({k: self.create_publisher(t, topic, qos)
                              for k, (topic, t) in OUTPUT_TOPICS.items()})
        self.done = False
        self.exit_code = 0
        self.sent = {k: 0 for k in self.pubs}
        self._t0 = time.monotonic()
        self._start_timer = self.create_timer(0.02, self._start_when_matched)
        self._stream_timers = []

    def _start_when_matched(self) -> None:
        unmatched = [k for k, p in self.pubs.items() if p.get_subscription_count() == 0]
        waited = time.monotonic() - self._t0
        if unmatched and waited < self.cfg.wait_for_subscribers_s:
            return
        self._start_timer.cancel()
        if unmatched:
            self.get_logger().warning(f"no subscriber after {waited:.1f} s on: {unmatched}")
        self.get_logger().info(f"publishing after {waited:.2f} s of discovery")
        if self.cfg.once:
            self._publish_once()
            return
        self._t_start = time.monotonic()
        for s in SENSOR_TOPICS:
            period = 1.0 / (s.rate_hz * self.cfg.rate_scale)
            self._stream_timers.append(
                self.create_timer(period, lambda s=s: self._publish_next(s.key, s.frame_id)))
        if self.cfg.duration_s > 0:
            self._stream_timers.append(self.create_timer(0.05, self._check_duration))

    def _publish_next(self, key: str, frame_id: str) -> None:
        i = self.sent[key]
        bad = self.cfg.garbage_every and (i + 1) % self.cfg.garbage_every == 0
        make = garbage_sample if bad else sensor_sample
        msg = make(key, self.cfg.seed, i, 0, self.cfg.sizes, frame_id)
        msg.header.stamp = self.get_clock().now().to_msg()  # after generating: stamp = send time
        self.pubs[key].publish(msg)
        self.sent[key] = i + 1

    def _check_duration(self) -> None:
        if time.monotonic() - self._t_start >= self.cfg.duration_s:
            for t in self._stream_timers:
                t.cancel()
            self.get_logger().info(f"sent {self.sent}")
            self.done = True

    def _publish_once(self) -> None:
        stamp = ONCE_STAMP_NS
        for s in SENSOR_TOPICS:
            self.pubs[s.key].publish(sensor_sample(s.key, self.cfg.seed, 0, stamp, self.cfg.sizes,
                                                   s.frame_id))
        for key in OUTPUT_TOPICS:
            self.pubs[key].publish(output_sample(key, self.cfg.seed, stamp))
        for key, pub in self.pubs.items():
            self.sent[key] = 1
            if not pub.wait_for_all_acked(Duration(seconds=30)):
                self.get_logger().error(f"{key}: not acknowledged within 30 s")
                self.exit_code = 1
        self.done = True


def main(args=None) -> int:
    return spin_node(DemoTalker, args)


if __name__ == "__main__":
    sys.exit(main())
