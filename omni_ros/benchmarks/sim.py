"""Simulation benchmark: scripted-expert success over N seeded episodes, the real-time factor
with every sensor on, what each sensor costs relative to a physics step, and dataset
generation throughput and size."""

from __future__ import annotations

import tempfile
import time

import numpy as np
import pybullet as pb

from omni_ros_sim.expert import run_episode
from omni_ros_sim.scene import random_scene
from omni_ros_sim.tasks import random_task
from omni_ros_sim.world import World


def expert_episodes(n: int, seed: int = 1000) -> dict:
    """Episodes on seeds seed..seed+n-1 (held out from the dataset's default seeds)."""
    ok, sim_s, wall_s, failures, errors = 0, 0.0, 0.0, [], []
    for s in range(seed, seed + n):
        scene = random_scene(s)
        t0 = time.perf_counter()
        with World(scene, seed=s) as w:
            r = run_episode(w, random_task(scene, s))
        wall_s += time.perf_counter() - t0
        sim_s += r.duration_s
        ok += r.success
        errors.append(r.place_error_m)
        if not r.success:
            failures.append(f"seed {s}: {r.failure}")
    return {"episodes": n, "success": ok, "success_rate": ok / n, "sim_s": sim_s,
            "wall_s": wall_s, "real_time_factor": sim_s / wall_s,
            "place_error_median_mm": float(np.median(errors) * 1000), "failures": failures}


def _per_call_s(fn, repeat: int) -> float:
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat


def sensor_costs(repeat: int = 60) -> dict:
    """Seconds per call of each sensor read, and its share of one sim second at its rate, as a
    ratio to the physics steps of that second (the baseline)."""
    with World(random_scene(0)) as w:
        step = _per_call_s(lambda: pb.stepSimulation(physicsClientId=w.cid), repeat * 4)
        c = w.cfg
        reads = {"camera (rgb-d)": (lambda: w.camera.read(), c.camera.rate_hz),
                 "lidar": (lambda: w.lidar.read(), c.lidar.rate_hz),
                 "tactile": (lambda: w.tactile.read(), c.tactile.rate_hz),
                 "wrench": (lambda: w.wrench.read(), c.wrench.rate_hz),
                 "joints": (lambda: w.robot.joint_positions(), c.joint_rate_hz)}
        physics_per_s = step * c.physics_hz
        out = {"physics step ms": step * 1e3}
        for name, (fn, rate) in reads.items():
            t = _per_call_s(fn, repeat)
            out[name] = {"ms_per_read": t * 1e3, "rate_hz": rate,
                         "per_sim_second_vs_physics": t * rate / physics_per_s}
    return out


def dataset_throughput(episodes: int = 3) -> dict:
    from ..dataset.generate import generate

    with tempfile.TemporaryDirectory() as d:
        stats = generate(d, episodes, seed=2000, workers=1, progress=False)["stats"]
    return {"samples_per_s_per_core": stats["samples_per_s"],
            "bytes_per_sample": stats["bytes_per_sample"]}


def run(episodes: int = 50) -> dict:
    return {"expert": expert_episodes(episodes), "sensors": sensor_costs(),
            "dataset": dataset_throughput()}


def markdown(r: dict) -> str:
    e, d = r["expert"], r["dataset"]
    lines = ["## Simulation", "",
             f"Scripted expert, pick-and-place on {e['episodes']} seeded episodes (seeds 1000+): "
             f"**{e['success']}/{e['episodes']} succeeded** ({e['success_rate']:.0%}); median "
             f"placement error {e['place_error_median_mm']:.2f} mm; real-time factor with every "
             f"sensor on **{e['real_time_factor']:.1f}x** ({e['sim_s']:.0f} s sim in "
             f"{e['wall_s']:.0f} s wall, one core).", ""]
    if e["failures"]:
        lines += ["Failures: " + "; ".join(e["failures"]), ""]
    lines += ["| sensor | ms per read | rate Hz | cost per sim second / physics per sim second |",
              "|---|---:|---:|---:|"]
    for name, v in r["sensors"].items():
        if isinstance(v, dict):
            lines.append(f"| {name} | {v['ms_per_read']:.3f} | {v['rate_hz']:.0f} | "
                         f"{v['per_sim_second_vs_physics']:.2f} |")
    lines += ["", f"(physics step: {r['sensors']['physics step ms']:.3f} ms)", "",
              f"Dataset generation (`omni-ros dataset`, 1 worker): "
              f"**{d['samples_per_s_per_core']:.0f} samples/s per core**, "
              f"{d['bytes_per_sample'] / 1024:.1f} KiB per sample (compressed shards).", ""]
    return "\n".join(lines)
