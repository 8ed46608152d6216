"""Executes joint trajectories on the simulated Panda the way a ros2_control
joint_trajectory_controller does with a position interface.

A new trajectory replaces the running one at once (its header stamp is not read: it starts on
arrival, as a controller does with stamp 0 - what arm_executor sends) from the joints' measured
positions at that moment, interpolates linearly to each waypoint at its ``time_from_start``,
then holds the last one. Arm joints are position-controlled (the robot's
motors, ``ARM_FORCE``); the two finger joints set the gripper width target (their sum [m]; one
finger alone stands for both), closed with the robot's grip force limit. Joints the trajectory
does not name keep their targets. Names are the URDF's (``panda_joint1`` .. ``panda_joint7``,
``panda_finger_joint1``, ``panda_finger_joint2``); times in ns of sim time.
"""

from __future__ import annotations

import numpy as np

from .robot import Panda

ARM_NAMES = [f"panda_joint{i}" for i in range(1, 8)]
FINGER_NAMES = ["panda_finger_joint1", "panda_finger_joint2"]


class TrajectoryFollower:
    def __init__(self, robot: Panda):
        self.robot = robot
        self.t0_ns = 0
        self.times = np.zeros(0)
        self.points = np.zeros((0, 0))
        self.names: list[str] = []

    def start(self, names, times_s, positions, now_ns: int) -> None:
        """Follow ``positions`` (n, len(names)) [rad or m] at ``times_s`` (n,) from now; raises
        ValueError for joints the Panda does not have."""
        unknown = [n for n in names if n not in ARM_NAMES + FINGER_NAMES]
        if unknown:
            raise ValueError(f"unknown joint(s) {unknown}; the Panda has "
                             f"{', '.join(ARM_NAMES + FINGER_NAMES)}")
        q = self.robot.joint_positions()  # 7 arm joints, then the two fingers
        now = np.array([q[ARM_NAMES.index(n)] if n in ARM_NAMES else q[7 + FINGER_NAMES.index(n)]
                        for n in names])
        self.names = list(names)
        self.times = np.concatenate([[0.0], np.asarray(times_s, float)])
        self.points = np.vstack([now, np.asarray(positions, float)])
        self.t0_ns = now_ns
        self.update(now_ns)

    @property
    def active(self) -> bool:
        return bool(self.names)

    def update(self, now_ns: int) -> None:
        """Set the robot's targets for sim time ``now_ns`` (call before every physics step)."""
        if not self.names:
            return
        t = (now_ns - self.t0_ns) / 1e9
        target = np.array([np.interp(t, self.times, self.points[:, j])
                           for j in range(len(self.names))])
        arm = self.robot.q_target.copy()
        fingers = []
        for n, v in zip(self.names, target):
            if n in ARM_NAMES:
                arm[ARM_NAMES.index(n)] = v
            else:
                fingers.append(v)
        self.robot.set_arm_target(arm)
        if fingers:
            self.robot.set_gripper(float(np.mean(fingers)) * 2)
        if t > self.times[-1]:
            self.names = []  # done: the robot keeps the last targets
