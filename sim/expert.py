"""Scripted expert: plans pick-and-place primitive sequences from ground truth and runs episodes.

Grasps are top-down with the gripper yaw aligned to a cube face (any yaw for round objects),
approached from 12 cm above; the grip force is limited to 15 N.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pybullet as pb

from omni_ros.core.types import Primitive

from .robot import MAX_WIDTH
from .tasks import PickPlaceTask, TaskProgress
from .world import Reading, World

APPROACH_HEIGHT = 0.12   # above the grasp point [m]
CARRY_Z = 0.20           # TCP height while carrying [m]
GRIP_FORCE = 15.0        # [N]
SLOW = 0.12              # [m/s] for the last centimetres
FAST = 0.35              # [m/s]


def top_down(yaw: float) -> np.ndarray:
    """Quaternion (x, y, z, w) of a top-down gripper rotated by ``yaw`` about the world z axis."""
    return np.array(pb.getQuaternionFromEuler((np.pi, 0.0, yaw)))


def grasp_yaw(shape: str, orientation: np.ndarray) -> float:
    """Gripper yaw that closes the fingers on a pair of cube faces, in (-pi/4, pi/4]."""
    if shape != "cube":
        return 0.0
    yaw = pb.getEulerFromQuaternion(orientation.tolist())[2]
    return float((yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4)


def pick_place_plan(world: World, task: PickPlaceTask) -> list[Primitive]:
    """The primitive sequence for ``task`` in the current world state."""
    gt = world.ground_truth()
    obj = next(o for o in gt.objects if o.id == task.object_id)
    spec = world.scene.by_id(task.object_id)
    grasp_z = spec.extents[2] / 2
    q_pick = top_down(grasp_yaw(spec.shape, obj.orientation))
    q_place = top_down(0.0 if spec.shape != "cube" else grasp_yaw(spec.shape, obj.orientation))
    px, py = obj.position[:2]
    tx, ty = task.place_xy
    seq = [
        ("release", (px, py, grasp_z + APPROACH_HEIGHT), q_pick, FAST, MAX_WIDTH),
        ("approach", (px, py, grasp_z + APPROACH_HEIGHT), q_pick, FAST, MAX_WIDTH),
        ("move", (px, py, grasp_z), q_pick, SLOW, MAX_WIDTH),
        ("grasp", (px, py, grasp_z), q_pick, 0.0, 0.0),
        ("lift", (px, py, CARRY_Z), q_pick, SLOW, 0.0),
        ("move", (tx, ty, CARRY_Z), q_place, FAST, 0.0),
        ("place", (tx, ty, grasp_z + 0.004), q_place, SLOW, 0.0),
        ("release", (tx, ty, grasp_z), q_place, 0.0, MAX_WIDTH),
        ("move", (tx, ty, CARRY_Z), q_place, FAST, MAX_WIDTH),
        ("home", (tx, ty, CARRY_Z), q_place, 0.0, MAX_WIDTH),
    ]
    return [Primitive(stamp_ns=0, frame_id="panda_link0", sequence_id=i + 1, primitive=name,
                      position=pos, orientation=q, gripper_width=width,
                      gripper_force=GRIP_FORCE if name == "grasp" else 0.0, max_speed=speed,
                      target_id=task.object_id)
            for i, (name, pos, q, speed, width) in enumerate(seq)]


@dataclass
class EpisodeResult:
    success: bool
    lifted: bool
    placed: bool
    place_error_m: float
    duration_s: float
    failure: str = ""
    statuses: list = field(default_factory=list)


def run_episode(world: World, task: PickPlaceTask,
                on_readings: Callable[[list[Reading]], None] | None = None,
                timeout_s: float = 25.0) -> EpisodeResult:
    """Run ``task`` with the scripted expert, stepping ``world`` until done or ``timeout_s``."""
    plan = pick_place_plan(world, task)
    progress = TaskProgress(task, start_z=float(world.object_position(task.object_id)[2]))
    statuses, failure = [], ""
    deadline = world.step_index + int(timeout_s * world.cfg.physics_hz)
    t0 = world.t_ns
    for p in plan:
        p.stamp_ns = world.t_ns
        first = world.command(p)
        statuses += first
        if any(s.state == "rejected" for s in first):
            failure = f"{p.primitive} rejected: {first[-1].reason}"
            break
        while world.busy and world.step_index < deadline:
            readings = world.step()
            progress.update(world.object_position(task.object_id))
            done = [r.data for r in readings if r.key == "action_status"]
            statuses += done
            if on_readings:
                on_readings(readings)
        last = statuses[-1]
        if world.busy:
            failure = "timeout"
            break
        if last.state != "succeeded":
            failure = f"{p.primitive} {last.state}: {last.reason}"
            break
    for _ in range(int(0.3 * world.cfg.physics_hz)):  # let the object settle
        readings = world.step()
        if on_readings:
            on_readings(readings)
    gt = world.ground_truth()
    placed, err = progress.placed(world.object_position(task.object_id),
                                  gt.held_object_id == task.object_id)
    success = not failure and progress.lifted and placed
    if not failure and not success:
        failure = "not lifted" if not progress.lifted else f"placed {err * 100:.1f} cm off"
    return EpisodeResult(success, progress.lifted, placed, err, (world.t_ns - t0) / 1e9,
                         failure, statuses)
