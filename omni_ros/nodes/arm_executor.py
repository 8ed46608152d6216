"""arm_executor: PrimitiveCommand (/omni/action) -> trajectory_msgs/JointTrajectory for a
ros2_control joint_trajectory_controller (``controller_topic``, its ``~/joint_trajectory``),
with IK from the robot's URDF; PrimitiveStatus on /omni/action_status from /joint_states and the
wrist wrench (/wrist/wrench). Safety rules, timing and success criteria:
``omni_ros.core.manipulation.arm``.

``dry_run`` (default true): every trajectory is logged and published on ``preview_topic`` only;
nothing is ever published on ``controller_topic`` and each primitive ends ``rejected`` with the
reason "dry run". Set ``dry_run:=false`` to command the arm. Trajectories start now (header stamp
0); a stop, a wrench stop or a lost joint-state stream sends a one-point hold trajectory at the
measured joints.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import WrenchStamped
from omni_ros_msgs.msg import PrimitiveCommand, PrimitiveStatus
from rclpy.node import Node
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from .. import conversions as cv
from ..core.config import param
from ..core.manipulation.arm import ArmExecutor, ArmExecutorConfig, Step
from ..core.manipulation.trajectory import JointPath
from .common import RELIABLE_QOS, GuardedInputs, qos_for, spin_node
from .params import declare_config


@dataclass
class ArmExecutorNodeConfig:
    dry_run: bool = param(True, "plan, log and publish on preview_topic only; never command "
                          "the arm (set false to move it)")
    controller_topic: str = param("/joint_trajectory_controller/joint_trajectory",
                                  "the joint_trajectory_controller's ~/joint_trajectory input")
    preview_topic: str = param("~/preview", "every planned trajectory (also with dry_run false)")
    joint_states_topic: str = param("/joint_states", "measured joints (sensor_msgs/JointState)")
    wrench_topic: str = param("/wrist/wrench", "wrist force/torque (geometry_msgs/WrenchStamped)")
    tick_rate: float = param(10.0, "joint-state watchdog checks per second [Hz]", min=1.0,
                             max=100.0)
    arm: ArmExecutorConfig = field(default_factory=ArmExecutorConfig)
    limits: cv.InputLimits = field(default_factory=cv.InputLimits)


def path_to_msg(path: JointPath) -> JointTrajectory:
    """A JointTrajectory that starts on arrival (stamp 0), positions only."""
    msg = JointTrajectory(joint_names=list(path.joint_names))
    for t, q in zip(path.times_s, path.positions):
        sec, nanosec = divmod(int(round(float(t) * 1e9)), 1_000_000_000)
        msg.points.append(JointTrajectoryPoint(positions=[float(v) for v in q],
                                               time_from_start=Duration(sec=sec, nanosec=nanosec)))
    return msg


class ArmExecutorNode(Node):
    def __init__(self, **kwargs):
        super().__init__("arm_executor", **kwargs)
        self.cfg = cfg = declare_config(self, ArmExecutorNodeConfig)
        self.core = ArmExecutor(cfg.arm, dry_run=cfg.dry_run)
        self.preview_pub = self.create_publisher(JointTrajectory, cfg.preview_topic, RELIABLE_QOS)
        self.controller_pub = None if cfg.dry_run else self.create_publisher(
            JointTrajectory, cfg.controller_topic, RELIABLE_QOS)
        self.status_pub = self.create_publisher(PrimitiveStatus, "/omni/action_status",
                                                RELIABLE_QOS)
        g = self.guard = GuardedInputs(self)
        g.subscribe("action", PrimitiveCommand, "/omni/action", cv.msg_to_primitive,
                    lambda k, p, m: self._emit(self.core.command(p, self._now()), p), RELIABLE_QOS)
        g.subscribe("joints", JointState, cfg.joint_states_topic, cv.joint_state_to_arrays,
                    self._on_joints, qos_for("sensor_data"), check=cv.checker("joints", cfg.limits))
        g.subscribe("wrench", WrenchStamped, cfg.wrench_topic, cv.wrench_to_numpy,
                    lambda k, w, m: self._emit(self.core.on_wrench(w[:3], self._now())),
                    qos_for("sensor_data"), check=cv.checker("wrench", cfg.limits))
        self.joints_wall = time.monotonic()
        self.create_timer(1.0 / cfg.tick_rate, lambda: self._emit(self.core.tick(
            time.monotonic() - self.joints_wall, self._now())))
        if cfg.dry_run:
            self.get_logger().info(f"DRY RUN (dry_run:=true): trajectories go to "
                                   f"{self.preview_pub.topic_name} only, never to "
                                   f"{cfg.controller_topic}")
        else:
            self.get_logger().info(f"commanding the arm on {cfg.controller_topic}")

    def _now(self) -> int:
        return self.get_clock().now().nanoseconds

    def _on_joints(self, key, value, msg) -> None:
        names, position, _, _ = value
        self.joints_wall = time.monotonic()
        self._emit(self.core.on_joints(names, position, cv.stamp_to_ns(msg.header.stamp)))

    def _emit(self, step: Step, primitive=None) -> None:
        if step.path is not None:
            msg = path_to_msg(step.path)
            self.preview_pub.publish(msg)
            what = (f"{primitive.primitive} #{primitive.sequence_id}" if primitive is not None
                    else "hold")
            text = (f"{what}: {len(msg.points)} points over {step.path.duration_s:.2f} s, goal "
                    f"{np.round(step.path.goal, 3).tolist()}")
            if self.controller_pub is not None:
                self.controller_pub.publish(msg)
                self.get_logger().info(f"sent {text}")
            else:
                self.get_logger().info(f"dry run, not sent: {text}")
        for st in step.statuses:
            self.status_pub.publish(cv.status_to_msg(st))
            text = f"#{st.sequence_id} {st.primitive}: {st.state} {st.reason}".rstrip()
            if st.state in ("failed", "rejected", "stopped"):
                self.get_logger().warning(text)
            else:
                self.get_logger().info(text)


def main(args=None) -> int:
    return spin_node(ArmExecutorNode, args)


if __name__ == "__main__":
    sys.exit(main())
