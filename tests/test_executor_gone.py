"""The action node over real DDS when its executor dies mid-primitive: the primitive it sent is
never reported on, so after ``task.status_timeout_s`` the task fails with the reason, the
missing status is counted as lost on the node's diagnostics, and the executor that comes back
(respawned) receives a stop - never the old motion or the next one. The logic without ROS:
tests/test_watchdog.py."""

import time

import pytest

pytestmark = [pytest.mark.ros, pytest.mark.timeout(300)]

DEADLINE_S = 120.0  # generous: discovery and delivery on a loaded machine


class _Executor:
    """A stand-in executor process's subscription: records primitives; says 'running' once."""

    def __init__(self, node, status_pub):
        from omni_ros_msgs.msg import PrimitiveCommand

        from omni_ros.nodes.common import RELIABLE_QOS

        self.node, self.status_pub, self.got = node, status_pub, []
        self.sub = node.create_subscription(PrimitiveCommand, "/omni/action", self._on, RELIABLE_QOS)

    def _on(self, msg) -> None:
        from omni_ros_msgs.msg import PrimitiveStatus

        self.got.append(msg)
        self.status_pub.publish(PrimitiveStatus(header=msg.header, sequence_id=msg.sequence_id,
                                                primitive=msg.primitive, state="running"))

    def die(self) -> None:
        self.node.destroy_subscription(self.sub)


def test_an_executor_that_dies_mid_primitive_fails_the_task_and_gets_a_stop_when_back(rclpy_context):
    from geometry_msgs.msg import Point, PointStamped
    from omni_ros_msgs.msg import PrimitiveStatus, TaskStatus, TeleopCommand
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter

    from omni_ros.nodes.action import ActionNode
    from omni_ros.nodes.common import RELIABLE_QOS

    action = ActionNode(context=rclpy_context, parameter_overrides=[
        Parameter("task.status_timeout_s", value=2.0),
        Parameter("deliver_timeout_s", value=DEADLINE_S)])
    robot = Node("test_robot", context=rclpy_context)
    ex = SingleThreadedExecutor(context=rclpy_context)
    ex.add_node(action)
    ex.add_node(robot)
    statuses = []
    robot.create_subscription(TaskStatus, "/omni/task_status", statuses.append, RELIABLE_QOS)
    teleop = robot.create_publisher(TeleopCommand, "/omni/teleop", RELIABLE_QOS)
    status_pub = robot.create_publisher(PrimitiveStatus, "/omni/action_status", RELIABLE_QOS)

    def spin_until(cond, timeout=DEADLINE_S) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return True
            ex.spin_once(timeout_sec=0.05)
        return cond()

    try:
        first = _Executor(robot, status_pub)
        assert spin_until(lambda: teleop.get_subscription_count() > 0
                          and action.pub.get_subscription_count() > 0
                          and status_pub.get_subscription_count() > 0)
        cmd = TeleopCommand(source="text", raw_text="move here", intent="move",
                            target_description="here", has_point=True, confidence=1.0,
                            point=PointStamped(point=Point(x=0.5, y=0.1, z=0.1)))
        cmd.point.header.frame_id = "panda_link0"
        cmd.header.stamp = action.get_clock().now().to_msg()
        teleop.publish(cmd)
        assert spin_until(lambda: any(m.primitive == "move" for m in first.got)), statuses
        first.die()  # the executor process is gone: nothing will ever report on the move
        failed = lambda: [s for s in statuses if s.state == "failed"]  # noqa: E731
        assert spin_until(failed), [(s.state, s.reason) for s in statuses]
        reason = failed()[0].reason
        assert reason.startswith("no status from the executor for move #") and "sent a stop" in reason
        assert action.guard.health.stats("action_status").lost == 1
        second = _Executor(robot, status_pub)  # respawned
        assert spin_until(lambda: second.got), "the stop held for the executor never came"
        spin_until(lambda: False, 2.0)  # anything else would arrive now
        assert [m.primitive for m in second.got] == ["stop"]
        assert [s.state for s in statuses].count("executing") >= 1 and statuses[-1].state == "failed"
    finally:
        ex.shutdown()
        action.destroy_node()
        robot.destroy_node()
