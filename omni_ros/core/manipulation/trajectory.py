"""Joint-space trajectories for a position-controlled arm (what a ros2_control
joint_trajectory_controller executes), planned without ROS.

A :class:`JointPath` is a list of waypoints: ``times_s`` [s] from the start (increasing, the
first > 0: the controller starts from where the joints are) and ``positions`` (n, joints) [rad
or m]. Cartesian moves are a straight TCP line with orientation slerp, cut into waypoints at
most ``step_m`` apart, each solved by IK seeded with the one before (so the arm stays on one
branch); timing follows a smoothstep profile whose peak TCP speed is the commanded speed and
whose joint speeds stay under ``max_joint_speed``. Gripper joints ride along as extra columns
(each gets width / number of gripper joints [m]).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from .ik import ArmModel, IKError

PEAK = 1.5  # peak / mean speed of the smoothstep profile 3s^2 - 2s^3


@dataclass
class JointPath:
    joint_names: list[str]
    times_s: np.ndarray      # (n,) time from start of each waypoint [s], increasing, > 0
    positions: np.ndarray    # (n, len(joint_names)) [rad or m]

    @property
    def duration_s(self) -> float:
        return float(self.times_s[-1]) if len(self.times_s) else 0.0

    @property
    def goal(self) -> np.ndarray:
        return self.positions[-1]

    def with_gripper(self, names: list[str], width_m: float) -> "JointPath":
        """This path with gripper joints ``names`` appended, holding ``width_m`` [m] throughout."""
        if not names:
            return self
        col = np.full((len(self.times_s), len(names)), width_m / len(names))
        return JointPath(self.joint_names + list(names), self.times_s,
                         np.hstack([self.positions, col]))


def smooth_times(u: np.ndarray, duration_s: float) -> np.ndarray:
    """Times [s] at which a smoothstep profile of ``duration_s`` reaches path fractions ``u``."""
    s = np.linspace(0.0, 1.0, 2001)
    return np.interp(u, s * s * (3 - 2 * s), s) * duration_s


def _timed(names, qs: np.ndarray, u: np.ndarray, duration_s: float, max_joint_speed: float,
           q0: np.ndarray) -> JointPath:
    """Waypoints ``qs`` at path fractions ``u`` (u[-1] = 1), stretched until no joint moves
    faster than ``max_joint_speed`` [rad/s] between waypoints (from ``q0``)."""
    for _ in range(20):
        t = smooth_times(u, duration_s)
        dq = np.abs(np.diff(np.vstack([q0, qs]), axis=0)).max(axis=1)
        dt = np.diff(np.concatenate([[0.0], t]))
        worst = float(np.max(dq / np.maximum(dt, 1e-9)))
        if worst <= max_joint_speed * 1.0001:
            break
        duration_s *= worst / max_joint_speed
    return JointPath(list(names), t, qs)


def cartesian_path(model: ArmModel, q0, position, orientation, speed_mps: float,
                   angular_speed_rps: float = 1.5, max_joint_speed: float = 1.0,
                   step_m: float = 0.02, min_duration_s: float = 0.3,
                   max_joint_step_rad: float = 0.5, tolerance_m: float = 0.002) -> JointPath:
    """A straight TCP line from the pose at ``q0`` to ``position`` [m] / ``orientation``
    (x, y, z, w) at peak speed ``speed_mps``; raises IKError if a waypoint has no solution or
    the solution jumps (a joint moves more than ``max_joint_step_rad`` between waypoints)."""
    q0 = np.asarray(q0, float)
    p0, o0 = model.fk(q0)
    p1 = np.asarray(position, float)
    rots = Rotation.from_quat([o0, np.asarray(orientation, float)])
    dist = float(np.linalg.norm(p1 - p0))
    angle = float((rots[1] * rots[0].inv()).magnitude())
    n = max(2, int(np.ceil(max(dist / step_m, angle / 0.1))))
    u = np.arange(1, n + 1) / n
    slerp = Slerp([0.0, 1.0], rots)
    qs, q = [], q0
    for ui in u:
        q_next = model.ik(p0 + ui * (p1 - p0), slerp(ui).as_quat(), q, tolerance_m=tolerance_m)
        jump = float(np.abs(q_next - q).max())
        if jump > max_joint_step_rad:
            raise IKError(f"IK jumps {jump:.2f} rad between waypoints {ui * 100:.0f} % along the "
                          f"line (a singularity or a joint limit in the way)")
        qs.append(q_next)
        q = q_next
    duration = max(PEAK * dist / speed_mps, PEAK * angle / angular_speed_rps, min_duration_s)
    return _timed(model.arm_joints, np.array(qs), u, duration, max_joint_speed, q0)


def joint_path(names, q0, q1, max_joint_speed: float = 1.0, min_duration_s: float = 0.3,
               points: int = 10) -> JointPath:
    """From ``q0`` to ``q1`` in joint space, peak joint speed ``max_joint_speed`` [rad/s]."""
    q0, q1 = np.asarray(q0, float), np.asarray(q1, float)
    u = np.arange(1, points + 1) / points
    qs = q0 + u[:, None] * (q1 - q0)
    duration = max(PEAK * float(np.abs(q1 - q0).max()) / max_joint_speed, min_duration_s)
    return _timed(names, qs, u, duration, max_joint_speed, q0)


def hold_path(names, q, hold_s: float = 0.1) -> JointPath:
    """One waypoint at ``q`` reached within ``hold_s`` [s]: stop where the joints are now."""
    return JointPath(list(names), np.array([hold_s]), np.asarray(q, float).reshape(1, -1))
