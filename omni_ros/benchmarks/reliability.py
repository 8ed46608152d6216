"""Reliability benchmark: a soak of the whole sim graph, and recovery from killed nodes.

Soak (``soak_s``, default 10 min): the graph of ``omni-ros up --sim`` runs with every sensor on;
the bench samples perception's resident memory every ``sample_s`` (its slope, by a least-squares
line, in MB per hour; and its peak against the 600 MB budget), counts /omni/scene per second of
sim time and of wall time, and counts "absent with fresh data": modality slots of a scene marked
absent although the bench itself saw that modality's sensor data stamped within its max age
(less a 50 ms transport margin) before the scene. That count was 248 over 11,643 scenes before
stamps a few ms ahead of the clock were taken as fresh.

Kill / respawn: the graph runs with ``--respawn`` for perception, teleop and action; each is
killed with SIGKILL ``kills`` times and the bench measures, in wall time from the kill: the
launcher's restart (back-off included), and the node serving again - perception: the next
/omni/scene; teleop: a typed "stop" coming out on /omni/teleop; action: that stop answered on
/omni/task_status. All times are wall seconds on this machine; memory in MB.
"""

from __future__ import annotations

import os
import time

import numpy as np
from rclpy.qos import qos_profile_sensor_data

from ..conversions import stamp_to_ns
from ..core.model.modalities import sensors
from ..streams import SENSOR_STREAMS
from .live import live_graph

RSS_BUDGET_MB = 600.0
FRESH_MARGIN_S = 0.05


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


class SensorStamps:
    """The newest stamp the bench saw of each modality's primary stream (sim time, ns)."""

    def __init__(self, op):
        self.newest: dict[str, list[int]] = {}
        for s in SENSOR_STREAMS:
            if s.info or not s.modality or s.key == "joints":
                continue
            self.newest.setdefault(s.modality, [])
            op.create_subscription(s.msg_type, s.topic,
                                   lambda m, k=s.modality: self.newest[k].append(
                                       stamp_to_ns(m.header.stamp)), qos_profile_sensor_data)

    def fresh_before(self, modality: str, stamp_ns: int, max_age_s: float) -> bool:
        """Whether data of ``modality`` stamped within ``max_age_s`` - margin before
        ``stamp_ns`` was seen."""
        lo = stamp_ns - (max_age_s - FRESH_MARGIN_S) * 1e9
        return any(lo <= t <= stamp_ns for t in reversed(self.newest.get(modality, [])[-50:]))


def soak(soak_s: float = 600.0, sample_s: float = 5.0, seed: int = 21) -> dict:
    max_age = {m.name: m.max_age_s for m in sensors()}
    with live_graph(seed) as (graph, op):
        stamps = SensorStamps(op)
        assert op.spin_until(lambda: op.scene is not None, 180), "no /omni/scene"
        pid = graph.procs["perception"].pid
        n0, sim0, t0 = len(op.scenes), op.scenes[-1][0], time.monotonic()
        rss, slots, checked = [], 0, len(op.scenes)
        absent_fresh = {name: 0 for name in max_age}
        load = [os.getloadavg()[0]]
        while time.monotonic() - t0 < soak_s:
            op.spin_until(lambda: False, sample_s)
            rss.append((time.monotonic() - t0, rss_mb(pid)))
            for _, scene in op.scenes[checked:]:
                for name, present in zip(scene.modalities, scene.present):
                    slots += 1
                    if not present and stamps.fresh_before(name, scene.stamp_ns, max_age[name]):
                        absent_fresh[name] += 1
            checked = len(op.scenes)
            load.append(os.getloadavg()[0])
            assert all(c is None for c in graph.poll().values()), graph.poll()
        scenes = len(op.scenes) - n0
        sim_s = (op.scenes[-1][0] - sim0) / 1e9
        wall_s = time.monotonic() - t0
    t, mb = np.array(rss).T
    slope = float(np.polyfit(t, mb, 1)[0] * 3600) if len(t) > 2 else float("nan")
    return {"soak_s": round(wall_s, 1), "sim_s": round(sim_s, 1), "scenes": scenes,
            "scene_rate_sim_hz": round(scenes / sim_s, 2),
            "scene_rate_wall_hz": round(scenes / wall_s, 2),
            "rss_start_mb": round(float(mb[0]), 1), "rss_end_mb": round(float(mb[-1]), 1),
            "rss_peak_mb": round(float(mb.max()), 1), "rss_slope_mb_per_h": round(slope, 1),
            "rss_budget_mb": RSS_BUDGET_MB, "modality_slots": slots,
            "absent_with_fresh_data": sum(absent_fresh.values()),
            "absent_with_fresh_by_modality": {k: v for k, v in absent_fresh.items() if v},
            "load_average_1min_median": round(float(np.median(load)), 2)}


def recovery(kills: int = 3, seed: int = 23, timeout_s: float = 120.0) -> dict:
    """Per node: restart and serve-again times after SIGKILL [s, wall]."""
    out: dict[str, dict] = {}
    nodes = ("perception", "teleop", "action")
    with live_graph(seed, respawn=nodes) as (graph, op):
        assert op.spin_until(lambda: op.scene is not None, 180), "no /omni/scene"
        assert op.spin_until(lambda: op.text_pub.get_subscription_count() > 0, 60)
        for node in nodes:
            restart, serve = [], []
            for _ in range(kills):
                n_restarts = len(graph.restarts[node])
                n_scenes, n_heard, n_status = len(op.scenes), len(op.heard), len(op.statuses)
                killed = graph.kill(node)
                assert op.spin_until(lambda: len(graph.restarts[node]) > n_restarts and
                                     graph.restarts[node][-1].started_s is not None, timeout_s), \
                    f"{node} was not restarted"
                restart.append(graph.restarts[node][-1].started_s - killed)
                if node == "perception":
                    ok = op.spin_until(lambda: len(op.scenes) > n_scenes and
                                       graph.restarts[node][-1].started_s <= time.monotonic(),
                                       timeout_s)
                    # scenes from before the kill may still be in flight: wait for one made by
                    # the new process (its first log line says so)
                    ok = ok and op.spin_until(
                        lambda: any("first /omni/scene" in line
                                    for _, inc, line in graph.timed_lines(node)
                                    if inc == len(graph.restarts[node])), timeout_s)
                else:
                    def served() -> bool:
                        if node == "teleop":
                            return any(c.intent == "stop" for c in op.heard[n_heard:])
                        return any(s.intent == "stop" for s in op.statuses[n_status:])
                    ok = False
                    end = time.monotonic() + timeout_s
                    while not ok and time.monotonic() < end:  # until the new node hears it
                        op.type("stop")
                        ok = op.spin_until(served, 2.0)
                assert ok, f"{node} did not serve again within {timeout_s:g} s"
                serve.append(time.monotonic() - killed)
                op.spin_until(lambda: False, 3.0)  # let it settle (back-off resets later)
            out[node] = {"kills": kills, "restart_s_median": round(float(np.median(restart)), 2),
                         "serving_again_s_median": round(float(np.median(serve)), 2),
                         "serving_again_s_max": round(float(np.max(serve)), 2)}
        assert all(c is None for c in graph.poll().values()), graph.poll()
    return out


def run(soak_s: float = 600.0, kills: int = 3) -> dict:
    return {"soak": soak(soak_s), "recovery": recovery(kills), "cpu_count": os.cpu_count()}


def markdown(result: dict) -> str:
    s = result["soak"]
    lines = [
        f"## Soak: {s['soak_s'] / 60:.1f} min wall ({s['sim_s']:.0f} s sim), whole sim graph",
        "",
        "| measure | value |", "|---|---:|",
        f"| scenes | {s['scenes']} |",
        f"| scene rate, per sim second / per wall second | {s['scene_rate_sim_hz']} / "
        f"{s['scene_rate_wall_hz']} Hz |",
        f"| perception RSS start -> end (peak) | {s['rss_start_mb']} -> {s['rss_end_mb']} "
        f"({s['rss_peak_mb']}) MB, budget {s['rss_budget_mb']:.0f} |",
        f"| perception RSS slope (least squares) | {s['rss_slope_mb_per_h']} MB/h |",
        f"| modality slots marked absent with fresh data | {s['absent_with_fresh_data']} of "
        f"{s['modality_slots']} {s.get('absent_with_fresh_by_modality', '')} |",
        f"| machine load (1-min load average, median; {result.get('cpu_count')} cores) | "
        f"{s.get('load_average_1min_median', 'n/a')} |",
        "",
        "## Kill -9 and respawn (wall seconds from the kill; median of each node's kills)",
        "",
        "| node | kills | restarted (back-off incl.) | serving again (median / max) |",
        "|---|---:|---:|---:|",
    ]
    for node, r in result["recovery"].items():
        lines.append(f"| {node} | {r['kills']} | {r['restart_s_median']} | "
                     f"{r['serving_again_s_median']} / {r['serving_again_s_max']} |")
    lines += ["", "Serving again: perception's new process published its first /omni/scene; "
              "teleop turned a typed \"stop\" into /omni/teleop; action answered it on "
              "/omni/task_status."]
    return "\n".join(lines) + "\n"
