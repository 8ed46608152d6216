"""Inverse and forward kinematics of an arm from its URDF alone (PyBullet, a DIRECT client: no
GUI, no physics world shared with anything else).

Frames: the URDF's root link is the base frame (REP 103: x forward, y left, z up; metres);
orientations are unit quaternions (x, y, z, w); joint positions in radians (revolute) or metres
(prismatic), in the order of ``arm_joints``. The default URDF is the Franka Panda the simulator
loads (``pybullet_data/franka_panda/panda.urdf``); its tool centre point is
``panda_grasptarget``, between the fingertips.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import ConfigError

PANDA_ARM_JOINTS = [f"panda_joint{i}" for i in range(1, 8)]
PANDA_TCP_LINK = "panda_grasptarget"


def default_urdf() -> str:
    """The Panda URDF the simulator's arm is made from."""
    import pybullet_data

    return str(Path(pybullet_data.getDataPath()) / "franka_panda" / "panda.urdf")


class IKError(ValueError):
    """No joint positions put the TCP at the requested pose within tolerance (reason says why)."""


class ArmModel:
    """Kinematics of the joints ``arm_joints`` of ``urdf`` up to link ``tcp_link``.

    ``ik`` solves from a seed (the current joints: the solution stays on the seed's branch) by
    damped least squares, repeated until the TCP is within ``tolerance_m`` / ``tolerance_rad``
    of the target; solutions outside the URDF's joint limits are clipped and checked again.
    """

    def __init__(self, urdf: str = "", arm_joints=tuple(PANDA_ARM_JOINTS),
                 tcp_link: str = PANDA_TCP_LINK):
        import pybullet as pb

        self._pb = pb
        path = urdf or default_urdf()
        if not Path(path).is_file():
            raise ConfigError(f"parameter 'urdf' = {path!r}: no such file")
        self.cid = pb.connect(pb.DIRECT)
        try:
            self.body = pb.loadURDF(path, useFixedBase=True, physicsClientId=self.cid)
        except pb.error as err:
            self.close()
            raise ConfigError(f"parameter 'urdf' = {path!r}: PyBullet cannot load it ({err})")
        joints, links, movable = {}, {}, []
        for j in range(pb.getNumJoints(self.body, physicsClientId=self.cid)):
            info = pb.getJointInfo(self.body, j, physicsClientId=self.cid)
            name, kind, link = info[1].decode(), info[2], info[12].decode()
            joints[name] = (j, info[8], info[9])
            links[link] = j
            if kind != pb.JOINT_FIXED:
                movable.append(name)
        missing = [n for n in arm_joints if n not in joints]
        if missing or tcp_link not in links:
            self.close()
            raise ConfigError(f"URDF {path}: no joint(s) {missing} / link {tcp_link!r}; joints: "
                              f"{', '.join(movable)}; links: {', '.join(links)}")
        self.urdf = path
        self.arm_joints = list(arm_joints)
        self.index = [joints[n][0] for n in arm_joints]
        self.lower = np.array([joints[n][1] for n in arm_joints])
        self.upper = np.array([joints[n][2] for n in arm_joints])
        self.tcp = links[tcp_link]
        self.movable = movable  # PyBullet's IK answers one value per movable joint, in this order
        self._slot = [movable.index(n) for n in arm_joints]

    def close(self) -> None:
        if self.cid is not None and self._pb.isConnected(self.cid):
            self._pb.disconnect(self.cid)
        self.cid = None

    def _set(self, q) -> None:
        for j, v in zip(self.index, q):
            self._pb.resetJointState(self.body, j, float(v), physicsClientId=self.cid)

    def fk(self, q) -> tuple[np.ndarray, np.ndarray]:
        """TCP position [m] and orientation (x, y, z, w) in the base frame for joints ``q``."""
        self._set(q)
        s = self._pb.getLinkState(self.body, self.tcp, computeForwardKinematics=True,
                                  physicsClientId=self.cid)
        return np.array(s[4]), np.array(s[5])

    def ik(self, position, orientation, seed, tolerance_m: float = 0.002,
           tolerance_rad: float = 0.02, rounds: int = 8) -> np.ndarray:
        """Joint positions that put the TCP at ``position`` [m] with ``orientation`` (x, y, z,
        w), starting from ``seed``; raises :class:`IKError` when none within tolerance."""
        pos = np.asarray(position, float)
        orn = np.asarray(orientation, float)
        orn = orn / np.linalg.norm(orn)
        q = np.clip(np.asarray(seed, float), self.lower, self.upper)
        for _ in range(rounds):
            self._set(q)
            sol = self._pb.calculateInverseKinematics(
                self.body, self.tcp, pos.tolist(), orn.tolist(), maxNumIterations=100,
                residualThreshold=1e-6, physicsClientId=self.cid)
            q = np.clip(np.array(sol)[self._slot], self.lower, self.upper)
            err_m, err_rad = self.pose_error(q, pos, orn)
            if err_m <= tolerance_m and err_rad <= tolerance_rad:
                return q
        raise IKError(f"no IK solution for position {np.round(pos, 3).tolist()} m: best is "
                      f"{err_m * 1000:.1f} mm / {np.degrees(err_rad):.1f} deg away (joint limits "
                      f"or out of reach)")

    def pose_error(self, q, position, orientation) -> tuple[float, float]:
        """(position error [m], orientation error [rad]) of the TCP at ``q`` from a pose."""
        p, o = self.fk(q)
        dot = abs(float(np.dot(o, np.asarray(orientation, float))))
        return (float(np.linalg.norm(p - np.asarray(position, float))),
                2 * float(np.arccos(min(1.0, dot))))
