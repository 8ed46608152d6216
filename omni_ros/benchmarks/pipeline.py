"""End-to-end perception latency over real ROS 2: asynchronous pipeline vs the ApproximateTime
(synchronous) baseline, measured in the same run on the same recorded sensor stream.

One sim stream is recorded in process (default SimConfig, random scene of ``seed``, the
scripted expert picking and placing so contact and force change): every sensor message as
(sim offset, topic, message), made by ``omni_ros.streams.encode`` as the sim bridge makes it.
It is replayed (looped) at its original pace in wall time by a publisher node in this process
(sensor-data QoS, as the bridge; before every second of recording a short pause moves the phase
between the sensors and the node's fusion timer, see ``_Replay._shift``) into a perception node subprocess, once with ``mode:=async``
(``fuse_rate`` 30 Hz) and once with ``mode:=sync`` (default ``slop``). Every header.stamp is
rewritten to the wall clock at publish (a camera frame's colour, depth and camera_info share the
stamp of its first message, as an RGB-D driver stamps them). Both processes use Fast DDS with
the project's Fast DDS transport, with localhost-only discovery on a domain of their own
(:func:`omni_ros.dds_env.isolate`).

Per mode: phase 1 (``duration_s``, every sensor) measures the /omni/scene rate and two
latencies; phase 2 (``stop_s``) stops publishing the lidar (a dead sensor) and counts the scenes
still published (async: against ``duration x fuse_rate``; sync: against its own phase-1 rate)
and the lidar gate. CPU % and peak RSS of the perception process are sampled with psutil.

Latency (both are receive time in this process - the rmw reception stamp - minus a sensor stamp):
  * newest input (the headline): receive - stamp of the newest sensor input the scene used
    (the freshest present modality). Measured on every scene, it is how stale the freshest
    information of a scene is when a consumer gets it - what a controller acting on /omni/scene
    sees - and the quantity the latency targets refer to.
  * camera frame: each camera frame's stamp -> the first scene that used that frame. It follows
    the heaviest, slowest modality through encoding and, in async mode, the wait for the next
    fusion tick (up to 1/fuse_rate), so it is higher and shows what the camera adds.
The used input stamps come from the scene's ``ages``: input stamp = header.stamp - age (the
node stamps at publish and moves the ages with it). As a check, this process - which knows
every camera stamp it published - recovers per scene the offset ``delta`` between
``header.stamp - ages[camera]`` and the true frame stamp and removes it; it is ~0 unless the
node's stamping is wrong (figures before the correction are kept as ``*_as_reported``).
"""

from __future__ import annotations

import bisect
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import dds_env

FUSE_RATE = 30.0
RECORD_S = 7.0          # sim seconds recorded (covers approach, grasp, lift, place, release)
WARMUP_S = 1.0          # after the first scene arrives, before measuring
GRACE_S = 1.0           # after the lidar stops, before counting (> max_age.lidar = 0.4 s)
REPHASE_NS = 1_000_000_000  # see _Replay._shift
TAIL_S = 0.3            # keep receiving after the last phase for scenes in flight
START_TIMEOUT_S = 90.0  # node start: imports, checkpoint, discovery
MATCH_TOL_NS = 1_000_000
SENSOR_KEYS = ("joints", "wrench", "tactile", "audio", "lidar", "depth", "color")  # + camera_info
CAMERA_TOPICS = ("/camera/depth/image_raw", "/camera/color/image_raw", "/camera/camera_info")
COLOR_TOPIC, LIDAR_TOPIC, WRENCH_TOPIC = "/camera/color/image_raw", "/lidar/points", "/wrist/wrench"
# The node configurations a run can compare: name -> perception parameters.
MODES = {"async": {"mode": "async"}, "sync": {"mode": "sync"},
         "async_serial": {"mode": "async", "parallel_encoders": False},
         "async_all_threads": {"mode": "async",
                               "encoder_threads": ["camera", "lidar", "audio", "tactile", "force"]},
         # the tiered graph: an edge encoder process (every modality) and the region's fusion
         # node (perception with every latent from the encoder); its parameters here
         "tiered": {"mode": "async", "latent_inputs": ["all"]},
         # the default node on a compressed checkpoint (``run``'s ``params`` name which one)
         "async_compressed": {"mode": "async"}}
# Modes run as several processes, in start order: (module, node name, parameters); the last one
# publishes /omni/scene and gets the mode's parameters. The tiered graph's edge is two encoder
# processes, the heavy modalities and the cheap ones (as perception's encoder threads split them:
# a wrench never waits behind a camera frame).
TIER_NODES = {"tiered": (("encoder", "encoder_heavy", {"modalities": ["camera", "lidar"]}),
                         ("encoder", "encoder_light",
                          {"modalities": ["audio", "tactile", "force"]}),
                         ("fusion", "fusion", None))}
TARGETS = {"async_p50_ms": 10.0, "async_p99_ms": 25.0, "sync_over_async_p50": 3.0,
           "async_tick_share": 0.95, "sync_tick_share": 0.0, "rss_mb": 600.0}


# --- recording -----------------------------------------------------------------------------------
@dataclass
class Recording:
    messages: list = field(default_factory=list)  # (offset_ns, topic, msg, sim stamp_ns)
    length_ns: int = 0
    contact_changes: int = 0
    grasp_changes: int = 0
    # ground-truth state changes: (offset [ns], "in_contact" | "grasping", new value)
    state_changes: list = field(default_factory=list)
    wall_s: float = 0.0

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for _, topic, _, _ in self.messages:
            out[topic] = out.get(topic, 0) + 1
        return out


def record(seed: int = 0, seconds: float = RECORD_S, cfg=None) -> Recording:
    """``seconds`` of sim time of every sensor while the scripted expert works on a random task
    (``cfg``: the sim's SimConfig, default the default one)."""
    from omni_ros_sim.config import SimConfig
    from omni_ros_sim.expert import EpisodeRunner
    from omni_ros_sim.scene import random_scene
    from omni_ros_sim.tasks import random_task
    from omni_ros_sim.world import World

    from ..streams import EncodeContext, encode

    t_wall = time.perf_counter()
    scene = random_scene(seed)
    rec = Recording(length_ns=int(round(seconds * 1e9)))
    with World(scene, cfg or SimConfig(), seed) as world:
        runner = EpisodeRunner(world, random_task(scene, seed))
        ctx = EncodeContext.from_world(world)
        t0 = world.t_ns
        prev = None
        while world.t_ns - t0 < rec.length_ns:
            readings = runner.step()
            offset = world.t_ns - t0
            for r in readings:
                if r.key in SENSOR_KEYS:
                    rec.messages += [(offset, topic, msg, r.stamp_ns)
                                     for topic, msg in encode(r.key, r.stamp_ns, r.data, ctx)]
                elif r.key == "ground_truth":
                    state = (r.data.in_contact, r.data.grasping)
                    if prev is not None:
                        rec.contact_changes += state[0] != prev[0]
                        rec.grasp_changes += state[1] != prev[1]
                        rec.state_changes += [(offset, f, v) for f, v, p in
                                              zip(("in_contact", "grasping"), state, prev) if v != p]
                    prev = state
    rec.messages.sort(key=lambda m: m[0])  # stable: keeps the world's order within a step
    rec.wall_s = time.perf_counter() - t_wall
    return rec


# --- the node under test -------------------------------------------------------------------------
def _is_async(mode: str) -> bool:
    return MODES[mode]["mode"] == "async"


def _start_nodes(mode: str, env: dict, log, extra: dict | None = None) -> list[subprocess.Popen]:
    """The processes of ``mode``: the perception node, or the tiered graph's nodes (the last
    one publishes /omni/scene and gets the mode's parameters, and ``extra``)."""
    procs = []
    for module, name, params in TIER_NODES.get(mode, (("perception", "perception", None),)):
        params = params if params is not None else {"fuse_rate": FUSE_RATE, **MODES[mode],
                                                    **(extra or {})}
        cmd = [sys.executable, "-m", f"omni_ros.nodes.{module}", "--ros-args", "-r",
               f"__node:={name}"]
        for k, v in params.items():
            v = (str(v).lower() if isinstance(v, bool) else
                 f"[{', '.join(v)}]" if isinstance(v, (list, tuple)) else v)
            cmd += ["-p", f"{k}:={v}"]
        procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL))
    return procs


def stop_process(proc: subprocess.Popen) -> int:
    """SIGINT, wait, then kill: the node never outlives the benchmark."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


def _vm_hwm_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


# --- this process: publisher + scene listener ----------------------------------------------------
class _Replay:
    """Replays a Recording at its original pace (looped, re-phased each second), stamps at
    publish, listens to /omni/scene and /diagnostics. Single-threaded: publishing and receiving interleave in ``pump``."""

    def __init__(self, rec: Recording, domain_id: int):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from rclpy.qos import QoSProfile, qos_profile_sensor_data
        from rclpy.signals import SignalHandlerOptions

        from diagnostic_msgs.msg import DiagnosticArray
        from omni_ros_msgs.msg import SceneUnderstanding

        self.rec = rec
        self.context = rclpy.Context()
        rclpy.init(context=self.context, args=[], domain_id=domain_id,
                   signal_handler_options=SignalHandlerOptions.NO)
        try:
            self.node = Node("pipeline_bench", context=self.context)
            self.executor = SingleThreadedExecutor(context=self.context)
            self.executor.add_node(self.node)
            types = {topic: type(msg) for _, topic, msg, _ in rec.messages}
            self.pubs = {t: self.node.create_publisher(mt, t, qos_profile_sensor_data)
                         for t, mt in types.items()}
            self.node.create_subscription(SceneUnderstanding, "/omni/scene", self._on_scene,
                                          QoSProfile(depth=100))
            self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics,
                                          QoSProfile(depth=10))
        except BaseException:
            self.close()
            raise
        self.scenes: list[tuple] = []
        self.callback_lag_ns: list[int] = []
        self.names: list[str] = []
        self.index = 0
        self.t0 = time.monotonic_ns()
        self.frames: list[int] = []      # stamps of the camera frames published (ascending)
        # (stamp of the first wrench at or after a ground-truth state change, field, value)
        self.changes: list[tuple[int, str, bool]] = []
        self._change_next = (-1, 0)      # (pass, index into rec.state_changes) still to stamp
        self._cam_key, self._cam_stamp = None, 0
        self.published = 0
        self.rss: list[int] = []
        self._next_rss = 0
        self._shifts = [0]
        self._segments = -(-rec.length_ns // REPHASE_NS)
        self.diagnostics: dict[str, str] = {}

    def _on_scene(self, msg, info) -> None:
        # the rmw reception stamp (system clock), so time spent here publishing does not count
        now = time.time_ns()
        recv = info.get("received_timestamp") or now
        if not now - 10**10 < recv <= now + 10**6:   # not a wall-clock stamp: use ours
            recv = now
        self.callback_lag_ns.append(now - recv)
        self.names = list(msg.modalities)
        self.scenes.append((recv, msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec,
                            np.asarray(msg.ages, np.float64), np.asarray(msg.present, bool),
                            np.asarray(msg.gate_weights, np.float64), float(msg.pipeline_latency),
                            bool(msg.in_contact), bool(msg.grasping)))

    def _on_diagnostics(self, msg) -> None:
        for st in msg.status:
            if st.name.endswith(": pipeline"):
                self.diagnostics = {kv.key: kv.value for kv in st.values}

    def restart(self) -> None:
        """Start the recording from its beginning now."""
        self.index, self.t0, self._shifts = 0, time.monotonic_ns(), [0]

    def _shift(self, segment: int) -> int:
        """Pauses inserted before ``segment`` (counted over every pass) [ns]. Sensors and the
        fusion timer are all periodic with commensurate periods, so without them the phase
        between the sensor messages and the ticks would stay fixed for a whole pass and the
        latency would depend on where the node's timer happened to start (several ms either
        way). Before each second (REPHASE_NS) of recording a pause of frac(k * golden ratio) / fuse_rate
        moves that phase to a new, evenly spread value; the pace within a segment is untouched
        (the pauses stretch the replay by ~1.7 %)."""
        while len(self._shifts) <= segment:
            k = len(self._shifts)
            pause = ((k * 0.6180339887) % 1.0) / FUSE_RATE
            self._shifts.append(self._shifts[-1] + int(pause * 1e9))
        return self._shifts[segment]

    def pump(self, seconds: float, mute=(), procs=(), until=None) -> None:
        """Publish what falls due for ``seconds`` (or until ``until()``), serving callbacks;
        ``procs``: the node processes, watched (RSS: their sum)."""
        from ..conversions import ns_to_stamp

        import psutil

        watch = [psutil.Process(p.pid) for p in procs]
        end = time.monotonic_ns() + int(seconds * 1e9)
        msgs, n = self.rec.messages, len(self.rec.messages)
        while True:
            now = time.monotonic_ns()
            if now >= end or (until is not None and until()):
                return
            if procs:
                for proc in procs:
                    if proc.poll() is not None:
                        raise RuntimeError(f"a node under test exited with {proc.returncode}")
                if now >= self._next_rss:
                    try:
                        self.rss.append(sum(w.memory_info().rss for w in watch))
                    except psutil.Error:
                        pass
                    self._next_rss = now + 200_000_000
            loop, i = divmod(self.index, n)
            offset, topic, msg, sim_stamp = msgs[i]
            segment = loop * self._segments + (offset - 1) // REPHASE_NS
            due = self.t0 + loop * self.rec.length_ns + self._shift(segment) + offset
            if due > now:
                self.executor.spin_once(timeout_sec=min(due - now, end - now) / 1e9)
                continue
            self.index += 1
            if topic in mute:
                continue
            stamp = time.time_ns()
            if topic in CAMERA_TOPICS:  # one stamp per RGB-D frame (colour and depth pair by it)
                if self._cam_key != (loop, sim_stamp):
                    self._cam_key, self._cam_stamp = (loop, sim_stamp), stamp
                stamp = self._cam_stamp
                if topic == COLOR_TOPIC:
                    self.frames.append(stamp)
            elif topic == WRENCH_TOPIC:  # the first wrench at or after a contact/grasp change
                _, j = self._change_next if self._change_next[0] == loop else (loop, 0)
                changes = self.rec.state_changes
                while j < len(changes) and offset >= changes[j][0]:
                    self.changes.append((stamp, changes[j][1], changes[j][2]))
                    j += 1
                self._change_next = (loop, j)
            msg.header.stamp = ns_to_stamp(stamp)
            self.pubs[topic].publish(msg)
            self.published += 1
            if self.published % 32 == 0:  # keep serving /omni/scene while catching up
                self.executor.spin_once(timeout_sec=0.0)

    def close(self) -> None:
        import rclpy

        try:
            if getattr(self, "executor", None) is not None:
                self.executor.shutdown()
            if getattr(self, "node", None) is not None:
                self.node.destroy_node()
        finally:
            if self.context.ok():
                rclpy.shutdown(context=self.context)


# --- analysis ------------------------------------------------------------------------------------
def _pct(values, q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


def _scene_table(scenes, frames: list[int], names: list[str]) -> dict[str, np.ndarray]:
    """Per-scene arrays: receive and header stamps [ns, int64], delta = publish - fusion time
    (recovered from the camera age and the known frame stamps) [ns], age of the freshest present
    input at fusion [ns], the camera frame used (-1: none) and the lidar gate."""
    cam = names.index("camera") if "camera" in names else -1
    lid = names.index("lidar") if "lidar" in names else -1
    period = float(np.median(np.diff(frames))) if len(frames) > 1 else 1e9 / 15
    recv, stamp, delta, newest_age, frame, gate = ([] for _ in range(6))
    for r, s, ages, present, gates, *_ in scenes:
        d, used = np.nan, -1
        if cam >= 0 and ages[cam] >= 0:
            x = s - ages[cam] * 1e9          # the camera input's stamp + delta
            j = bisect.bisect_right(frames, x + MATCH_TOL_NS) - 1
            if j >= 0 and x - frames[j] < period:
                d = max(0.0, x - frames[j])   # <= 1 ms of float rounding when consistent
                used = frames[j] if present[cam] else -1
        recv.append(r), stamp.append(s), delta.append(d), frame.append(used)
        newest_age.append(ages[present].min() * 1e9 if present.any() else np.nan)
        gate.append(gates[lid] if lid >= 0 else np.nan)
    i64, f64 = np.int64, np.float64
    return {"recv": np.asarray(recv, i64), "stamp": np.asarray(stamp, i64),
            "delta": np.asarray(delta, f64), "newest_age": np.asarray(newest_age, f64),
            "frame": np.asarray(frame, i64), "gate": np.asarray(gate, f64)}


def _event_latency(rep: _Replay, t0: int, t1: int) -> dict:
    """Contact and grasp changes on the F/T stream -> /omni/scene reports them: for each
    ground-truth change of ``in_contact`` and/or ``grasping`` (onset or release) between ``t0``
    and ``t1`` [ns], stamped with the first wrench published at or after it, the reception of
    the first scene stamped after that wrench that shows the new values [ms]. A change the
    scenes already showed just before counts as ``early`` (no latency); one not shown within a
    second as ``missed``."""
    recv = np.array([sc[0] for sc in rep.scenes], np.int64)
    stamp = np.array([sc[1] for sc in rep.scenes], np.int64)
    state = {"in_contact": np.array([sc[6] for sc in rep.scenes], bool),
             "grasping": np.array([sc[7] for sc in rep.scenes], bool)}
    lat, early, missed = [], 0, 0
    events: dict[int, list] = {}   # changes that fall on the same wrench are one event
    for o, name, value in rep.changes:
        if t0 <= o < t1:
            events.setdefault(o, []).append((name, value))
    for o, fields in events.items():
        shows = np.all([state[name] == value for name, value in fields], axis=0)
        before = np.nonzero(stamp < o)[0]
        if len(before) and shows[before[-1]]:
            early += 1
            continue
        after = np.nonzero((stamp >= o) & shows & (recv - o <= 1_000_000_000))[0]
        if len(after):
            lat.append((recv[after[0]] - o) / 1e6)
        else:
            missed += 1
    return {"p50": _pct(lat, 50), "p90": _pct(lat, 90), "n": len(lat), "early": early,
            "missed": missed, "values": [round(float(x), 2) for x in lat]}


def _analyse(rep: _Replay, mode: str, win: dict, cpu: dict, rss: dict) -> dict:
    t = _scene_table(rep.scenes, rep.frames, rep.names)
    a0, a1, b0, b1 = win["a0"], win["a1"], win["b0"], win["b1"]
    ina = (t["stamp"] >= a0) & (t["stamp"] < a1)
    inb = (t["stamp"] >= b0 + GRACE_S * 1e9) & (t["stamp"] < b1)
    dur_a, dur_b = (a1 - a0) / 1e9, (b1 - b0) / 1e9 - GRACE_S
    ok = ina & np.isfinite(t["delta"])
    # receive - newest input stamp = (receive - header.stamp) + newest age + delta
    transit = (t["recv"] - t["stamp"]).astype(np.float64)
    latency = (transit + t["newest_age"] + t["delta"]) / 1e6
    lat = latency[ok]
    lat_rep = ((transit + t["newest_age"]) / 1e6)[ina]
    transport = transit[ina] / 1e6
    # camera frames of phase 1 -> first scene that used each (scenes arrive in order)
    first: dict[int, float] = {}
    first_literal: dict[int, float] = {}
    names = rep.names
    cam = names.index("camera") if "camera" in names else -1
    for k, (r, s, ages, present, *_) in enumerate(rep.scenes):
        f = int(t["frame"][k])
        if f >= 0:
            first.setdefault(f, r)
        if cam >= 0 and present[cam]:
            first_literal.setdefault(int(round((s - ages[cam] * 1e9) / MATCH_TOL_NS)), r)
    frames = [f for f in rep.frames if a0 <= f < a1 - 0.5e9]
    frame_lat = np.array([(first[f] - f) / 1e6 for f in frames if f in first])
    literal = sum(any(first_literal.get(int(round(f / MATCH_TOL_NS)) + k) is not None
                      for k in (-1, 0, 1)) for f in frames)
    rate_a = ina.sum() / dur_a if dur_a > 0 else float("nan")
    rate_b = inb.sum() / dur_b if dur_b > 0 else float("nan")
    gates_b = t["gate"][inb]
    out = {
        "mode": mode,
        "scene_rate_hz": rate_a,
        "scenes": int(ina.sum()),
        "latency_newest_ms": {"p50": _pct(lat, 50), "p99": _pct(lat, 99), "n": int(len(lat))},
        "latency_frame_ms": {"p50": _pct(frame_lat, 50), "p99": _pct(frame_lat, 99),
                             "n": int(len(frame_lat)), "frames": len(frames),
                             "frames_used_share": len(frame_lat) / len(frames) if frames else 0.0,
                             "frames_matched_literally_1ms": int(literal)},
        "latency_newest_as_reported_ms": {"p50": _pct(lat_rep, 50), "p99": _pct(lat_rep, 99)},
        "publish_to_receive_ms": {"p50": _pct(transport, 50), "p99": _pct(transport, 99)},
        "stamp_minus_fusion_ms": {"p50": _pct(t["delta"][ina] / 1e6, 50),
                                  "p99": _pct(t["delta"][ina] / 1e6, 99)},
        "pipeline_latency_field_ms_p50": _pct([sc[5] * 1e3 for sc, m in zip(rep.scenes, ina)
                                               if m], 50),
        "lidar_stop": {
            "seconds_counted": dur_b, "scenes": int(inb.sum()), "rate_hz": rate_b,
            "expected": (dur_b * FUSE_RATE if _is_async(mode) else dur_b * rate_a),
            "tick_share": (rate_b / FUSE_RATE if _is_async(mode)
                           else rate_b / rate_a if rate_a > 0 else float("nan")),
            "lidar_gate_max": float(np.nanmax(gates_b)) if len(gates_b) else None,
            "lidar_gate_zero": bool(np.all(gates_b == 0.0)) if len(gates_b) else None,
        },
        "cpu_percent": cpu, "rss": rss,
        "event_to_scene_ms": _event_latency(rep, a0, b0),
    }
    # compact series for the figure (times relative to phase 1 start)
    keep = t["stamp"] >= a0
    out["series"] = {
        "t_s": ((t["stamp"][keep] - a0) / 1e9).round(4).tolist(),
        "latency_ms": [round(float(x), 3) if np.isfinite(x) else None for x in latency[keep]],
        "lidar_gate": t["gate"][keep].round(4).tolist(),
        "frame_latency_ms": frame_lat.round(3).tolist(),
        "stop_s": (b0 - a0) / 1e9, "end_s": (b1 - a0) / 1e9,
    }
    return out


# --- one mode ------------------------------------------------------------------------------------
def _run_mode(rec: Recording, mode: str, duration_s: float, stop_s: float, domain_id: int,
              env: dict, extra: dict | None = None) -> dict:
    import psutil

    log = tempfile.TemporaryFile("w+")
    rep, procs = None, []
    t_start = time.monotonic()
    try:
        rep = _Replay(rec, domain_id)
        procs = _start_nodes(mode, env, log, extra)
        nodes = [psutil.Process(p.pid) for p in procs]
        rep.restart()
        rep.pump(START_TIMEOUT_S, procs=procs, until=lambda: bool(rep.scenes))
        if not rep.scenes:
            raise RuntimeError(f"no /omni/scene from the perception node ({mode}) within "
                               f"{START_TIMEOUT_S:.0f} s")
        startup_s = time.monotonic() - t_start
        rep.pump(WARMUP_S, procs=procs)
        rep.rss.clear()
        psutil.cpu_percent(None)  # all start counting here
        for node in nodes:
            node.cpu_percent(None)
        a0 = time.time_ns()
        rep.pump(duration_s, procs=procs)
        a1 = time.time_ns()
        cpu_each = [node.cpu_percent(None) for node in nodes]
        host_a = psutil.cpu_percent(None)
        diag_a = dict(rep.diagnostics)  # the node's own figures, at the end of phase 1
        b0 = time.time_ns()
        rep.pump(stop_s, mute={LIDAR_TOPIC}, procs=procs)
        b1 = time.time_ns()
        cpu_b = sum(node.cpu_percent(None) for node in nodes)
        hwm = [_vm_hwm_bytes(p.pid) for p in procs]
        rep.pump(TAIL_S, mute={LIDAR_TOPIC}, procs=procs)
        win = {"a0": a0, "a1": a1, "b0": b0, "b1": b1}
        cpu = {"all_sensors": sum(cpu_each), "lidar_stopped": cpu_b, "host_all_sensors": host_a,
               "per_process": dict(zip((n for _, n, _ in TIER_NODES.get(
                   mode, (("perception", "perception", None),))), cpu_each))}
        rss = {"peak_sampled_mb": max(rep.rss) / 2**20 if rep.rss else None,
               "vm_hwm_mb": sum(h for h in hwm if h) / 2**20 if any(hwm) else None,
               "samples": len(rep.rss)}
        result = _analyse(rep, mode, win, cpu, rss)
        result["startup_s"] = startup_s
        result["published_messages"] = rep.published
        result["node_diagnostics"] = {k: v for k, v in diag_a.items() if k == "fuse_ms_p50"
                                      or k.endswith("encode_ms")}
        result["reception_to_callback_ms_p50"] = _pct(np.asarray(rep.callback_lag_ns) / 1e6, 50)
        return result
    except BaseException as err:
        if procs and isinstance(err, RuntimeError):
            for proc in procs:
                stop_process(proc)
            log.seek(0)
            raise RuntimeError(f"{err}; node output:\n{log.read()[-3000:]}") from err
        raise
    finally:
        try:
            for proc in procs:
                stop_process(proc)
        finally:
            if rep is not None:
                rep.close()
            log.close()


def run(duration_s: float = 20.0, seed: int = 0, stop_s: float | None = None,
        domain_id: int | None = None, modes: tuple[str, ...] = ("async", "sync"),
        params: dict[str, dict] | None = None) -> dict:
    """Record, replay through the node in each mode, and measure (see the module doc).

    ``duration_s``: phase 1 (all sensors) per mode [s]; ``stop_s``: phase 2 (lidar stopped)
    per mode [s], default ``duration_s``; ``domain_id``: ROS domain for both processes (default:
    the isolated one already chosen for this process, else a random one); ``params``: more
    perception parameters per mode (``async_compressed`` needs its ``checkpoint``)."""
    stop_s = duration_s if stop_s is None else stop_s
    params = params or {}
    if duration_s <= 0 or stop_s <= GRACE_S:
        raise ValueError(f"need duration_s > 0 and stop_s > {GRACE_S} s")
    if "async_compressed" in modes and "checkpoint" not in params.get("async_compressed", {}):
        raise ValueError("mode async_compressed needs params={'async_compressed': "
                         "{'checkpoint': ...}} (a checkpoint made by omni-ros compress)")
    if domain_id is None:
        domain_id = int(dds_env.isolate()[dds_env.DOMAIN_VAR])
    else:
        os.environ.update(dds_env.isolated_env(domain_id))
    t0 = time.perf_counter()
    rec = record(seed)
    # The node gets this process's (isolated) environment: the same transport on both sides.
    env = dict(os.environ)
    results = {m: _run_mode(rec, m, duration_s, stop_s, domain_id, env, params.get(m))
               for m in modes}
    out = {"duration_s": duration_s, "stop_s": stop_s, "seed": seed, "fuse_rate": FUSE_RATE,
           "domain_id": domain_id,
           "transports": dds_env.transport(),
           "recording": {"sim_s": rec.length_ns / 1e9, "messages": len(rec.messages),
                         "per_topic": rec.counts(), "contact_changes": rec.contact_changes,
                         "grasp_changes": rec.grasp_changes,
                         "state_changes": [(o / 1e9, f, v) for o, f, v in rec.state_changes],
                         "wall_s": rec.wall_s},
           "modes": results, "targets": TARGETS}
    if "async" in results and "sync" in results:
        a, s = results["async"], results["sync"]
        out["sync_over_async"] = {
            "newest_p50": s["latency_newest_ms"]["p50"] / a["latency_newest_ms"]["p50"],
            "frame_p50": s["latency_frame_ms"]["p50"] / a["latency_frame_ms"]["p50"]}
    out["checks"] = _checks(out)
    out["wall_s"] = time.perf_counter() - t0
    return out


def _rss_mb(m: dict) -> float:
    r = m["rss"]
    return max((v for v in (r["peak_sampled_mb"], r["vm_hwm_mb"]) if v is not None), default=0.0)


def _checks(r: dict) -> dict:
    """Each target: met (bool) - printed next to the numbers, never asserted."""
    m, c = r["modes"], {}
    if "async" in m:
        a = m["async"]
        c["async_p50_ms"] = a["latency_newest_ms"]["p50"] <= TARGETS["async_p50_ms"]
        c["async_p99_ms"] = a["latency_newest_ms"]["p99"] <= TARGETS["async_p99_ms"]
        c["async_tick_share"] = a["lidar_stop"]["tick_share"] >= TARGETS["async_tick_share"]
        c["async_lidar_gate_zero"] = a["lidar_stop"]["lidar_gate_zero"]
    if "sync" in m:
        c["sync_tick_share"] = m["sync"]["lidar_stop"]["tick_share"] == 0.0
    if "sync_over_async" in r:
        c["sync_over_async_p50"] = (r["sync_over_async"]["newest_p50"]
                                    >= TARGETS["sync_over_async_p50"])
    for mode, v in m.items():
        c[f"{mode}_rss_mb"] = _rss_mb(v) <= TARGETS["rss_mb"]
    return {k: bool(v) for k, v in c.items()}


# --- report --------------------------------------------------------------------------------------
def _ok(r: dict, key: str) -> str:
    v = r["checks"].get(key)
    return "" if v is None else (" ✓" if v else " ✗")


def markdown(r: dict) -> str:
    m = r["modes"]
    rec = r["recording"]
    lines = [
        "## Perception pipeline over ROS 2: async (latent cache, fusion at 30 Hz) vs sync "
        "(ApproximateTime)", "",
        f"A {rec['sim_s']:.0f} s sim recording (seed {r['seed']}, scripted pick-and-place: "
        f"{rec['contact_changes']} contact and {rec['grasp_changes']} grasp changes; "
        f"{rec['messages']} sensor messages) replayed in a loop at its original pace by a second "
        f"process, stamps rewritten to the wall clock at publish; Fast DDS transports "
        f"{r.get('transports', 'LARGE_DATA')}. Per mode: "
        f"{r['duration_s']:.0f} s with every sensor, then {r['stop_s']:.0f} s with the lidar "
        f"stopped (counted from {GRACE_S:.0f} s after the stop). Latency = reception of "
        "/omni/scene − a sensor stamp.", "",
        "| | async | sync | sync / async | target |", "|---|---:|---:|---:|---|"]

    def cell(mode, f):
        return f(m[mode]) if mode in m else "–"

    ratio = r.get("sync_over_async", {})
    rows = [
        ("scene rate Hz", lambda v: f"{v['scene_rate_hz']:.1f}", "", ""),
        ("**newest input → scene p50 ms** (headline)",
         lambda v: f"**{v['latency_newest_ms']['p50']:.1f}**",
         f"**{ratio['newest_p50']:.1f}×**" if ratio else "",
         f"async ≤ {TARGETS['async_p50_ms']:.0f}{_ok(r, 'async_p50_ms')}; "
         f"≥ {TARGETS['sync_over_async_p50']:.0f}×{_ok(r, 'sync_over_async_p50')}"),
        ("newest input → scene p99 ms", lambda v: f"{v['latency_newest_ms']['p99']:.1f}", "",
         f"async ≤ {TARGETS['async_p99_ms']:.0f}{_ok(r, 'async_p99_ms')}"),
        ("camera frame → first scene using it p50 ms",
         lambda v: f"{v['latency_frame_ms']['p50']:.1f}",
         f"{ratio['frame_p50']:.1f}×" if ratio else "", ""),
        ("camera frame → first scene using it p99 ms",
         lambda v: f"{v['latency_frame_ms']['p99']:.1f}", "", ""),
        ("camera frames used", lambda v: f"{v['latency_frame_ms']['frames_used_share']:.0%}",
         "", ""),
        ("publish → receive p50 ms", lambda v: f"{v['publish_to_receive_ms']['p50']:.2f}",
         "", ""),
        ("lidar stopped: scenes / expected",
         lambda v: f"{v['lidar_stop']['tick_share']:.0%}", "",
         f"async ≥ {TARGETS['async_tick_share']:.0%}{_ok(r, 'async_tick_share')}; "
         f"sync 0 %{_ok(r, 'sync_tick_share')}"),
        ("lidar stopped: lidar gate max",
         lambda v: "no scenes" if v['lidar_stop']['lidar_gate_max'] is None
         else f"{v['lidar_stop']['lidar_gate_max']:.3g}", "",
         f"async exactly 0{_ok(r, 'async_lidar_gate_zero')}"),
        ("CPU % of one core (all sensors / lidar stopped)",
         lambda v: f"{v['cpu_percent']['all_sensors']:.0f} / "
                   f"{v['cpu_percent']['lidar_stopped']:.0f}",
         "", ""),
        ("peak RSS MB (sampled / VmHWM)",
         lambda v: " / ".join("–" if x is None else f"{x:.0f}"
                              for x in (v['rss']['peak_sampled_mb'], v['rss']['vm_hwm_mb'])), "",
         f"≤ {TARGETS['rss_mb']:.0f}{_ok(r, 'async_rss_mb')}{_ok(r, 'sync_rss_mb')}"),
    ]
    for name, f, rat, target in rows:
        lines.append(f"| {name} | {cell('async', f)} | {cell('sync', f)} | {rat} | {target} |")
    lines += ["", "Headline: *newest input → scene*, measured on every scene: how old the "
              "freshest "
              "data in a scene is when a consumer receives it (what a controller acting on "
              "/omni/scene sees). *Camera frame → first scene using it* follows the heaviest "
              "modality through its encoder and (async) the wait for the next fusion tick "
              "(≤ 1/30 s); sync uses only the frames that complete a set."]
    deltas = {k: v["stamp_minus_fusion_ms"]["p50"] for k, v in m.items()}
    if any(np.isfinite(d) and d > 1.0 for d in deltas.values()):
        lines += ["", "Note: header.stamp is taken at publish, `ages` at fusion, so "
                  "header.stamp − ages overshoots the input stamps by the processing in between "
                  "(p50 " + ", ".join(f"{k} {d:.1f} ms" for k, d in deltas.items()) +
                  "); the figures above remove it using the known camera stamps. Taken "
                  "literally, the newest-input p50 would read " +
                  ", ".join(f"{k} {v['latency_newest_as_reported_ms']['p50']:.1f} ms"
                            for k, v in m.items()) + "."]
    host = [f"{k} {v['cpu_percent']['host_all_sensors']:.0f} %" for k, v in m.items()]
    lines += ["", f"Host CPU (all cores) during the all-sensor phase: {', '.join(host)}; node "
              "start-up (to the first scene): " +
              ", ".join(f"{k} {v['startup_s']:.1f} s" for k, v in m.items()) +
              f"; whole benchmark {r['wall_s']:.0f} s.", ""]
    return "\n".join(lines)


def plot(result: dict, path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    m = result["modes"]
    colors = {"async": "tab:blue", "sync": "tab:orange"}
    fig, ax = plt.subplots(2, 2, figsize=(12, 8))
    for mode, v in m.items():
        s, c = v["series"], colors.get(mode)
        t = np.asarray(s["t_s"])
        lat = np.asarray(s["latency_ms"], float)
        pre = t < s["stop_s"]
        panels = ((ax[0, 0], lat[pre & np.isfinite(lat)], "newest input → scene"),
                  (ax[0, 1], np.asarray(s["frame_latency_ms"]), "camera frame → scene"))
        for a, data, label in panels:
            if len(data):
                x = np.sort(data)
                a.plot(x, np.arange(1, len(x) + 1) / len(x), color=c,
                       label=f"{mode} (p50 {np.median(x):.1f} ms)")
            a.set_title(f"{label} latency (all sensors)")
            a.set_xlabel("ms"), a.set_ylabel("fraction of scenes" if a is ax[0, 0] else
                                             "fraction of frames")
        bins = np.arange(0.0, s["end_s"] - 0.25, 0.5)
        hist, _ = np.histogram(t, bins)
        ax[1, 0].step(bins[:-1], hist / 0.5, where="post", color=c, label=mode)
        ax[1, 1].plot(t, s["lidar_gate"], ".", ms=2, color=c, label=mode)
    stop = next(iter(m.values()))["series"]["stop_s"] if m else 0
    end = next(iter(m.values()))["series"]["end_s"] if m else 1
    for a in ax[1]:
        a.axvspan(stop, end, color="0.9", zorder=0, label="lidar stopped")
        a.set_xlabel("s since the measurement began")
    ax[1, 0].axhline(FUSE_RATE, color="0.5", ls="--", lw=0.8)
    ax[1, 0].set_title("/omni/scene rate (0.5 s bins)"), ax[1, 0].set_ylabel("Hz")
    ax[1, 1].set_title("lidar gate weight"), ax[1, 1].set_ylabel("gate")
    for a in ax.flat:
        a.legend(fontsize=8)
        a.grid(alpha=0.3)
    fig.suptitle("Perception pipeline over ROS 2: async vs sync (ApproximateTime)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


if __name__ == "__main__":
    res = run(float(sys.argv[1]) if len(sys.argv) > 1 else 20.0)
    print(markdown(res))
