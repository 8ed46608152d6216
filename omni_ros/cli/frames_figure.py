"""The frames figure of `omni-ros frames --figure FILE`: what RViz shows with rviz/omni_ros.rviz,
drawn without ROS from a real PyBullet world - the arm's links (their frames as PyBullet has
them, joined link to link), every sensor frame of the tree as red/green/blue x/y/z axes with its
name, one lidar scan placed through ``lidar_link`` (coloured by intensity) and the objects, in
the base frame ``panda_link0`` [m]."""

from __future__ import annotations

from pathlib import Path

import numpy as np

AXIS_M = 0.08       # length of a drawn frame axis [m]
# frames named in the figure, and where their label goes relative to the origin [m]
LABELLED = {"camera_link": (0.0, 0.0, 0.05), "thermal_link": (0.0, 0.1, -0.08),
            "lidar_link": (0.0, 0.0, 0.03), "panda_hand_ft": (0.0, 0.0, 0.03),
            "panda_link0": (0.0, 0.0, 0.03)}


def draw(path: Path, cfg, transforms, seed: int = 0) -> Path:
    """Write the figure for SimConfig ``cfg`` and its ``transforms`` (frame_tree) with the scene
    of ``seed``; returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pybullet as pb
    from omni_ros_sim import World, random_scene
    from scipy.spatial.transform import Rotation

    with World(random_scene(seed), cfg, seed=seed) as world:
        for _ in range(round(cfg.physics_hz / cfg.lidar.rate_hz)):
            readings = world.step()
        scan = next((r.data for r in readings if r.key == "lidar"), world.lidar.read())
        robot, cid = world.robot.id, world.cid
        poses = {"panda_link0": np.eye(4)}
        chain = [np.zeros(3)]
        for i in range(pb.getNumJoints(robot, physicsClientId=cid)):
            s = pb.getLinkState(robot, i, computeForwardKinematics=True, physicsClientId=cid)
            m = np.eye(4)
            m[:3, :3], m[:3, 3] = Rotation.from_quat(s[5]).as_matrix(), s[4]
            poses[pb.getJointInfo(robot, i, physicsClientId=cid)[12].decode()] = m
        for name in [f"panda_link{i}" for i in range(1, 9)] + ["panda_hand", "panda_grasptarget"]:
            chain.append(poses[name][:3, 3])
        objects = [(o.position, o.color) for o in world.ground_truth().objects]
    for t in transforms:  # parents first; the arm's links are in poses already
        if t.parent in poses:
            poses[t.child] = poses[t.parent] @ t.matrix()

    fig = plt.figure(figsize=(9, 7))
    ax = fig.add_subplot(projection="3d")
    pts = scan[..., :3].reshape(-1, 3)
    inten = scan[..., 3].reshape(-1)
    keep = np.isfinite(pts).all(axis=1)
    lidar = poses["lidar_link"]
    cloud = pts[keep] @ lidar[:3, :3].T + lidar[:3, 3]
    ax.scatter(*cloud.T, c=inten[keep], cmap="viridis", s=2, alpha=0.5, label="/lidar/points")
    chain = np.array(chain)
    ax.plot(*chain.T, "-o", color="0.3", lw=3, ms=3, label="arm (robot_state_publisher)")
    for pos, color in objects:
        ax.scatter(*pos, s=80, color=color if color in ("red", "green", "blue", "yellow",
                                                        "purple", "orange") else "grey",
                   edgecolor="k")
    sensor_frames = {t.child for t in transforms} | {"panda_link0"}
    for name, m in poses.items():
        if name not in sensor_frames:
            continue
        for k, colour in enumerate("rgb"):
            end = m[:3, 3] + m[:3, k] * AXIS_M
            ax.plot(*np.stack([m[:3, 3], end]).T, color=colour, lw=2)
        if name in LABELLED:
            ax.text(*(m[:3, 3] + LABELLED[name]), name, fontsize=7)
    ax.set_xlabel("x [m]")
    ax.set_ylabel("y [m]")
    ax.set_zlabel("z [m]")
    ax.set_xlim(-0.2, 1.2)
    ax.set_ylim(-0.7, 0.7)
    ax.set_zlim(0.0, 0.9)
    ax.set_box_aspect((1.4, 1.4, 0.9))
    ax.view_init(elev=28, azim=-130)
    ax.set_title("omni_ros frames in panda_link0 (x red, y green, z blue; the camera head also "
                 "holds the optical and microphone frames)", fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
