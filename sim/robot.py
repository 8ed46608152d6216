"""The Franka Panda in PyBullet: low-poly model, gear-linked fingers, IK, wrist F/T sensor.

Frames: the robot base ``panda_link0`` is the world origin. The tool centre point (TCP) is
``panda_grasptarget``, between the fingertips. Gripper width is the distance between the
fingers [m] (0 .. 0.08).
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pybullet as pb
import pybullet_data

ARM_JOINTS = list(range(7))
FINGER_JOINTS = (9, 10)
HAND_JOINT = 8            # panda_hand_joint (fixed): link8 -> hand; the wrist F/T sensor
TCP_LINK = 11             # panda_grasptarget
LEFT_FINGER, RIGHT_FINGER = 9, 10
HOME_Q = (0.0, -0.30, 0.0, -2.20, 0.0, 1.90, 0.785)
MAX_WIDTH = 0.08
ARM_FORCE = 240.0         # joint motor force limit [N*m] used for position control
TOP_DOWN = pb.getQuaternionFromEuler((np.pi, 0.0, 0.0))  # TCP z axis pointing down


@functools.lru_cache(maxsize=1)
def low_poly_urdf() -> str:
    """Path of a Panda URDF whose visuals are the collision meshes (6x cheaper to render)."""
    src_dir = Path(pybullet_data.getDataPath()) / "franka_panda"
    text = (src_dir / "panda.urdf").read_text()
    text = re.sub(r"meshes/visual/(\w+)\.obj", r"meshes/collision/\1.obj", text)
    text = text.replace("package://meshes/", f"{src_dir}/meshes/")
    out = Path(tempfile.gettempdir()) / "omni_ros_sim_panda_lowpoly.urdf"
    if not out.exists() or out.read_text() != text:
        # Write then rename, so parallel workers never load a half-written file.
        with tempfile.NamedTemporaryFile("w", dir=out.parent, suffix=".urdf", delete=False) as f:
            f.write(text)
        os.replace(f.name, out)
    return str(out)


class Panda:
    """One Panda arm in client ``cid``; call :meth:`control` every physics step."""

    def __init__(self, cid: int, grip_force: float = 15.0):
        self.cid = cid
        self.id = pb.loadURDF(low_poly_urdf(), [0, 0, 0], useFixedBase=True,
                              flags=pb.URDF_USE_SELF_COLLISION_EXCLUDE_PARENT,
                              physicsClientId=cid)
        for j, q in zip(ARM_JOINTS, HOME_Q):
            pb.resetJointState(self.id, j, q, physicsClientId=cid)
        for j in FINGER_JOINTS:
            pb.resetJointState(self.id, j, MAX_WIDTH / 2, physicsClientId=cid)
            pb.changeDynamics(self.id, j, lateralFriction=1.0, spinningFriction=0.002,
                              physicsClientId=cid)
        # Link the fingers so they move symmetrically (gear ratio -1).
        c = pb.createConstraint(self.id, LEFT_FINGER, self.id, RIGHT_FINGER, pb.JOINT_GEAR,
                                [1, 0, 0], [0, 0, 0], [0, 0, 0], physicsClientId=cid)
        pb.changeConstraint(c, gearRatio=-1, erp=0.1, maxForce=50, physicsClientId=cid)
        pb.enableJointForceTorqueSensor(self.id, HAND_JOINT, True, physicsClientId=cid)
        self.grip_force = grip_force
        self.width_target = MAX_WIDTH
        self.q_target = np.array(HOME_Q)

    # --- state ---------------------------------------------------------------------------------
    def joint_positions(self) -> np.ndarray:
        states = pb.getJointStates(self.id, ARM_JOINTS + list(FINGER_JOINTS), physicsClientId=self.cid)
        return np.array([s[0] for s in states])

    def joint_velocities(self) -> np.ndarray:
        states = pb.getJointStates(self.id, ARM_JOINTS + list(FINGER_JOINTS), physicsClientId=self.cid)
        return np.array([s[1] for s in states])

    def tcp_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """TCP position [m] and orientation (x, y, z, w) in the base frame."""
        s = pb.getLinkState(self.id, TCP_LINK, computeForwardKinematics=True,
                            physicsClientId=self.cid)
        return np.array(s[4]), np.array(s[5])

    def gripper_width(self) -> float:
        q = pb.getJointStates(self.id, FINGER_JOINTS, physicsClientId=self.cid)
        return float(q[0][0] + q[1][0])

    def wrist_wrench(self) -> np.ndarray:
        """Reaction force [N] and torque [N*m] at the hand joint, in the frame of the joint's
        child link, panda_hand (``panda_hand_ft``, sim/frames.py): the load the hand and
        whatever it holds put on the wrist."""
        return np.array(pb.getJointState(self.id, HAND_JOINT, physicsClientId=self.cid)[2])

    # --- commands ------------------------------------------------------------------------------
    def ik(self, position, orientation) -> np.ndarray:
        q = pb.calculateInverseKinematics(
            self.id, TCP_LINK, position, orientation, maxNumIterations=50,
            residualThreshold=1e-5, physicsClientId=self.cid)
        return np.array(q[:7])

    def set_arm_target(self, q: np.ndarray) -> None:
        self.q_target = np.asarray(q, float)

    def set_gripper(self, width: float, force: float | None = None) -> None:
        self.width_target = float(np.clip(width, 0.0, MAX_WIDTH))
        if force is not None:
            self.grip_force = float(force)

    def control(self) -> None:
        """Apply the current arm and gripper targets (call once per physics step)."""
        pb.setJointMotorControlArray(self.id, ARM_JOINTS, pb.POSITION_CONTROL,
                                     targetPositions=self.q_target.tolist(),
                                     forces=[ARM_FORCE] * 7, physicsClientId=self.cid)
        half = self.width_target / 2
        pb.setJointMotorControlArray(self.id, list(FINGER_JOINTS), pb.POSITION_CONTROL,
                                     targetPositions=[half, half],
                                     forces=[self.grip_force] * 2, physicsClientId=self.cid)
