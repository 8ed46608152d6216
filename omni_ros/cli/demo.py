"""Headless end-to-end demo over real ROS 2: the sim graph (sim_bridge, perception, teleop,
action) runs as separate processes; a scripted operator clicks a point near an object and says
"pick up the <colour> <shape>" into the simulated microphone (speech synthesised offline), then
clicks a free spot and says "put it here". Prints what was heard, the grounded target, the gate
weights, per-stage timings and the result, and writes a PNG (camera frames with detections,
gate weights over time, wrench and touch) and a session recording (MCAP: /omni/scene, commands,
primitives, task status) for ``omni-ros explain``. ``--synthetic`` runs the older two-process
stream demo instead.

Exit code 0 when the pick-and-place succeeded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HELP = "run the headless sim demo: voice + point pick-and-place over real ROS 2, with a PNG"


def add_arguments(parser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="scene and task seed")
    parser.add_argument("--real-time-factor", type=float, default=1.0,
                        help="sim seconds per wall second (0 = as fast as possible)")
    parser.add_argument("--png", type=Path, default=Path("out/demo.png"), help="figure path")
    parser.add_argument("--mcap", type=Path, help="session recording for `omni-ros explain` "
                                                  "(default: beside the figure, demo.mcap)")
    parser.add_argument("--synthetic", action="store_true",
                        help="the synthetic two-process stream demo (demo_talker) instead")
    parser.add_argument("--duration", type=float, default=3.0, help="--synthetic: streaming time [s]")
    parser.add_argument("--garbage-every", type=int, default=20,
                        help="--synthetic: make every N-th message malformed (0 = never)")


def run(args) -> int:
    from .. import dds_env

    # The demo commands a (simulated) arm on /omni/action: keep it off the network.
    print(f"demo: DDS {dds_env.describe(dds_env.isolate())} (localhost only)")
    return run_synthetic(args) if args.synthetic else run_sim(args)


def run_sim(args) -> int:
    from ..benchmarks.live import live_graph, run_episode
    from omni_ros_sim.tts import VOICES
    from ..dataset.session import SessionRecorder
    from .demo_figure import plot_demo

    print(f"demo: starting the sim graph (sim_bridge, perception, teleop, action; seed {args.seed}) "
          "as separate processes, as `omni-ros up --sim` does")
    mcap = (args.mcap or args.png.with_suffix(".mcap")).resolve()
    mcap.parent.mkdir(parents=True, exist_ok=True)
    with live_graph(args.seed, args.real_time_factor, capture=True, record=True) as (graph, op):
        recorder = SessionRecorder(op, mcap)
        rep = run_episode(op, args.seed, VOICES[0].name)
        recorder.close()
        lines = graph.lines()
    print()
    for ln in lines:
        if any(k in ln for k in ("heard", "command:", "target", "task:", "rejected", "configured")):
            print("  " + ln)
    print()
    heard = "; ".join(repr(h) for h in rep.heard) or "nothing"
    print(f"demo: heard: {heard}")
    print(f"demo: grounded target: {rep.grounded or '-'} (asked for the {rep.target})")
    if op.scenes:
        s = op.scenes[len(op.scenes) // 2][1]
        gates = ", ".join(f"{m} {g:.2f}" for m, g in zip(s.modalities, s.gate_weights))
        print(f"demo: gate weights mid-episode: {gates}")
        lat = [sc.pipeline_latency * 1e3 for _, sc in op.scenes]
        print(f"demo: perception published {len(op.scenes)} scenes; pipeline latency (oldest input "
              f"-> publish) p50 {np.median(lat):.0f} ms")
    for stage, secs in rep.stages.items():
        print(f"demo: stage {stage:<28} {secs:6.2f} s sim")
    print(f"demo: result: {rep.summary()}")
    png = plot_demo(op, rep, args.png.resolve())
    print(f"demo: figure written to {png}")
    print(f"demo: session recorded to {mcap} ({recorder.count} messages; "
          f"`omni-ros explain --mcap {mcap}` plots why the router fused what it did)")
    return 0 if rep.success else 1


def run_synthetic(args) -> int:
    from ..nodes.sensor_monitor import watch_talker

    print(f"demo: a second process streams every sensor type for {args.duration:.1f} s; every "
          f"{args.garbage_every}th message is malformed on purpose")
    monitor, talker_code = watch_talker({"duration_s": float(args.duration),
                                         "garbage_every": int(args.garbage_every)})
    print()
    print(monitor.report())
    print()
    health = monitor.guard.health.inputs
    silent = [k for k, s in health.items() if s.accepted == 0]
    unrejected = [k for k, s in health.items() if args.garbage_every and s.rejected_total == 0]
    if talker_code != 0:
        print(f"demo: FAILED: the publisher exited with {talker_code}")
        return 1
    if silent or unrejected:
        print(f"demo: FAILED: no valid data on {silent}; no rejection seen on {unrejected}")
        return 1
    print("demo: OK - every topic delivered valid data, every malformed message was rejected "
          "and counted, and the receiver kept running")
    return 0
