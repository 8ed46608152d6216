"""action: operator commands (/omni/teleop) + fused scenes (/omni/scene) -> primitive sequences
on /omni/action, one at a time, advanced by /omni/action_status; what it is doing and why it
stopped on /omni/task_status. Watches /wrist/wrench and /tactile to stop on unexpected contact;
"stop" halts at once; so does perception going silent (no /omni/scene for
``task.scene_timeout_s`` while a task runs, checked ``tick_rate`` times a second). The logic is
``omni_ros.core.manipulation.tasks.TaskManager``.

/omni/action is reliable and volatile (a late executor must never act on an old command), so a
primitive published while nothing subscribes is lost and the task would wait for its status
forever. Primitives are therefore held (:class:`Outbox`) until an executor (the sim bridge or
arm_executor) is matched - the reliable writer then delivers them even if the reader's side of
discovery is still under way - and a primitive held longer than ``deliver_timeout_s`` fails
the task with the reason, as if its executor had said so. A delivered primitive whose executor
then says nothing for ``task.status_timeout_s`` (it died or was respawned mid-primitive) fails
the task too, with a stop sent and the missing status counted as lost on /diagnostics."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np
from geometry_msgs.msg import WrenchStamped
from omni_ros_msgs.msg import (PrimitiveCommand, PrimitiveStatus, SceneUnderstanding,
                               TactileArray, TaskStatus, TeleopCommand)
from rclpy.node import Node

from .. import conversions as cv
from ..core.health import RateLimiter
from ..core.types import Primitive, PrimitiveStatus as Status
from ..core.manipulation.tasks import ActionConfig, TaskManager
from ..core.config import param
from ..streams import BASE_FRAME
from .common import RELIABLE_QOS, GuardedInputs, qos_for, spin_node
from .diagnostics_config import DiagnosticsConfig
from .params import declare_config


@dataclass
class ActionNodeConfig:
    frame_id: str = param(BASE_FRAME, "frame of the commanded poses")
    tick_rate: float = param(10.0, "timeout checks per second [Hz]", min=1.0, max=100.0)
    command_rate_hz: float = param(5.0, "operator commands accepted per second and source on "
                                   "average (a stop always passes)", min=0.1, max=1000.0,
                                   runtime=True)
    command_burst: int = param(10, "operator commands a source may send at once", min=1, max=1000,
                               runtime=True)
    deliver_timeout_s: float = param(5.0, "fail the task when a primitive found no executor (no "
                                     "subscriber of /omni/action) for this long [s]", min=0.1,
                                     max=600.0)
    task: ActionConfig = field(default_factory=ActionConfig)
    limits: cv.InputLimits = field(default_factory=cv.InputLimits)
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)


class Outbox:
    """Primitives waiting for an executor (no ROS): :meth:`put` them, then :meth:`take` with
    whether one is matched now; returns (to publish, given up: held longer than
    ``timeout_s``). Times in ns of the node's clock."""

    def __init__(self, timeout_s: float):
        self.timeout_ns = int(timeout_s * 1e9)
        self.held: list[tuple[int, Primitive]] = []

    def put(self, primitives, now_ns: int) -> None:
        self.held += [(now_ns, p) for p in primitives]

    def take(self, matched: bool, now_ns: int) -> tuple[list[Primitive], list[Primitive]]:
        if matched:
            out, self.held = [p for _, p in self.held], []
            return out, []
        expired = [p for t, p in self.held if now_ns - t > self.timeout_ns]
        self.held = [(t, p) for t, p in self.held if now_ns - t <= self.timeout_ns]
        return [], expired


class ActionNode(Node):
    def __init__(self, **kwargs):
        super().__init__("action", **kwargs)
        # runtime parameters (task.force_stop_n, ...) change self.cfg in place; the task
        # manager reads its config (self.cfg.task) at every use
        self.cfg = declare_config(self, ActionNodeConfig, runtime=True, on_change=lambda _: (
            self.command_limit.configure(self.cfg.command_rate_hz, self.cfg.command_burst)))
        self.tasks = TaskManager(self.cfg.task, self.cfg.frame_id)
        self.outbox = Outbox(self.cfg.deliver_timeout_s)
        self.pub = self.create_publisher(PrimitiveCommand, "/omni/action", RELIABLE_QOS)
        self.status_pub = self.create_publisher(TaskStatus, "/omni/task_status", RELIABLE_QOS)
        self.guard = GuardedInputs(self, diagnostics=self.cfg.diagnostics)
        g = self.guard
        g.subscribe("teleop", TeleopCommand, "/omni/teleop", cv.msg_to_command, self._on_command, RELIABLE_QOS)
        g.subscribe("scene", SceneUnderstanding, "/omni/scene", cv.msg_to_scene, self._on_scene, RELIABLE_QOS)
        g.subscribe("action_status", PrimitiveStatus, "/omni/action_status", cv.msg_to_status,
                    self._on_status, RELIABLE_QOS)
        g.subscribe("wrench", WrenchStamped, "/wrist/wrench", cv.wrench_to_numpy, self._on_wrench,
                    qos_for("sensor_data"), check=cv.checker("wrench", self.cfg.limits))
        g.subscribe("tactile", TactileArray, "/tactile", cv.tactile_to_dict, self._on_tactile,
                    qos_for("sensor_data"), check=cv.checker("tactile", self.cfg.limits))
        self.command_limit = RateLimiter(self.cfg.command_rate_hz, self.cfg.command_burst)
        self.create_timer(1.0 / self.cfg.tick_rate, self._tick)
        self._emit([])

    def _tick(self) -> None:
        before = self.tasks.executor_timeouts
        self._emit(self.tasks.tick(self._now()))
        if self.tasks.executor_timeouts > before:  # a status that never came: counted as lost
            self.guard.health.lose("action_status", self.tasks.executor_timeouts - before)

    def _now(self) -> int:
        return self.get_clock().now().nanoseconds

    def _emit(self, primitives) -> None:
        now = self._now()
        self.outbox.put(primitives, now)
        send, lost = self.outbox.take(self.pub.get_subscription_count() > 0, now)
        for p in send:
            self.pub.publish(cv.primitive_to_msg(p))
        if primitives and not send:
            self.get_logger().warning(
                f"no executor subscribes to {self.pub.topic_name} (sim bridge or arm_executor): "
                f"holding {', '.join(f'{p.primitive} #{p.sequence_id}' for p in primitives)} "
                f"up to {self.cfg.deliver_timeout_s:g} s")
        for p in lost:  # as if its executor had failed it: the task fails with the reason
            self._emit(self.tasks.on_status(Status(
                now, p.sequence_id, p.primitive, "failed", f"not delivered: no executor "
                f"subscribed to {self.pub.topic_name} for {self.cfg.deliver_timeout_s:g} s"), now))
        t = self.tasks
        if t.changed:
            t.changed = False
            s = t.status
            self.status_pub.publish(TaskStatus(
                header=cv.make_header(self.cfg.frame_id, self._now()), state=s.state,
                command=s.command, intent=s.intent, target_object_id=s.target_object_id,
                primitive=s.primitive, step=s.step, steps=s.steps, reason=s.reason))
            text = (f"task: {s.state} {s.intent} {s.target_object_id} "
                    f"{s.primitive + f' {s.step}/{s.steps}' if s.primitive else ''} {s.reason}").rstrip()
            # rclpy binds a severity to each call site: one call per severity.
            if s.state in ("failed", "rejected", "stopped"):
                self.get_logger().warning(text)
            else:
                self.get_logger().info(text)

    def _on_command(self, key, cmd, msg) -> None:
        self.command_limit.require(cmd.source, self._now(), exempt=cmd.intent == "stop")
        if cmd.point is not None and cmd.point_frame not in ("", self.cfg.frame_id):
            self.guard.health.reject(key, self._now(), "point.header.frame_id",
                                     f"point in {cmd.point_frame!r}, expected {self.cfg.frame_id!r}")
            return
        self._emit(self.tasks.command(cmd, self._now()))

    def _on_scene(self, key, scene, msg) -> None:
        self._emit(self.tasks.on_scene(scene, self._now()))

    def _on_status(self, key, st, msg) -> None:
        self._emit(self.tasks.on_status(st, self._now()))

    def _on_wrench(self, key, wrench, msg) -> None:
        self._emit(self.tasks.on_wrench(wrench[:3], self._now()))

    def _on_tactile(self, key, pads, msg) -> None:
        self._emit(self.tasks.on_tactile(float(sum(np.sum(p) for p in pads.values())), self._now()))


def main(args=None) -> int:
    return spin_node(ActionNode, args)


if __name__ == "__main__":
    sys.exit(main())
