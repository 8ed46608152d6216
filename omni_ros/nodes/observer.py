"""StreamObserver: listens to every stream of the simulated robot, validates each message by
decoding it, and keeps what the demo reports and plots (rates in sim time, frames, wrench,
tactile, audio, grasp state)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rclpy.node import Node

from omni_ros_sim.config import SimConfig

from ..streams import STREAMS, nominal_rates
from .common import RELIABLE_QOS, GuardedInputs, qos_for

OPTIONAL = {"action_status", "task"}  # only present when something drives the robot


class StreamObserver(Node):
    def __init__(self, sim_cfg: SimConfig | None = None, **kwargs):
        super().__init__("demo_observer", **kwargs)
        self.nominal = nominal_rates(sim_cfg or SimConfig())
        self.guard = GuardedInputs(self)
        self.stamps: dict[str, list[int]] = {s.key: [] for s in STREAMS}
        self.series: dict[str, list] = {k: [] for k in ("wrench", "tactile", "audio", "color",
                                                         "ground_truth")}
        for s in STREAMS:
            qos = qos_for("sensor_data") if s.key in self.nominal and s.key != "ground_truth" \
                else RELIABLE_QOS
            self.guard.subscribe(s.key, s.msg_type, s.topic, s.decode, self._on, qos)
        self._streams = {s.key: s for s in STREAMS}

    def _on(self, key, value, msg) -> None:
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        self.stamps[key].append(stamp)
        if key in self.series:
            self.series[key].append((stamp, value))

    def sim_rate(self, key: str) -> float:
        t = self.stamps[key]
        return (len(t) - 1) / ((t[-1] - t[0]) / 1e9) if len(t) > 1 and t[-1] > t[0] else 0.0

    def sim_seconds(self) -> float:
        t = self.stamps["joints"]
        return (t[-1] - t[0]) / 1e9 if len(t) > 1 else 0.0

    def silent_streams(self) -> list[str]:
        return [k for k, t in self.stamps.items() if not t and k not in OPTIONAL]

    def report(self) -> str:
        head = f"{'topic':<26} {'type':<19} {'msgs':>5} {'Hz (sim)':>8} {'nominal':>7} {'rejected':>8}"
        lines = [head, "-" * len(head)]
        for key, s in self._streams.items():
            nominal = self.nominal.get(key)
            lines.append(f"{s.topic:<26} {s.msg_type.__name__:<19} {len(self.stamps[key]):>5} "
                         f"{self.sim_rate(key):>8.1f} {nominal if nominal else '-':>7} "
                         f"{self.guard.health.stats(key).rejected_total:>8}")
        return "\n".join(lines)

    def plot(self, path: Path, title: str) -> Path:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        path.parent.mkdir(parents=True, exist_ok=True)
        t0 = min((v[0][0] for v in self.series.values() if v), default=0)
        sec = lambda ns: (np.asarray(ns) - t0) / 1e9  # noqa: E731
        fig = plt.figure(figsize=(13, 7.5), layout="constrained")
        grid = fig.add_gridspec(2, 12)
        frames = self.series["color"]
        held_t = [t for t, gt in self.series["ground_truth"] if gt.grasping]
        picks = [0, len(frames) - 1]
        if held_t and frames:
            ts = np.array([t for t, _ in frames])
            picks = [0, int(np.searchsorted(ts, held_t[0])), int(np.searchsorted(ts, held_t[-1])) - 3,
                     len(frames) - 1]
        for i, k in enumerate(picks[:4]):
            if not frames:
                break
            ax = fig.add_subplot(grid[0, 3 * i:3 * i + 3])
            t, img = frames[min(max(k, 0), len(frames) - 1)]
            ax.imshow(img)
            ax.set_title(f"camera t={sec(t):.2f} s", fontsize=9)
            ax.axis("off")
        if self.series["wrench"]:
            t, w = zip(*self.series["wrench"])
            ax = fig.add_subplot(grid[1, 0:4])
            w = np.array(w)
            ax.plot(sec(t), np.linalg.norm(w[:, :3], axis=1), label="|F|")
            ax.plot(sec(t), w[:, 2], label="Fz", alpha=0.7)
            ax.set(xlabel="sim time [s]", ylabel="N", title="wrist force")
            ax.legend(fontsize=8)
        if self.series["tactile"]:
            t, pads = zip(*self.series["tactile"])
            ax = fig.add_subplot(grid[1, 4:8])
            for name in pads[0]:
                ax.plot(sec(t), [p[name].sum() for p in pads], label=name.replace("panda_", ""))
            ax.set(xlabel="sim time [s]", ylabel="N", title="tactile (sum per pad)")
            ax.legend(fontsize=8)
        if self.series["audio"]:
            t, chunks = zip(*self.series["audio"])
            x = np.concatenate(chunks) / 32768.0
            ts = sec(t[0]) + np.arange(len(x)) / 16000.0
            ax = fig.add_subplot(grid[1, 8:12])
            ax.plot(ts, x, lw=0.5)
            for tt, gt in self.series["ground_truth"]:
                for e in gt.events:
                    ax.axvline(sec(e.stamp_ns), color="r", alpha=0.4)
            ax.set(xlabel="sim time [s]", title="microphone (red: impacts)")
        fig.suptitle(title)
        fig.savefig(path, dpi=90)
        plt.close(fig)
        return path
