"""The arm executor's pick-and-place in the simulator as a figure: planned vs measured joints,
TCP height and wrist force over sim time, one band per primitive.

No ROS: the executor's core (``omni_ros.core.manipulation.arm``) and the sim's joint-trajectory
input (``omni_ros_sim.joint_trajectory``) in one loop with the world, the same code paths the
``arm_executor`` node and ``sim_bridge arm_input:=joint_trajectory`` run over DDS.

    python -m omni_ros.benchmarks.arm --out bench/arm_executor.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..core.manipulation.arm import ArmExecutor, ArmExecutorConfig, Step
from ..streams import JOINT_NAMES

PLACE_XY = (0.5, -0.15)


def run_episode(seed: int = 0):
    """Pick the cube at (0.5, 0.1) and place it at PLACE_XY; returns the log (dict of arrays and
    the primitives' (name, start [s], end [s], state)) and the place error [m]."""
    from omni_ros_sim.expert import pick_place_plan
    from omni_ros_sim.joint_trajectory import TrajectoryFollower
    from omni_ros_sim.scene import ObjectSpec, SceneSpec
    from omni_ros_sim.tasks import PickPlaceTask
    from omni_ros_sim.world import World

    scene = SceneSpec([ObjectSpec("obj_0", "cube", "red", "wood", 0.05, (0.5, 0.1))])
    log = {"t": [], "q": [], "planned": [], "tcp_z": [], "force": []}
    phases = []
    with World(scene, seed=seed) as w:
        follower = TrajectoryFollower(w.robot)
        ex = ArmExecutor(ArmExecutorConfig(), dry_run=False)
        ex.on_joints(JOINT_NAMES, w.robot.joint_positions(), w.t_ns)
        plan = pick_place_plan(w.ground_truth().objects, PickPlaceTask("obj_0", PLACE_XY, "", ""))
        for p in plan:
            t0, step, final = w.t_ns / 1e9, ex.command(p, w.t_ns), None
            while final is None:
                if step.path is not None:
                    follower.start(step.path.joint_names, step.path.times_s, step.path.positions,
                                   w.t_ns)
                    path, path_t0 = step.path, w.t_ns
                final = next((s for s in step.statuses if s.state != "running"), None)
                if final is not None or w.t_ns > 60e9:
                    break
                follower.update(w.t_ns)
                step = Step()
                for r in w.step():
                    if r.key == "joints":
                        step = ex.on_joints(JOINT_NAMES, r.data["position"], r.stamp_ns)
                        tt = (r.stamp_ns - path_t0) / 1e9
                        times = np.concatenate([[0.0], path.times_s])
                        pts = np.vstack([follower.points[0][:7], path.positions[:, :7]])
                        planned = np.array([np.interp(tt, times, pts[:, j]) for j in range(7)])
                        log["t"].append(r.stamp_ns / 1e9)
                        log["q"].append(r.data["position"][:7])
                        log["planned"].append(planned)
                        log["tcp_z"].append(w.robot.tcp_pose()[0][2])
                    elif r.key == "wrench" and not step.statuses:
                        step = ex.on_wrench(r.data[:3], r.stamp_ns)
                        log["force"].append((r.stamp_ns / 1e9, float(np.linalg.norm(r.data[:3]))))
            phases.append((p.primitive, t0, w.t_ns / 1e9, final.state if final else "timeout"))
        for _ in range(120):
            w.step()
        err = float(np.linalg.norm(w.object_position("obj_0")[:2] - np.array(PLACE_XY)))
    return {k: np.array(v) for k, v in log.items()}, phases, err


def figure(log, phases, err: float, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(11, 8), sharex=True,
                             gridspec_kw={"height_ratios": [3, 1.2, 1.2]})
    t = log["t"]
    for j in range(7):
        line, = axes[0].plot(t, log["q"][:, j], lw=1.6, label=f"joint {j + 1}")
        axes[0].plot(t, log["planned"][:, j], "--", lw=1.0, color=line.get_color())
    axes[0].set_ylabel("joint position [rad]\n(solid measured, dashed planned)")
    axes[0].legend(ncol=7, fontsize=7, loc="upper center")
    axes[1].plot(t, log["tcp_z"], color="k")
    axes[1].set_ylabel("TCP z [m]")
    ft = log["force"]
    axes[2].plot(ft[:, 0], ft[:, 1], color="tab:red", lw=0.8)
    axes[2].set_ylabel("|wrist force| [N]")
    axes[2].set_xlabel("sim time [s]")
    for i, (name, a, b, state) in enumerate(phases):
        for ax in axes:
            ax.axvspan(a, b, color="0.92" if i % 2 else "white", zorder=0)
        axes[0].text((a + b) / 2, axes[0].get_ylim()[1], f"{name}\n{state}", ha="center",
                     va="bottom", fontsize=7)
    fig.suptitle(f"arm_executor pick-and-place in the simulator (JointTrajectory, dry_run off): "
                 f"placed {err * 100:.1f} cm from the target", y=0.995, fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("bench/arm_executor.png"))
    args = ap.parse_args(argv)
    log, phases, err = run_episode()
    figure(log, phases, err, args.out)
    worst = float(np.abs(log["q"] - log["planned"]).max())
    print(f"{len(phases)} primitives: {', '.join(f'{n} {s}' for n, _, _, s in phases)}; placed "
          f"{err * 100:.1f} cm from the target in {phases[-1][2]:.1f} s sim time; largest "
          f"measured-planned joint gap {worst:.3f} rad; wrote {args.out}")
    return 0 if all(s == "succeeded" for *_, s in phases) else 1


if __name__ == "__main__":
    raise SystemExit(main())
