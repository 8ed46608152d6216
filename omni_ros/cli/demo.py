"""Headless end-to-end demo over real ROS 2: the sim bridge (PyBullet world, every sensor) and a
small driver node run as separate processes; the driver picks an object and places it
elsewhere through /omni/action while this process listens to every topic. Prints each topic's
measured rate (sim time), the episode result, and writes a PNG of camera frames, wrench,
tactile and audio over time. ``--synthetic`` runs the older two-process stream demo instead.

Exit code 0 when the pick-and-place succeeded and every stream delivered.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HELP = "run the headless sim demo: pick-and-place over real ROS 2 topics, with a PNG"


def add_arguments(parser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="scene and task seed")
    parser.add_argument("--real-time-factor", type=float, default=1.0,
                        help="sim seconds per wall second (0 = as fast as possible)")
    parser.add_argument("--png", type=Path, default=Path("out/demo.png"), help="figure path")
    parser.add_argument("--synthetic", action="store_true",
                        help="the synthetic two-process stream demo (demo_talker) instead")
    parser.add_argument("--duration", type=float, default=3.0, help="--synthetic: streaming time [s]")
    parser.add_argument("--garbage-every", type=int, default=20,
                        help="--synthetic: make every N-th message malformed (0 = never)")


def _ros_args(params: dict) -> list[str]:
    out = ["--ros-args"]
    for k, v in params.items():
        out += ["-p", f"{k}:={str(v).lower() if isinstance(v, bool) else v}"]
    return out


def run(args) -> int:
    return run_synthetic(args) if args.synthetic else run_sim(args)


def run_sim(args) -> int:
    import rclpy

    from omni_ros_sim.scene import random_scene
    from omni_ros_sim.tasks import random_task

    from ..nodes.observer import StreamObserver

    scene = random_scene(args.seed)
    task = random_task(scene, args.seed)
    label = scene.by_id(task.object_id).label
    print(f"demo: scene seed {args.seed}: {', '.join(o.label for o in scene.objects)}")
    print(f"demo: task: pick up the {label}, place it at x={task.place_xy[0]:.3f} "
          f"y={task.place_xy[1]:.3f} m (real-time factor {args.real_time_factor})")
    rclpy.init(args=[])
    observer = StreamObserver()
    py = [sys.executable, "-m"]
    bridge = subprocess.Popen(py + ["omni_ros.nodes.sim_bridge"] + _ros_args(
        {"seed": args.seed, "real_time_factor": float(args.real_time_factor)}))
    # Start driving only once this process hears every stream, so the figure sees it all.
    deadline = time.monotonic() + 60
    while observer.silent_streams() and time.monotonic() < deadline and bridge.poll() is None:
        rclpy.spin_once(observer, timeout_sec=0.05)
    driver = subprocess.Popen(py + ["omni_ros.nodes.demo_driver"] + _ros_args(
        {"target": label, "place_xy": f"[{task.place_xy[0]},{task.place_xy[1]}]"}),
        stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    try:
        while driver.poll() is None:
            rclpy.spin_once(observer, timeout_sec=0.05)
            if bridge.poll() is not None:
                print(f"demo: FAILED: the sim bridge exited with {bridge.returncode}")
                return 1
        wall = time.monotonic() - t0
    finally:
        for proc in (driver, bridge):
            if proc.poll() is None:
                proc.send_signal(2)  # SIGINT: clean shutdown
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        observer.destroy_node()
        rclpy.shutdown()
    log = driver.stderr.read()
    result = next((ln.split("result: ", 1)[1] for ln in log.splitlines() if "result: " in ln),
                  "no result")
    print()
    print(observer.report())
    print()
    for line in log.splitlines():
        if "]: #" in line:
            print("demo: driver " + line.split("]: ", 1)[-1])
    print(f"demo: episode: {result} ({observer.sim_seconds():.1f} s sim time in {wall:.1f} s wall)")
    png = observer.plot(args.png.resolve(), f"{label} -> ({task.place_xy[0]:.2f}, "
                                           f"{task.place_xy[1]:.2f}): {result.split(':')[0]}")
    print(f"demo: figure written to {png}")
    silent = observer.silent_streams()
    if silent:
        print(f"demo: FAILED: no messages on {silent}")
        return 1
    return 0 if driver.returncode == 0 else 1


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
