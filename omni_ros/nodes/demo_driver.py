"""demo_driver: drives one pick-and-place over ROS 2 topics, the way an action node will.

Reads the objects from /sim/ground_truth, plans with the scripted expert's planner, sends each
PrimitiveCommand on /omni/action and waits for its PrimitiveStatus on /omni/action_status before
the next. Exits 0 when the object was lifted >= 10 cm and placed within 2 cm of ``place_xy``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
from omni_ros_msgs.msg import PrimitiveCommand, PrimitiveStatus, SceneUnderstanding
from rclpy.node import Node

from omni_ros_sim.expert import pick_place_plan
from omni_ros_sim.tasks import LIFT_SUCCESS_M, PLACE_TOLERANCE_M, PickPlaceTask

from .. import conversions as cv
from ..core.config import ConfigError, param
from .common import RELIABLE_QOS, spin_node
from .params import declare_config


@dataclass
class DemoDriverConfig:
    target: str = param("", "object to pick, as '<colour> <shape>' (e.g. 'red cube')")
    place_xy: list[float] = param([0.5, 0.15], "where to put it, x and y in the base frame [m]")
    timeout_s: float = param(60.0, "give up after this much sim time [s]", min=1.0, max=3600.0)

    def check(self) -> None:
        if len(self.place_xy) != 2:
            raise ConfigError(f"parameter 'place_xy' = {self.place_xy}: must be [x, y]")


class DemoDriver(Node):
    def __init__(self, **kwargs):
        super().__init__("demo_driver", **kwargs)
        self.cfg = declare_config(self, DemoDriverConfig)
        if not self.cfg.target:
            raise ConfigError("parameter 'target' is empty: name the object, e.g. 'red cube'")
        self.pub = self.create_publisher(PrimitiveCommand, "/omni/action", RELIABLE_QOS)
        self.create_subscription(SceneUnderstanding, "/sim/ground_truth", self._on_scene, RELIABLE_QOS)
        self.create_subscription(PrimitiveStatus, "/omni/action_status", self._on_status, RELIABLE_QOS)
        self.plan: list | None = None
        self.index = 0
        self.object_id = ""
        self.start_z = self.max_rise = 0.0
        self.t0_ns = None
        self.done = False
        self.exit_code = 1
        self.last_scene = None

    def _on_scene(self, msg) -> None:
        scene = cv.msg_to_scene(msg)
        self.last_scene = scene
        self.t0_ns = self.t0_ns or scene.stamp_ns
        if self.plan is None:
            match = [o for o in scene.objects if f"{o.color} {o.shape}" == self.cfg.target]
            if not match:
                self._end(f"no '{self.cfg.target}' in the scene "
                          f"({', '.join(f'{o.color} {o.shape}' for o in scene.objects)})")
                return
            self.object_id = match[0].id
            self.start_z = float(match[0].position[2])
            task = PickPlaceTask(self.object_id, tuple(self.cfg.place_xy), "", "")
            self.plan = pick_place_plan(scene.objects, task)
            self.get_logger().info(f"picking {self.cfg.target} ({self.object_id}) -> "
                                   f"place at {self.cfg.place_xy}: {len(self.plan)} primitives")
            self._send()
        obj = next(o for o in scene.objects if o.id == self.object_id)
        self.max_rise = max(self.max_rise, float(obj.position[2]) - self.start_z)
        if (scene.stamp_ns - self.t0_ns) / 1e9 > self.cfg.timeout_s:
            self._end("timeout")

    def _send(self) -> None:
        p = self.plan[self.index]
        p.stamp_ns = self.get_clock().now().nanoseconds
        self.pub.publish(cv.primitive_to_msg(p))

    def _on_status(self, msg) -> None:
        st = cv.msg_to_status(msg)
        if self.plan is None or st.sequence_id != self.plan[self.index].sequence_id:
            return
        if st.state == "running":
            return
        self.get_logger().info(f"#{st.sequence_id} {st.primitive}: {st.state} {st.reason}")
        if st.state != "succeeded":
            self._end(f"{st.primitive} {st.state}: {st.reason}")
            return
        self.index += 1
        if self.index < len(self.plan):
            self._send()
        else:
            self._judge()

    def _judge(self) -> None:
        obj = next(o for o in self.last_scene.objects if o.id == self.object_id)
        err = float(np.linalg.norm(obj.position[:2] - np.array(self.cfg.place_xy)))
        ok = self.max_rise >= LIFT_SUCCESS_M and err <= PLACE_TOLERANCE_M
        self._end(f"{'SUCCESS' if ok else 'FAILED'}: lifted {self.max_rise * 100:.1f} cm, "
                  f"placed {err * 100:.1f} cm from the target", ok)

    def _end(self, text: str, ok: bool = False) -> None:
        self.result = text
        if ok:  # one logging call per severity (rclpy binds a severity to a call site)
            self.get_logger().info(f"result: {text}")
        else:
            self.get_logger().error(f"result: {text}")
        self.exit_code = 0 if ok else 1
        self.done = True


def main(args=None) -> int:
    return spin_node(DemoDriver, args)


if __name__ == "__main__":
    sys.exit(main())
