"""Grasp and place targets for the action node, from perceived (or ground-truth) objects.

Frame: the robot base ``panda_link0`` (REP 103: x forward, z up; metres, radians). A grasp is
top-down at the object's centre; for a cube the fingers close across a pair of faces (the
gripper yaw is the cube's yaw folded into [-pi/4, pi/4)), round objects take yaw 0. A place
target puts the object's bottom on the support at the given point, the gripper holding it at
the height above its bottom at which it was grasped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from ..types import ObjectEstimate

PLACE_CLEARANCE_M = 0.004  # released this far above the support, so it is not pushed into it


@dataclass
class GraspTarget:
    position: np.ndarray   # TCP at the grasp [m], base frame
    yaw: float             # gripper yaw about +z [rad]; fingers close along yaw + pi/2
    width: float           # object width between the fingers [m]
    height_above_bottom: float  # TCP height above the object's bottom [m]

    def orientation(self) -> np.ndarray:
        """Quaternion (x, y, z, w) of the top-down gripper (tool z pointing down)."""
        return Rotation.from_euler("xyz", [np.pi, 0.0, self.yaw]).as_quat()


def object_yaw(orientation) -> float:
    """Yaw [rad] of an (x, y, z, w) orientation about the base z axis."""
    return float(Rotation.from_quat(np.asarray(orientation, float)).as_euler("xyz")[2])


def grasp_yaw(shape: str, orientation) -> float:
    """Gripper yaw that closes the fingers on a pair of cube faces, in [-pi/4, pi/4); 0 for
    round objects."""
    if shape != "cube":
        return 0.0
    return float((object_yaw(orientation) + np.pi / 4) % (np.pi / 2) - np.pi / 4)


def grasp_target(obj: ObjectEstimate) -> GraspTarget:
    """Top-down grasp at the centre of ``obj`` (position = centre, size = full extents)."""
    half_height = float(obj.size[2]) / 2
    return GraspTarget(position=np.array(obj.position, float), yaw=grasp_yaw(obj.shape, obj.orientation),
                       width=float(obj.size[0]), height_above_bottom=half_height)


def place_target(point, grasp: GraspTarget) -> np.ndarray:
    """TCP position [m] that sets the grasped object down at ``point`` (x, y on the support
    surface at height z)."""
    p = np.asarray(point, float)
    return np.array([p[0], p[1], p[2] + grasp.height_above_bottom + PLACE_CLEARANCE_M])


def outside_workspace(position, lo, hi) -> str:
    """Why ``position`` [m, base frame] is outside the box ``lo``..``hi``, or "" when inside."""
    for axis, v, a, b in zip("xyz", np.asarray(position, float), lo, hi):
        if not a <= v <= b:
            return f"target {axis} = {v:.3f} m outside the workspace [{a}, {b}]"
    return ""
