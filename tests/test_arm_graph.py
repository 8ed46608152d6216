"""The operator -> teleop -> action -> arm_executor -> arm path in one live graph: the sim graph
as ``omni-ros up --sim --arm-executor --params FILE`` starts it (the same launcher, the same
plan; the user's file sets ``/arm_executor: dry_run: false``), over real DDS between real
processes in sim time. A typed "pick up the <object>" with a click on it, then "put it here"
with a click on a free spot: the task succeeds, the object comes to rest at the clicked point,
and the arm moved only by JointTrajectory messages (the bridge does not listen to primitives;
arm_executor is the one subscriber of /omni/action and published every primitive's status)."""

import numpy as np
import pytest

pytestmark = [pytest.mark.ros, pytest.mark.timeout(600)]

CONTROLLER = "/joint_trajectory_controller/joint_trajectory"


def _type_until_heard(op, text, point=None, tries=3):
    """Click ``point`` and type ``text``; again if teleop did not publish a command (a loaded
    machine). True when heard."""
    for _ in range(tries):
        if point is not None:
            op.click(point)
            op.spin_until(lambda: False, 0.3)
        n = len(op.heard)
        op.type(text)
        if op.spin_until(lambda: len(op.heard) > n, 30):
            return True
    return False


def test_a_typed_pick_and_place_runs_through_arm_executor(tmp_path):
    import rclpy
    from omni_ros_msgs.msg import PrimitiveStatus
    from trajectory_msgs.msg import JointTrajectory

    from omni_ros import dds_env
    from omni_ros.benchmarks.live import PLACE_TOL_M, free_spot, wait_task
    from omni_ros.launcher import Graph, plan
    from omni_ros.nodes.operator import SimOperator

    params = tmp_path / "params.yaml"
    params.write_text("/arm_executor:\n  ros__parameters:\n    dry_run: false\n")
    specs, overrides = plan(True, arm_executor=True)  # omni-ros up --sim --arm-executor
    overrides["sim_bridge"].update(seed=5, real_time_factor=1.0)
    dds_env.isolate()
    g = Graph(specs, params_file=params, sim_time=True, overrides=overrides, capture=True)
    context = rclpy.Context()
    rclpy.init(context=context, args=[])
    g.start()
    op = SimOperator(context=context)
    trajectories, statuses = [], []
    op.create_subscription(JointTrajectory, CONTROLLER, trajectories.append, 100)
    op.create_subscription(PrimitiveStatus, "/omni/action_status", statuses.append, 100)
    try:
        # volatile topics: a click or a typed command before discovery matched would be lost
        assert op.spin_until(lambda: op.point_pub.get_subscription_count() > 0
                             and op.text_pub.get_subscription_count() > 0, 180)
        assert op.spin_until(lambda: op.scene is not None and op.truth is not None
                             and all(op.scene.present) and op.joint_msgs, 180)
        # the executor is the only node that takes primitives
        assert op.spin_until(lambda: [i.node_name for i in op.get_subscriptions_info_by_topic(
            "/omni/action")] == ["arm_executor"], 60), op.get_subscriptions_info_by_topic(
            "/omni/action")
        target = op.truth.objects[0]
        z0 = float(target.position[2])
        t0 = op.now_ns()
        status0 = len(op.statuses)
        assert _type_until_heard(op, f"pick up the {target.color} {target.shape}",
                                 target.position)
        pick = wait_task(op, status0, "pick", 240)
        assert pick is not None and pick.state == "succeeded", (
            [(s.state, s.primitive, s.reason) for s in op.statuses[status0:]],
            g.lines("arm_executor")[-20:])
        op.spin_until(lambda: False, 0.5)  # the next ground truth
        held = next(o for o in op.truth.objects if o.id == target.id)
        assert float(held.position[2]) - z0 >= 0.10  # lifted (the plan ends at carry height)
        place = free_spot(op.truth, np.random.default_rng(5), target.id)
        status1 = len(op.statuses)
        assert _type_until_heard(op, "put it here", place)
        done = wait_task(op, status1, "place", 240)
        assert done is not None and done.state == "succeeded", (
            [(s.state, s.primitive, s.reason) for s in op.statuses[status1:]],
            g.lines("arm_executor")[-20:])
        op.spin_until(lambda: False, 1.0)  # the object settles; the next ground truth
        obj = next(o for o in op.truth.objects if o.id == target.id)
        err = float(np.linalg.norm(obj.position[:2] - place[:2]))
        ended = [s for s in statuses if s.state in ("succeeded", "failed", "rejected", "stopped")]
        print(f"pick-and-place through arm_executor in the up graph: placed {err * 100:.1f} cm "
              f"from the clicked point, {(op.now_ns() - t0) / 1e9:.1f} s sim time, "
              f"{len(trajectories)} trajectories, {len(ended)} primitives ended")
        assert err <= PLACE_TOL_M and not op.truth.grasping
        # every primitive went through the executor: a trajectory each, and its statuses
        assert ended and all(s.state == "succeeded" for s in ended), [
            (s.sequence_id, s.primitive, s.state, s.reason) for s in ended]
        assert len(trajectories) >= len(ended)
        assert all(code is None for code in g.poll().values()), g.poll()
        assert any(line.startswith("sent ") or " sent " in line
                   for line in g.lines("arm_executor"))
    finally:
        op.destroy_node()
        rclpy.shutdown(context=context)
        g.stop()


def test_outbox_holds_primitives_until_matched_and_gives_up_after_its_timeout():
    from omni_ros.nodes.action import Outbox

    box = Outbox(timeout_s=2.0)
    box.put(["a"], 0)
    assert box.take(False, int(1e9)) == ([], [])
    box.put(["b"], int(1e9))
    assert box.take(False, int(2.5e9)) == ([], ["a"])   # held > 2 s: given up
    assert box.take(True, int(2.6e9)) == (["b"], [])    # an executor appeared: sent
    assert box.take(True, int(3e9)) == ([], [])


@pytest.mark.ros
@pytest.mark.timeout(300)
def test_action_holds_a_primitive_until_an_executor_listens_and_fails_the_task_without_one(
        rclpy_context):
    """No subscriber on /omni/action: the task fails with the reason after deliver_timeout_s
    instead of waiting for a status forever; a command given the moment an executor starts
    reaches it (held until discovery matched, not lost)."""
    import time

    from omni_ros_msgs.msg import PrimitiveCommand, TaskStatus
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter

    from omni_ros.core.speech.pairing import make_command
    from omni_ros.nodes.action import ActionNode
    from omni_ros.nodes.common import RELIABLE_QOS

    node = ActionNode(context=rclpy_context,
                      parameter_overrides=[Parameter("deliver_timeout_s", value=1.0)])
    probe = Node("probe", context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    executor.add_node(probe)
    statuses, commands = [], []
    probe.create_subscription(TaskStatus, "/omni/task_status", statuses.append, 50)

    def spin_until(done, what, timeout_s=120.0):
        deadline = time.monotonic() + timeout_s
        while not done():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            executor.spin_once(timeout_sec=0.05)

    def home():
        now = node.get_clock().now().nanoseconds
        node._on_command("teleop", make_command("go home", "text", 1.0, now)[0], None)

    try:
        spin_until(lambda: node.status_pub.get_subscription_count() > 0, "the status probe")
        home()
        spin_until(lambda: any(s.state == "failed" for s in statuses), "the failed task")
        failed = next(s for s in statuses if s.state == "failed")
        assert "not delivered" in failed.reason and "/omni/action" in failed.reason, failed
        probe.create_subscription(PrimitiveCommand, "/omni/action", commands.append,
                                  RELIABLE_QOS)
        home()  # at once: before discovery matched the executor's subscription
        spin_until(lambda: commands, "the home primitive")
        assert [c.primitive for c in commands] == ["home"]
        assert statuses[-1].state == "executing"
    finally:
        executor.shutdown()
        probe.destroy_node()
        node.destroy_node()
