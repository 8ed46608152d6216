"""Primitive sequences for pick and place, shared by the action node and the sim's scripted
expert.

Frame: the robot base (REP 103: x forward, y left, z up; metres, m/s, newtons). A pick is a
top-down grasp (``omni_ros.core.manipulation.targets``) approached from ``approach_height`` above, ending
lifted to ``carry_z``; a place carries the held object at ``carry_z`` to the point, sets it
down, releases it and goes home.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import param
from .targets import GraspTarget, grasp_target, place_target
from ..types import ObjectEstimate, Primitive


@dataclass
class PlanConfig:
    approach_height: float = param(0.12, "approach from this far above the grasp point [m]",
                                   min=0.02, max=0.5)
    carry_z: float = param(0.20, "TCP height while carrying [m]", min=0.05, max=0.8)
    grip_force: float = param(15.0, "grip force limit [N]", min=1.0, max=100.0)
    slow_speed: float = param(0.12, "speed for the last centimetres [m/s]", min=0.01, max=1.0)
    fast_speed: float = param(0.35, "speed in free space [m/s]", min=0.01, max=2.0)
    open_width: float = param(0.08, "gripper opening before a grasp [m]", min=0.01, max=0.2)


def _primitives(seq, q, target_id: str, frame_id: str, first_id: int, cfg: PlanConfig,
                max_wrench_force: float) -> list[Primitive]:
    return [Primitive(stamp_ns=0, frame_id=frame_id, sequence_id=first_id + i, primitive=name,
                      position=pos, orientation=q, gripper_width=width,
                      gripper_force=cfg.grip_force if name == "grasp" else 0.0, max_speed=speed,
                      max_wrench_force=max_wrench_force, target_id=target_id)
            for i, (name, pos, speed, width) in enumerate(seq)]


def pick_plan(obj: ObjectEstimate, cfg: PlanConfig = PlanConfig(), frame_id: str = "panda_link0",
              first_id: int = 1, max_wrench_force: float = 0.0) -> tuple[list[Primitive], GraspTarget]:
    """Open, approach, descend, grasp, lift ``obj`` (resting on a support at z = its bottom);
    returns the primitives and the grasp (the place plan needs it)."""
    grasp = grasp_target(obj)
    px, py, gz = grasp.position
    top = gz + cfg.approach_height
    w = cfg.open_width
    seq = [("release", (px, py, top), 0.0, w), ("approach", (px, py, top), cfg.fast_speed, w),
           ("move", (px, py, gz), cfg.slow_speed, w), ("grasp", (px, py, gz), 0.0, 0.0),
           ("lift", (px, py, cfg.carry_z), cfg.slow_speed, 0.0)]
    return _primitives(seq, grasp.orientation(), obj.id, frame_id, first_id, cfg,
                       max_wrench_force), grasp


def place_plan(grasp: GraspTarget, point, target_id: str = "", cfg: PlanConfig = PlanConfig(),
               frame_id: str = "panda_link0", first_id: int = 1,
               max_wrench_force: float = 0.0) -> list[Primitive]:
    """Carry the object held by ``grasp`` to ``point`` (x, y on a support at height z), set it
    down, release, retreat and go home."""
    tx, ty, tz = np.asarray(point, float)
    place_z = place_target((tx, ty, tz), grasp)[2]
    release_z = tz + grasp.height_above_bottom
    w = cfg.open_width
    seq = [("move", (tx, ty, cfg.carry_z), cfg.fast_speed, 0.0),
           ("place", (tx, ty, place_z), cfg.slow_speed, 0.0),
           ("release", (tx, ty, release_z), 0.0, w),
           ("move", (tx, ty, cfg.carry_z), cfg.fast_speed, w),
           ("home", (tx, ty, cfg.carry_z), 0.0, w)]
    return _primitives(seq, grasp.orientation(), target_id, frame_id, first_id, cfg,
                       max_wrench_force)


def pick_place_plan(obj: ObjectEstimate, place_xy, cfg: PlanConfig = PlanConfig(),
                    frame_id: str = "panda_link0") -> list[Primitive]:
    """Pick ``obj`` and put it down at ``place_xy`` on the table (z = 0)."""
    pick, grasp = pick_plan(obj, cfg, frame_id)
    return pick + place_plan(grasp, (place_xy[0], place_xy[1], 0.0), obj.id, cfg, frame_id,
                             first_id=len(pick) + 1)
