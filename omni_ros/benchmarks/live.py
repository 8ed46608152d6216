"""Live end-to-end episodes: the whole graph (sim_bridge, perception, teleop, action) as
separate processes over real DDS in sim time, and a scripted operator who clicks a point near
an object, says "pick up the <colour> <shape>" into the simulated microphone, then clicks a free
spot and says "put it here". Optionally a sensor is killed (the bridge stops publishing it)
before the operator speaks. Used by the end-to-end tests, ``omni-ros demo`` and
``omni-ros bench --suite live``.

Success: the named object rose >= 10 cm and came to rest within 3 cm of the second point.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from omni_ros_sim.scene import random_scene
from omni_ros_sim.tts import VOICES, voice_preset

from ..core.labels import temperature_label

LIFT_M = 0.10
PLACE_TOL_M = 0.03
FREE_RADIUS_M = 0.09
TERMINAL = ("succeeded", "failed", "rejected", "stopped")
# A killed sensor's gate must be 0 in every scene stamped later than its last message + its
# max_age + this [s]: one fusion tick, and a final message or two the operator may have missed.
STALE_MARGIN_S = 0.25


@dataclass
class EpisodeReport:
    seed: int
    voice: str
    target: str
    killed: str = ""
    heard: list = field(default_factory=list)     # what teleop published (raw text)
    grounded: str = ""
    lifted_m: float = 0.0
    place_error_m: float = float("nan")
    gate_zero_after_s: float = float("nan")      # sim s from the sensor's last message to gate 0
    scenes_while_dead: int = 0                    # scenes with its gate 0 while it was dead
    gate_open_when_stale: int = 0                 # scenes past max_age (+ margin) with gate > 0
    statuses: list = field(default_factory=list)
    stages: dict = field(default_factory=dict)    # stage -> sim seconds
    repeats: int = 0                              # commands said again: nothing was heard
    success: bool = False
    failure: str = ""
    sim_s: float = 0.0
    wall_s: float = 0.0

    def summary(self) -> str:
        kill = (f", {self.killed} killed (gate 0 {self.gate_zero_after_s:.2f} s after its last "
                f"message; {self.gate_open_when_stale} stale scenes with gate > 0)"
                if self.killed else "")
        kill += f", {self.repeats} command(s) said twice" if self.repeats else ""
        return (f"seed {self.seed} [{self.voice}] {self.target}{kill}: "
                f"{'SUCCESS' if self.success else 'FAILED ' + self.failure} - heard {self.heard}, "
                f"grounded {self.grounded or '-'}, lifted {self.lifted_m * 100:.1f} cm, placed "
                f"{self.place_error_m * 100:.1f} cm from the point ({self.sim_s:.1f} s sim, "
                f"{self.wall_s:.1f} s wall)")


@contextmanager
def live_graph(seed: int, real_time_factor: float = 1.0, capture: bool = True, out=None,
               extra: dict | None = None, record: bool = False, respawn=(), tiers=()):
    """The sim graph started by the same launcher as ``omni-ros up --sim`` (``respawn``: nodes
    restarted when they die; ``tiers``: the tiered graph's nodes, as ``--tier``); yields
    (graph, operator node). Stopped (SIGINT) on exit."""
    import rclpy

    from .. import dds_env
    from ..launcher import Graph, graph
    from ..nodes.operator import SimOperator

    # The operator (in this process) and the nodes (children) share one isolated environment:
    # localhost-only discovery on a domain of their own, one Fast DDS transport.
    dds_env.isolate()
    overrides = {"sim_bridge": {"seed": seed, "real_time_factor": real_time_factor}}
    for k, v in (extra or {}).items():
        overrides.setdefault(k, {}).update(v)
    g = Graph(graph(sim=True, tiers=tiers), sim_time=True, overrides=overrides, capture=capture, out=out,
              respawn=respawn)
    context = rclpy.Context()
    rclpy.init(context=context, args=[])
    g.start()
    op = SimOperator(context=context, record=record)
    try:
        yield g, op
    finally:
        op.destroy_node()
        rclpy.shutdown(context=context)
        g.stop()


def free_spot(truth, rng: np.random.Generator, exclude: str) -> np.ndarray:
    """A point on the table (z = 0) at least FREE_RADIUS_M from every other object."""
    others = [o.position[:2] for o in truth.objects if o.id != exclude]
    for _ in range(500):
        p = np.array([rng.uniform(0.35, 0.65), rng.uniform(-0.25, 0.25)])
        if all(np.linalg.norm(p - q) >= FREE_RADIUS_M for q in others):
            return np.array([p[0], p[1], 0.0])
    raise RuntimeError("no free spot on the table")


def mute(op, sensors: str, timeout_s: float = 10.0) -> bool:
    """Stop the bridge publishing ``sensors`` (comma-separated; '' = none)."""
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient

    client = AsyncParameterClient(op, "sim_bridge")
    if not client.wait_for_services(timeout_sec=timeout_s):
        return False
    future = client.set_parameters([Parameter("muted_sensors", value=sensors)])
    op.spin_until(future.done, timeout_s)
    return bool(future.done() and future.result().results[0].successful)


def wait_task(op, since: int, intent: str, timeout_s: float):
    """The first terminal /omni/task_status for ``intent`` (or a stop) after index ``since``."""
    def end(s) -> bool:
        return s.state in TERMINAL and s.intent in (intent, "stop")
    op.spin_until(lambda: any(end(s) for s in op.statuses[since:]), timeout_s)
    return next((s for s in op.statuses[since:] if end(s)), None)


def _stamp(msg) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def _stages(op, said_ns: int, heard0: int, status0: int, name: str) -> dict:
    """Sim seconds from the end of speaking to the command (VAD hangover + recognition),
    from the command to the first primitive (grounding), and of the execution."""
    out = {}
    heard = op.heard[heard0:heard0 + 1]
    st = op.statuses[status0:]
    first = next((s for s in st if s.state == "executing"), None)
    end = next((s for s in st if s.state in TERMINAL), None)
    if heard:
        out[f"{name}: end of speech -> command"] = (op.command_ns[heard0] - said_ns) / 1e9
        if first is not None:
            out[f"{name}: command -> first primitive"] = (_stamp(first) - op.command_ns[heard0]) / 1e9
    if first is not None and end is not None:
        out[f"{name}: execution"] = (_stamp(end) - _stamp(first)) / 1e9
    return out


def speak(op, text: str, voice: str, rep: EpisodeReport, point=None, tries: int = 2,
          wait_s: float = 4.0) -> int:
    """Click ``point`` (if given) and say ``text``; like an operator, do it once more if no
    command was heard within ``wait_s``. Returns the sim time [ns] at which the (last)
    utterance ended."""
    for attempt in range(tries):
        if point is not None:
            op.click(point)
            op.spin_until(lambda: False, 0.3)
        n = len(op.heard)
        end = op.now_ns() + int(op.say(text, voice) * 1e9)
        if op.spin_until(lambda: len(op.heard) > n, wait_s + (end - op.now_ns()) / 1e9):
            return end
        if attempt + 1 < tries:
            rep.repeats += 1
    return end


def _watch_last_stamp(op, modality: str):
    """Subscribe ``op`` to the sensor streams of ``modality``; returns a function giving the
    newest header stamp received [ns] (what the sensor last said before it died)."""
    from rclpy.qos import qos_profile_sensor_data

    from .. import conversions as cv
    from ..core.model.modalities import load_all
    from ..streams import BY_KEY

    newest = [0]

    def seen(msg):
        newest[0] = max(newest[0], cv.stamp_to_ns(msg.header.stamp))

    subs = [op.create_subscription(BY_KEY[key].msg_type, BY_KEY[key].topic, seen,
                                   qos_profile_sensor_data)
            for key in (st.key for st in load_all()[modality].streams if st.sync)]
    op.spin_until(lambda: newest[0] > 0, 30.0)

    def last_ns(done: bool = False) -> int:
        if done:
            for sub in subs:
                op.destroy_subscription(sub)
        return newest[0]
    return last_ns


# voices of the voices bench's held-out half (omni_ros_sim.tts.HELD_OUT_VOICES) that the live
# bench adds to its four; no threshold anywhere was chosen with them
LIVE_HELD_OUT = ("us_m1", "rp_f5_fast")


def run_episode(op, seed: int, voice: str = VOICES[0].name, kill: str = "",
                timeout_s: float = 90.0, hot: bool = False) -> EpisodeReport:
    """One voice + point pick-and-place in the running graph (see the module docstring). With
    ``hot`` the operator says "pick up the hot one" without clicking: only the thermal camera
    tells which object that is (the scene must have a hot object)."""
    rng = np.random.default_rng(seed)
    t_wall = time.monotonic()
    # Volatile topics: a click or speech before discovery matched would be lost.
    op.spin_until(lambda: op.point_pub.get_subscription_count() > 0
                  and op.audio_pub.get_subscription_count() > 0 and op.teleop_listening(), timeout_s)
    if not op.spin_until(lambda: op.scene is not None and op.truth is not None, timeout_s):
        return EpisodeReport(seed, voice, "", kill, failure="no /omni/scene or ground truth")
    op.spin_until(lambda: all(op.scene.present), 5.0)
    t0 = op.now_ns()
    target = op.truth.objects[int(rng.integers(len(op.truth.objects)))]
    label = f"{target.color} {target.shape}"
    if hot:
        hottest = max(op.truth.objects, key=lambda o: o.temperature_c)
        if temperature_label(hottest.temperature_c) != "hot":
            return EpisodeReport(seed, voice, "hot", kill, failure="no hot object in the scene")
        target, label = hottest, "hot"
    rep = EpisodeReport(seed, voice, label, kill)
    z0 = float(target.position[2])
    if kill:
        last_ns = _watch_last_stamp(op, kill)     # the dead sensor's last message (sim time)
        mute(op, kill)
        i = op.scene.modalities.index(kill)
        n = len(op.scenes)
        if op.spin_until(lambda: any(s.gate_weights[i] == 0.0 for _, s in op.scenes[n:]), 30.0):
            first = next(t for t, s in op.scenes[n:] if s.gate_weights[i] == 0.0)
            rep.gate_zero_after_s = (first - last_ns()) / 1e9
        op.spin_until(lambda: False, 0.5)
    n_scene = len(op.scenes)

    def track():  # highest the target got
        o = next((o for o in op.truth.objects if o.id == target.id), None)
        if o is not None:
            rep.lifted_m = max(rep.lifted_m, float(o.position[2]) - z0)
        return False

    heard0, status0 = len(op.heard), len(op.statuses)
    said = speak(op, "pick up the hot one" if hot else f"pick up the {label}", voice, rep,
                 point=None if hot else target.position + np.append(rng.normal(0, 0.01, 2), 0.0))
    pick = wait_task(op, status0, "pick", timeout_s if len(op.heard) > heard0 else 0.0)
    rep.stages.update(_stages(op, said, heard0, status0, "pick"))
    op.spin_until(lambda: track() or False, 0.5)
    rep.grounded = next((s.target_object_id for s in op.statuses[status0:] if s.target_object_id), "")
    if pick is None or pick.state != "succeeded" or rep.lifted_m < LIFT_M:
        rep.failure = (f"pick {pick.state}: {pick.reason}" if pick is not None and pick.state != "succeeded"
                       else "pick not heard" if len(op.heard) == heard0
                       else "no pick result" if pick is None else f"lifted only {rep.lifted_m * 100:.1f} cm")
    else:
        place = free_spot(op.truth, rng, target.id)
        status1, heard1 = len(op.statuses), len(op.heard)
        said = speak(op, "put it here", voice, rep, point=place)
        done = wait_task(op, status1, "place", timeout_s if len(op.heard) > heard1 else 0.0)
        rep.stages.update(_stages(op, said, heard1, status1, "place"))
        op.spin_until(lambda: False, 0.5)
        o = next(o for o in op.truth.objects if o.id == target.id)
        rep.place_error_m = float(np.linalg.norm(o.position[:2] - place[:2]))
        if done is None or done.state != "succeeded":
            rep.failure = (f"place {done.state}: {done.reason}" if done is not None
                           else "place not heard" if len(op.heard) == heard1 else "no place result")
        elif rep.place_error_m > PLACE_TOL_M:
            rep.failure = f"placed {rep.place_error_m * 100:.1f} cm off"
    rep.heard = [c.raw_text for c in op.heard[heard0:]]
    rep.statuses = [(s.state, s.intent, s.primitive, s.reason) for s in op.statuses[status0:]]
    if kill:
        i = op.scene.modalities.index(kill)
        rep.scenes_while_dead = sum(1 for _, s in op.scenes[n_scene:] if s.gate_weights[i] == 0.0)
        from ..core.perception.pipeline import MaxAge

        stale_ns = last_ns(done=True) + int((getattr(MaxAge(), kill) + STALE_MARGIN_S) * 1e9)
        rep.gate_open_when_stale = sum(1 for t, s in op.scenes[n:] if t > stale_ns
                                       and s.gate_weights[i] > 0.0)
        mute(op, "")
    rep.success = not rep.failure and rep.lifted_m >= LIFT_M
    rep.sim_s = (op.now_ns() - t0) / 1e9
    rep.wall_s = time.monotonic() - t_wall
    return rep


def reset_world(op, seed: int, timeout_s: float = 20.0) -> str:
    """Rebuild the sim world with scene ``seed`` (the bridge's /sim/reset) and wait until the
    new ground truth and scenes fused after it arrive; returns '' or what went wrong."""
    from omni_ros_msgs.srv import ResetWorld

    client = op.create_client(ResetWorld, "/sim/reset")
    try:
        if not client.wait_for_service(timeout_sec=timeout_s):
            return "no /sim/reset service"
        future = client.call_async(ResetWorld.Request(seed=seed))
        if not op.spin_until(future.done, timeout_s):
            return "/sim/reset did not answer"
    finally:
        op.destroy_client(client)
    if not future.result().success:
        return f"/sim/reset failed: {future.result().message}"
    labels = future.result().message.split(": ", 1)[-1]
    op.truth = op.scene = None
    if not op.spin_until(lambda: op.truth is not None and ", ".join(
            f"{o.color} {o.shape}" for o in op.truth.objects) == labels, timeout_s):
        return f"no ground truth of the new scene ({labels})"
    n = len(op.scenes)
    if not op.spin_until(lambda: len(op.scenes) > n + 15, timeout_s):
        return "no scenes after the reset"
    return ""


def hot_seeds(n: int, first: int) -> list[int]:
    """The first ``n`` scene seeds from ``first`` on whose scene has a hot object."""
    out, seed = [], first
    while len(out) < n:
        if any(temperature_label(o.temperature_c) == "hot" for o in random_scene(seed).objects):
            out.append(seed)
        seed += 1
    return out


def run(episodes: int = 20, kill_episodes: int = 5, first_seed: int = 100,
        real_time_factor: float = 1.0, progress=print, hot_episodes: int = 5,
        cell: str = "", checkpoint: str = "", voices: tuple[str, ...] = (),
        teleop: dict | None = None) -> dict:
    """``episodes`` voice + point pick-and-places with every sensor (voices alternate), then
    ``kill_episodes`` with the camera and with the lidar killed, then ``hot_episodes`` of "pick
    up the hot one" (no click), in one running graph (the world is reset between episodes).
    ``cell``: a camera of :data:`omni_ros.benchmarks.cells.CELLS` instead of the training one
    (the perception node told where it is, as a user would); ``checkpoint``: perception's model
    instead of its configured one; ``voices``: the voice presets that take turns (default: the
    four of omni_ros_sim.tts.VOICES and two voices of the voices bench's held-out half,
    LIVE_HELD_OUT); ``teleop``: teleop
    parameters on top of its configured ones (e.g. ``{"asr.backend": "pocketsphinx"}``)."""
    names = [voice_preset(v).name for v in voices] or [v.name for v in VOICES] + list(LIVE_HELD_OUT)
    plan = [(first_seed + i, names[i % len(names)], "", False) for i in range(episodes)]
    for k, sensor in enumerate(("camera", "lidar")):
        plan += [(first_seed + 1000 * (k + 1) + i, names[i % len(names)], sensor, False)
                 for i in range(kill_episodes)]
    plan += [(seed, names[i % len(names)], "", True)
             for i, seed in enumerate(hot_seeds(hot_episodes, first_seed + 3000))]
    reports = []
    from .cells import graph_overrides

    extra = graph_overrides(cell) if cell else {}
    if checkpoint:
        extra.setdefault("perception", {})["checkpoint"] = str(checkpoint)
    if teleop:
        extra.setdefault("teleop", {}).update(teleop)
    with live_graph(plan[0][0], real_time_factor, extra=extra or None) as (graph, op):
        for seed, voice, kill, hot in plan:
            why = reset_world(op, seed) if reports else ""
            if why:
                rep = EpisodeReport(seed, voice, "", kill, failure=why)
            else:
                rep = run_episode(op, seed, voice, kill, hot=hot)
            reports.append(rep)
            progress(rep.summary())
            dead = {k: v for k, v in graph.poll().items() if v is not None}
            if dead:
                raise RuntimeError(f"nodes exited during the benchmark: {dead}")
    return summarise(reports)


def heard_right(rep: EpisodeReport) -> bool:
    """The first command heard meant "pick up the <target>" (any wording the grammar allows)."""
    from ..core.speech.commands import parse_command

    parsed = parse_command(rep.heard[0]) if rep.heard else None
    return parsed is not None and (parsed.intent, parsed.target_description) == ("pick", rep.target)


def summarise(reports: list[EpisodeReport]) -> dict:
    groups: dict[str, list] = {}
    for r in reports:
        groups.setdefault(r.killed or ("hot one" if r.target == "hot" else "none"), []).append(r)
    out = {"groups": {}, "episodes": [r.__dict__ | {"statuses": r.statuses} for r in reports]}
    for name, rs in groups.items():
        ok = [r for r in rs if r.success]
        stages = {}
        for r in ok:
            for k, v in r.stages.items():
                stages.setdefault(k, []).append(v)
        out["groups"][name] = {
            "episodes": len(rs), "successes": len(ok), "success_rate": len(ok) / len(rs),
            "per_voice": {v: f"{sum(r.success for r in rs if r.voice == v)}/"
                             f"{sum(r.voice == v for r in rs)}" for v in sorted({r.voice for r in rs})},
            "heard_right": sum(heard_right(r) for r in rs),
            "repeats": sum(r.repeats for r in rs),
            "median_place_error_cm": float(np.median([r.place_error_m for r in ok]) * 100) if ok else float("nan"),
            "median_lift_cm": float(np.median([r.lifted_m for r in ok]) * 100) if ok else float("nan"),
            "gate_zero_after_s_max": float(np.nanmax([r.gate_zero_after_s for r in rs]))
            if name not in ("none", "hot one") else float("nan"),
            "median_stage_s": {k: float(np.median(v)) for k, v in stages.items()},
            "failures": [f"seed {r.seed}: {r.failure}" for r in rs if not r.success],
        }
    return out


def markdown(result: dict) -> str:
    lines = ["| sensors | episodes | success | per voice | pick heard right | commands repeated | "
             "median place error | gate → 0 after (max) |", "|---|---:|---:|---|---:|---:|---:|---:|"]
    for name, g in result["groups"].items():
        label = {"none": "all", "hot one": 'all, "pick up the hot one" (no click)'}.get(
            name, f"{name} killed")
        gz = "-" if name in ("none", "hot one") else f"{g['gate_zero_after_s_max']:.2f} s"
        lines.append(f"| {label} | {g['episodes']} | {g['success_rate'] * 100:.0f} % | "
                     f"{', '.join(f'{k} {v}' for k, v in g['per_voice'].items())} | "
                     f"{g['heard_right']}/{g['episodes']} | {g['repeats']} | "
                     f"{g['median_place_error_cm']:.1f} cm | {gz} |")
    stages = result["groups"].get("none", {}).get("median_stage_s", {})
    if stages:
        lines += ["", "Median sim seconds per stage (all sensors, successful episodes):", ""]
        lines += [f"- {k}: {v:.2f} s" for k, v in stages.items()]
    fails = [f for g in result["groups"].values() for f in g["failures"]]
    if fails:
        lines += ["", "Failures:", ""] + [f"- {f}" for f in fails]
    return "\n".join(lines)
