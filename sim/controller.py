"""Executes motion primitives (omni_ros.core.types.Primitive) on the simulated Panda.

One primitive runs at a time; a new one preempts the running one (which ends ``stopped``).
Cartesian primitives follow a straight line at ``max_speed`` with orientation slerp, solving IK
every physics step. Every motion watches the wrist force: a change larger than
``max_wrench_force`` from its value when the primitive started stops the arm (``failed``).
Targets outside the workspace box are ``rejected`` before anything moves.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from omni_ros.core.types import Primitive, PrimitiveStatus

from .robot import HOME_Q, MAX_WIDTH, Panda

WORKSPACE = {"x": (0.15, 0.85), "y": (-0.55, 0.55), "z": (0.003, 0.70)}  # TCP box [m]
DEFAULT_SPEED = 0.3            # [m/s]
DEFAULT_WRENCH_LIMIT = 40.0    # [N]
DEFAULT_GRIP_FORCE = 15.0      # [N]
ANGULAR_SPEED = 2.0            # [rad/s]
JOINT_SPEED = 1.2              # [rad/s] for home
REACH_TOL = 0.004              # [m]
SETTLE_TIMEOUT_S = 1.0
CARTESIAN = ("approach", "move", "lift", "place")


def _smooth(s: float) -> float:
    return s * s * (3 - 2 * s)


class Executor:
    def __init__(self, robot: Panda, physics_hz: int):
        self.robot = robot
        self.dt = 1.0 / physics_hz
        self.current: Primitive | None = None
        self.t = 0.0              # time since the current primitive started [s]
        self.plan: dict = {}

    # --- commands --------------------------------------------------------------------------------
    def command(self, p: Primitive, stamp_ns: int) -> list[PrimitiveStatus]:
        out = []
        reason = self._reject_reason(p)
        if reason:
            return [PrimitiveStatus(stamp_ns, p.sequence_id, p.primitive, "rejected", reason)]
        if self.current is not None:
            out.append(self._status(stamp_ns, "stopped", f"preempted by #{p.sequence_id} "
                                                         f"({p.primitive})"))
            self.current = None
        if p.primitive == "stop":
            self._hold()
            return out + [PrimitiveStatus(stamp_ns, p.sequence_id, "stop", "succeeded", "halted")]
        self.current, self.t = p, 0.0
        self._start(p)
        return out + [self._status(stamp_ns, "running")]

    def _reject_reason(self, p: Primitive) -> str:
        if p.primitive in CARTESIAN:
            for axis, v in zip("xyz", p.position):
                lo, hi = WORKSPACE[axis]
                if not lo <= v <= hi:
                    return f"target {axis} = {v:.3f} m outside the workspace [{lo}, {hi}]"
        if p.primitive in ("grasp", "release") and p.gripper_width > MAX_WIDTH + 1e-9:
            return f"gripper_width {p.gripper_width} m exceeds {MAX_WIDTH} m"
        return ""

    def _status(self, stamp_ns: int, state: str, reason: str = "") -> PrimitiveStatus:
        p = self.current
        return PrimitiveStatus(stamp_ns, p.sequence_id, p.primitive, state, reason)

    def _hold(self) -> None:
        self.robot.set_arm_target(self.robot.joint_positions()[:7])

    # --- execution -------------------------------------------------------------------------------
    def _start(self, p: Primitive) -> None:
        r = self.robot
        self.plan = {"f0": r.wrist_wrench()[:3].copy()}
        if p.primitive in CARTESIAN:
            pos0, orn0 = r.tcp_pose()
            goal = np.asarray(p.position, float)
            rots = Rotation.from_quat([orn0, np.asarray(p.orientation, float)])
            angle = float((rots[1] * rots[0].inv()).magnitude())
            speed = p.max_speed or DEFAULT_SPEED
            duration = max(np.linalg.norm(goal - pos0) / speed, angle / ANGULAR_SPEED, 0.1)
            self.plan.update(pos0=pos0, goal=goal, slerp=Slerp([0, 1], rots),
                             duration=duration)
        elif p.primitive == "grasp":
            r.set_gripper(0.0, p.gripper_force or DEFAULT_GRIP_FORCE)
            self.plan.update(last_width=r.gripper_width(), still=0)
        elif p.primitive == "release":
            r.set_gripper(p.gripper_width or MAX_WIDTH, DEFAULT_GRIP_FORCE)
            self.plan.update(last_width=r.gripper_width(), still=0)
        elif p.primitive == "home":
            q0 = r.joint_positions()[:7]
            duration = max(float(np.max(np.abs(np.array(HOME_Q) - q0))) / JOINT_SPEED, 0.2)
            self.plan.update(q0=q0, duration=duration)

    def update(self, stamp_ns: int) -> list[PrimitiveStatus]:
        """Advance the running primitive by one physics step; return status changes."""
        p = self.current
        if p is None:
            return []
        self.t += self.dt
        limit = p.max_wrench_force or DEFAULT_WRENCH_LIMIT
        df = float(np.linalg.norm(self.robot.wrist_wrench()[:3] - self.plan["f0"]))
        if p.primitive in CARTESIAN + ("home",) and df > limit:
            return self._finish(stamp_ns, "failed", f"wrench limit: force changed by {df:.1f} N "
                                                    f"> {limit:.1f} N", hold=True)
        if p.primitive in CARTESIAN:
            return self._update_cartesian(stamp_ns)
        if p.primitive in ("grasp", "release"):
            return self._update_gripper(stamp_ns)
        return self._update_home(stamp_ns)

    def _finish(self, stamp_ns, state, reason="", hold=False) -> list[PrimitiveStatus]:
        if hold:
            self._hold()
        st = self._status(stamp_ns, state, reason)
        self.current = None
        return [st]

    def _update_cartesian(self, stamp_ns: int) -> list[PrimitiveStatus]:
        pl = self.plan
        s = min(1.0, self.t / pl["duration"])
        a = _smooth(s)
        pos = pl["pos0"] + a * (pl["goal"] - pl["pos0"])
        orn = pl["slerp"](a).as_quat()
        self.robot.set_arm_target(self.robot.ik(pos, orn))
        if s < 1.0:
            return []
        err = float(np.linalg.norm(self.robot.tcp_pose()[0] - pl["goal"]))
        if err <= REACH_TOL:
            return self._finish(stamp_ns, "succeeded")
        if self.t > pl["duration"] + SETTLE_TIMEOUT_S:
            return self._finish(stamp_ns, "failed", f"did not reach the target: "
                                                    f"{err * 1000:.1f} mm away", hold=True)
        return []

    def _update_gripper(self, stamp_ns: int) -> list[PrimitiveStatus]:
        pl = self.plan
        w = self.robot.gripper_width()
        pl["still"] = pl["still"] + 1 if abs(w - pl["last_width"]) < 2e-5 else 0
        pl["last_width"] = w
        closing = self.current.primitive == "grasp"
        if self.t < 0.1 or pl["still"] < 12:
            if self.t > 3.0:
                return self._finish(stamp_ns, "failed", "gripper did not settle")
            return []
        if closing:
            if w < 0.003:
                return self._finish(stamp_ns, "failed", "closed on nothing")
            return self._finish(stamp_ns, "succeeded")
        return self._finish(stamp_ns, "succeeded")

    def _update_home(self, stamp_ns: int) -> list[PrimitiveStatus]:
        pl = self.plan
        a = _smooth(min(1.0, self.t / pl["duration"]))
        self.robot.set_arm_target(pl["q0"] + a * (np.array(HOME_Q) - pl["q0"]))
        q = self.robot.joint_positions()[:7]
        if a >= 1.0 and np.max(np.abs(q - np.array(HOME_Q))) < 0.02:
            return self._finish(stamp_ns, "succeeded")
        if self.t > pl["duration"] + SETTLE_TIMEOUT_S:
            return self._finish(stamp_ns, "failed", "did not reach home", hold=True)
        return []
