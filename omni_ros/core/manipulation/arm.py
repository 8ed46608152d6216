"""The arm executor's logic without ROS: motion primitives -> joint trajectories for a
position-controlled arm, and each primitive's progress from the measured joints and wrench.

The same safety rules as the simulator's executor (``omni_ros_sim.controller``): a target
outside the workspace box, a gripper width above the maximum, a pose without an IK solution or
a command in another frame is ``rejected`` before anything moves; a wrist force change larger
than ``max_wrench_force`` (the primitive's, else ``default_wrench_limit``) from its value when
the motion started stops it (a hold trajectory at the measured joints, ``failed``); ``stop``
holds at once; a newer command preempts the running one (``stopped``); joints that stop
reporting for ``joint_states_timeout_s`` while a primitive runs fail it with a hold. A motion
succeeds when, after its planned duration, every arm joint is within ``goal_tolerance_rad`` of
the goal; a grasp succeeds when the fingers have stopped on something wider than
``min_grasp_width_m``. With ``dry_run`` the trajectory is planned and returned for preview, the
primitive ends ``rejected`` (nothing was commanded) and nothing runs.

Base frame (REP 103, metres); positions [rad or m]; forces [N]; times [ns] from the joint
states' stamps (so the timing follows the robot's clock - sim time in the simulator).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..config import ConfigError, param
from ..errors import require
from ..types import Primitive, PrimitiveStatus
from .ik import PANDA_ARM_JOINTS, PANDA_TCP_LINK, ArmModel, IKError
from .targets import outside_workspace
from .trajectory import JointPath, cartesian_path, hold_path, joint_path

CARTESIAN = ("approach", "move", "lift", "place")
GRIPPER = ("grasp", "release")
STILL_M = 1e-4          # finger width change between joint states that counts as still [m]
STILL_SAMPLES = 4       # joint states in a row with still fingers before a gripper settles


@dataclass
class ArmExecutorConfig:
    base_frame: str = param("panda_link0", "frame of the URDF's root link; commands in another "
                            "frame are rejected")
    urdf: str = param("", "robot URDF for IK; empty = the Panda the simulator uses "
                      "(pybullet_data/franka_panda/panda.urdf)")
    tcp_link: str = param(PANDA_TCP_LINK, "URDF link of the tool centre point")
    arm_joints: list[str] = param(list(PANDA_ARM_JOINTS), "arm joints in the controller's "
                                  "order (URDF joint names)")
    gripper_joints: list[str] = param(["panda_finger_joint1", "panda_finger_joint2"],
                                      "gripper joints commanded in the same trajectory; each "
                                      "gets width / their number [m]; empty = gripper "
                                      "primitives are rejected")
    home_positions: list[float] = param([0.0, -0.30, 0.0, -2.20, 0.0, 1.90, 0.785],
                                        "arm joints of the home pose [rad]")
    workspace_min: list[float] = param([0.15, -0.55, 0.003], "TCP workspace box, lower corner "
                                       "[m] (the simulator's)")
    workspace_max: list[float] = param([0.85, 0.55, 0.70], "TCP workspace box, upper corner [m]")
    max_gripper_width: float = param(0.08, "widest gripper opening [m]", min=0.001, max=1.0)
    default_speed: float = param(0.3, "TCP speed when a command says 0 [m/s]", min=0.01, max=2.0)
    angular_speed: float = param(1.5, "largest TCP rotation speed [rad/s]", min=0.1, max=10.0)
    max_joint_speed: float = param(1.0, "largest joint speed of any planned motion [rad/s]",
                                   min=0.05, max=10.0)
    gripper_speed: float = param(0.1, "gripper opening/closing speed [m/s]", min=0.005, max=1.0)
    waypoint_step_m: float = param(0.02, "largest TCP distance between trajectory points [m]",
                                   min=0.001, max=0.5)
    ik_tolerance_m: float = param(0.002, "largest TCP error of an IK solution [m]", min=1e-5,
                                  max=0.05)
    default_wrench_limit: float = param(40.0, "stop when the wrist force changes more than this "
                                        "and the command says 0 [N]", min=1.0, max=1000.0)
    goal_tolerance_rad: float = param(0.01, "a motion succeeds when every arm joint is this "
                                      "close to its goal [rad]", min=1e-4, max=0.5)
    settle_timeout_s: float = param(1.5, "a motion fails this long after its planned end if "
                                    "still outside the tolerance [s]", min=0.1, max=60.0)
    gripper_timeout_s: float = param(3.0, "a grasp or release fails when the fingers have not "
                                     "settled after this long [s]", min=0.2, max=60.0)
    min_grasp_width_m: float = param(0.003, "a grasp closed below this width holds nothing [m]",
                                     min=0.0, max=0.2)
    hold_time_s: float = param(0.1, "time_from_start of a hold trajectory's one point [s]",
                               min=0.01, max=2.0)
    joint_states_timeout_s: float = param(2.0, "fail a running primitive when no joint states "
                                          "came for this long [s]", min=0.1, max=60.0)

    def check(self) -> None:
        lo, hi = np.asarray(self.workspace_min), np.asarray(self.workspace_max)
        if lo.shape != (3,) or hi.shape != (3,) or not np.all(lo < hi):
            raise ConfigError(f"parameters 'workspace_min' {self.workspace_min} / 'workspace_max' "
                              f"{self.workspace_max}: must be [x, y, z] with min < max")
        if len(self.home_positions) != len(self.arm_joints):
            raise ConfigError(f"parameter 'home_positions' has {len(self.home_positions)} values "
                              f"for {len(self.arm_joints)} arm_joints")
        if not self.arm_joints or len(set(self.arm_joints + self.gripper_joints)) != \
                len(self.arm_joints) + len(self.gripper_joints):
            raise ConfigError("parameters 'arm_joints' / 'gripper_joints': must be non-empty "
                              "and name each joint once")


@dataclass
class Step:
    """What the node does after an input: publish ``statuses``; send ``path`` to the
    controller (in dry run: to the preview topic only)."""

    statuses: list[PrimitiveStatus] = field(default_factory=list)
    path: JointPath | None = None


class ArmExecutor:
    def __init__(self, cfg: ArmExecutorConfig, model: ArmModel | None = None,
                 dry_run: bool = True):
        cfg.check()
        self.cfg, self.dry_run = cfg, dry_run
        self.model = model or ArmModel(cfg.urdf, cfg.arm_joints, cfg.tcp_link)
        self.q: np.ndarray | None = None      # measured arm joints
        self.width: float | None = None       # measured gripper width [m]
        self.joints_ns = 0                    # stamp of the latest joint states
        self.force: np.ndarray | None = None  # latest wrist force [N]
        self.width_target: float | None = None
        self.arm_target: np.ndarray | None = None  # arm joints last sent to the controller
        self.current: Primitive | None = None
        self.path: JointPath | None = None
        self.start_ns: int | None = None      # stamp of the first joint states after the command
        self.f0: np.ndarray | None = None
        self.still = 0

    # --- inputs ---------------------------------------------------------------------------------
    def on_joints(self, names, positions, stamp_ns: int) -> Step:
        """Measured joints (names and positions [rad or m], stamp [ns]); returns what changed."""
        index = {n: i for i, n in enumerate(names)}
        missing = [n for n in self.cfg.arm_joints + self.cfg.gripper_joints if n not in index]
        require(not missing, "name", f"lacks configured joint(s) {missing}")
        pos = np.asarray(positions, float)
        q = pos[[index[n] for n in self.cfg.arm_joints]]
        width = float(sum(pos[index[n]] for n in self.cfg.gripper_joints))
        prev_width = self.width
        self.q, self.width, self.joints_ns = q, width, stamp_ns
        if self.width_target is None:
            self.width_target = width
        if self.current is None:
            return Step()
        if self.start_ns is None:
            self.start_ns = stamp_ns
        elapsed = (stamp_ns - self.start_ns) / 1e9
        if self.current.primitive in GRIPPER:
            moved = prev_width is None or abs(width - prev_width) >= STILL_M
            self.still = 0 if moved else self.still + 1
            return self._update_gripper(elapsed, stamp_ns)
        err = float(np.abs(q - self.path.goal[:len(q)]).max())
        if elapsed >= self.path.duration_s and err <= self.cfg.goal_tolerance_rad:
            return self._finish(stamp_ns, "succeeded")
        if elapsed > self.path.duration_s + self.cfg.settle_timeout_s:
            return self._finish(stamp_ns, "failed", f"did not reach the goal: a joint is "
                                f"{err:.3f} rad away (tolerance {self.cfg.goal_tolerance_rad} rad)",
                                hold=True)
        return Step()

    def on_wrench(self, force, stamp_ns: int) -> Step:
        """Wrist force (3,) [N] in the sensor frame; stops a motion whose change is too big."""
        self.force = np.asarray(force, float)[:3]
        p = self.current
        if p is None or p.primitive in GRIPPER:
            return Step()
        if self.f0 is None:
            self.f0 = self.force
            return Step()
        limit = p.max_wrench_force or self.cfg.default_wrench_limit
        df = float(np.linalg.norm(self.force - self.f0))
        if df > limit:
            return self._finish(stamp_ns, "failed", f"wrench limit: force changed by {df:.1f} N "
                                f"> {limit:.1f} N", hold=True)
        return Step()

    def tick(self, silent_s: float, stamp_ns: int) -> Step:
        """Watchdog: ``silent_s`` [s] since the latest joint states arrived."""
        if self.current is not None and silent_s > self.cfg.joint_states_timeout_s:
            return self._finish(stamp_ns, "failed", f"no joint states for {silent_s:.1f} s "
                                f"(limit {self.cfg.joint_states_timeout_s:g} s)", hold=True)
        return Step()

    # --- commands -------------------------------------------------------------------------------
    def command(self, p: Primitive, stamp_ns: int) -> Step:
        out = Step()
        if p.primitive == "stop":
            if self.current is not None:
                out.statuses.append(self._status(stamp_ns, "stopped",
                                                 f"stopped by #{p.sequence_id}"))
                self.current = None
            out.path = self._hold()
            reason = "halted" + (" (dry run: nothing was commanded)" if self.dry_run else "")
            out.statuses.append(PrimitiveStatus(stamp_ns, p.sequence_id, p.primitive,
                                                "succeeded", reason))
            return out
        try:
            reason, path = self._reject_reason(p), None
            if not reason:
                path = self._plan(p)
        except IKError as err:
            reason = str(err)
        if reason:
            out.statuses.append(PrimitiveStatus(stamp_ns, p.sequence_id, p.primitive, "rejected",
                                                reason))
            return out
        out.path = path
        if self.dry_run:
            out.statuses.append(PrimitiveStatus(
                stamp_ns, p.sequence_id, p.primitive, "rejected",
                f"dry run: {len(path.times_s)}-point trajectory of {path.duration_s:.2f} s "
                f"previewed, arm not commanded (parameter dry_run)"))
            return out
        if self.current is not None:
            out.statuses.append(self._status(stamp_ns, "stopped", f"preempted by "
                                             f"#{p.sequence_id} ({p.primitive})"))
        self.current, self.path, self.start_ns, self.still = p, path, None, 0
        self.arm_target = path.goal[:len(self.q)].copy()
        self.f0 = self.force
        if p.primitive in GRIPPER:
            self.width_target = self._width(p)
        out.statuses.append(self._status(stamp_ns, "running"))
        return out

    def _reject_reason(self, p: Primitive) -> str:
        c = self.cfg
        if p.frame_id not in ("", c.base_frame):
            return f"frame {p.frame_id!r}: this executor plans in {c.base_frame!r}"
        if self.q is None:
            return "no joint states yet: the arm's position is unknown"
        if p.primitive in CARTESIAN:
            return outside_workspace(p.position, c.workspace_min, c.workspace_max)
        if p.primitive in GRIPPER:
            if not c.gripper_joints:
                return "no gripper joints configured (parameter gripper_joints)"
            if p.gripper_width > c.max_gripper_width + 1e-9:
                return f"gripper_width {p.gripper_width} m exceeds {c.max_gripper_width} m"
        return ""

    def _width(self, p: Primitive) -> float:
        return 0.0 if p.primitive == "grasp" else (p.gripper_width or self.cfg.max_gripper_width)

    def _plan(self, p: Primitive) -> JointPath:
        c = self.cfg
        if p.primitive in CARTESIAN:
            path = cartesian_path(self.model, self.q, p.position, p.orientation,
                                  p.max_speed or c.default_speed, c.angular_speed,
                                  c.max_joint_speed, c.waypoint_step_m,
                                  tolerance_m=c.ik_tolerance_m)
        elif p.primitive == "home":
            path = joint_path(c.arm_joints, self.q, c.home_positions, c.max_joint_speed)
        else:  # grasp / release: the arm holds still while the fingers move
            width = self._width(p)
            t = max(0.2, abs(width - self.width) / c.gripper_speed)
            arm = self.q if self.arm_target is None else self.arm_target
            return JointPath(list(c.arm_joints), np.array([t]), arm.reshape(1, -1)
                             ).with_gripper(c.gripper_joints, width)
        return path.with_gripper(c.gripper_joints, self.width_target)

    # --- progress -------------------------------------------------------------------------------
    def _update_gripper(self, elapsed: float, stamp_ns: int) -> Step:
        if elapsed < self.path.duration_s or self.still < STILL_SAMPLES:
            if elapsed > max(self.cfg.gripper_timeout_s, self.path.duration_s + 1.0):
                return self._finish(stamp_ns, "failed", "gripper did not settle")
            return Step()
        if self.current.primitive == "grasp" and self.width < self.cfg.min_grasp_width_m:
            return self._finish(stamp_ns, "failed", f"closed on nothing (width "
                                f"{self.width * 1000:.1f} mm)")
        return self._finish(stamp_ns, "succeeded")

    def _status(self, stamp_ns: int, state: str, reason: str = "") -> PrimitiveStatus:
        p = self.current
        return PrimitiveStatus(stamp_ns, p.sequence_id, p.primitive, state, reason)

    def _finish(self, stamp_ns: int, state: str, reason: str = "", hold: bool = False) -> Step:
        out = Step([self._status(stamp_ns, state, reason)], self._hold() if hold else None)
        self.current = None
        return out

    def _hold(self) -> JointPath | None:
        """Stay where the arm is now (the gripper keeps its commanded width)."""
        if self.q is None:
            return None
        self.arm_target = self.q.copy()
        return hold_path(self.cfg.arm_joints, self.q, self.cfg.hold_time_s).with_gripper(
            self.cfg.gripper_joints, self.width_target)
