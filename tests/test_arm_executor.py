"""The arm executor: IK and trajectory planning from the URDF (no ROS), its safety rules, and a
live episode over real DDS in sim time where pick-and-place goes through arm_executor ->
JointTrajectory -> the sim bridge's joint-trajectory input (dry run off), the dry run moves
nothing, an unsafe target is rejected and a stop halts."""

import subprocess
import sys
import time

import numpy as np
import pytest

from omni_ros.core.manipulation.arm import ArmExecutor, ArmExecutorConfig, Step
from omni_ros.core.manipulation.ik import ArmModel, IKError
from omni_ros.core.manipulation.trajectory import cartesian_path, joint_path
from omni_ros.core.types import Primitive

from _util import ROOT

HOME = [0.0, -0.30, 0.0, -2.20, 0.0, 1.90, 0.785]
DOWN = (1.0, 0.0, 0.0, 0.0)  # TCP z axis pointing down (x, y, z, w)
NAMES = [f"panda_joint{i}" for i in range(1, 8)] + ["panda_finger_joint1", "panda_finger_joint2"]


@pytest.fixture(scope="module")
def model():
    m = ArmModel()
    yield m
    m.close()


def move(seq, name, position, speed=0.0, width=0.0, wrench=0.0, frame="panda_link0"):
    return Primitive(0, frame, seq, name, position, DOWN, gripper_width=width, max_speed=speed,
                     max_wrench_force=wrench)


# --- IK and trajectories (no ROS) --------------------------------------------------------------

@pytest.mark.parametrize("target", [(0.5, 0.0, 0.3), (0.4, -0.3, 0.05), (0.7, 0.25, 0.2)])
def test_ik_reaches_top_down_poses_from_home(model, target):
    q = model.ik(target, DOWN, HOME)
    pos_err, rot_err = model.pose_error(q, target, DOWN)
    assert pos_err < 0.002 and rot_err < 0.02
    assert np.all(q >= model.lower) and np.all(q <= model.upper)


def test_ik_refuses_a_pose_out_of_reach(model):
    with pytest.raises(IKError, match="no IK solution"):
        model.ik((1.5, 0.0, 0.3), DOWN, HOME)


def test_cartesian_path_is_a_straight_line_within_the_speed_limits(model):
    goal = np.array([0.45, -0.2, 0.08])
    path = cartesian_path(model, HOME, goal, DOWN, speed_mps=0.2, max_joint_speed=1.0)
    assert np.all(np.diff(path.times_s) > 0) and path.times_s[0] > 0
    tcp = np.array([model.fk(q)[0] for q in path.positions])
    start = model.fk(HOME)[0]
    line = goal - start
    # every waypoint on the line (within the IK tolerance)
    off = np.linalg.norm(np.cross(tcp - start, line), axis=1) / np.linalg.norm(line)
    assert off.max() < 0.003
    assert np.linalg.norm(tcp[-1] - goal) < 0.002
    pts = np.vstack([start, tcp])
    qs = np.vstack([HOME, path.positions])
    dt = np.diff(np.concatenate([[0.0], path.times_s]))
    assert (np.linalg.norm(np.diff(pts, axis=0), axis=1) / dt).max() <= 0.2 * 1.05
    assert (np.abs(np.diff(qs, axis=0)).max(axis=1) / dt).max() <= 1.0 * 1.001


def test_joint_path_timing_and_gripper_columns():
    path = joint_path(NAMES[:7], HOME, np.zeros(7), max_joint_speed=0.5).with_gripper(NAMES[7:], 0.06)
    assert path.joint_names == NAMES
    assert path.positions.shape == (10, 9) and np.allclose(path.positions[:, 7:], 0.03)
    assert path.duration_s == pytest.approx(1.5 * 2.2 / 0.5, rel=0.01)


# --- the executor's rules (no ROS) -------------------------------------------------------------

def executor(model, dry_run=False, **cfg):
    ex = ArmExecutor(ArmExecutorConfig(**cfg), model, dry_run=dry_run)
    ex.on_joints(NAMES, HOME + [0.04, 0.04], 0)
    return ex


def test_dry_run_plans_and_previews_but_runs_nothing(model):
    ex = executor(model, dry_run=True)
    step = ex.command(move(1, "move", (0.5, 0.1, 0.2)), 0)
    assert step.path is not None and step.path.joint_names == NAMES
    [st] = step.statuses
    assert st.state == "rejected" and "dry run" in st.reason and ex.current is None


def test_unsafe_commands_are_rejected_with_the_reason(model):
    ex = executor(model)
    for p, why in [(move(1, "move", (1.2, 0.0, 0.3)), "outside the workspace"),
                   (move(2, "approach", (0.5, 0.0, -0.05)), "outside the workspace"),
                   (move(3, "release", (0.5, 0.0, 0.2), width=0.2), "exceeds"),
                   (move(4, "move", (0.5, 0.0, 0.2), frame="camera"), "frame")]:
        step = ex.command(p, 0)
        assert step.path is None and step.statuses[0].state == "rejected", p
        assert why in step.statuses[0].reason
    fresh = ArmExecutor(ArmExecutorConfig(), model, dry_run=False)
    assert "no joint states" in fresh.command(move(5, "move", (0.5, 0.0, 0.2)), 0).statuses[0].reason


def test_motion_succeeds_at_the_goal_and_a_newer_command_preempts(model):
    ex = executor(model)
    first = ex.command(move(1, "move", (0.5, 0.1, 0.2)), 0)
    assert [s.state for s in first.statuses] == ["running"]
    second = ex.command(move(2, "move", (0.5, -0.1, 0.2)), 0)
    assert [(s.sequence_id, s.state) for s in second.statuses] == [(1, "stopped"), (2, "running")]
    assert "preempted by #2" in second.statuses[0].reason
    goal = second.path.goal
    assert ex.on_joints(NAMES, goal, 1).statuses == []  # the planned duration has not passed
    done = ex.on_joints(NAMES, goal, int(second.path.duration_s * 1e9) + 2)
    assert [(s.sequence_id, s.state) for s in done.statuses] == [(2, "succeeded")]


def test_wrench_change_stops_with_a_hold_at_the_measured_joints(model):
    ex = executor(model)
    ex.on_wrench([0.0, 0.0, -5.0], 0)
    ex.command(move(1, "move", (0.5, 0.1, 0.1), wrench=10.0), 0)
    moved = np.array(HOME) + 0.05
    ex.on_joints(NAMES, list(moved) + [0.04, 0.04], 1)
    assert ex.on_wrench([0.0, 0.0, -12.0], 2).statuses == []
    step = ex.on_wrench([0.0, 0.0, -16.0], 3)
    [st] = step.statuses
    assert st.state == "failed" and "wrench limit" in st.reason
    assert len(step.path.times_s) == 1 and np.allclose(step.path.positions[0, :7], moved)
    assert ex.current is None


def test_stop_holds_and_stops_the_running_primitive(model):
    ex = executor(model)
    ex.command(move(1, "move", (0.5, 0.1, 0.1)), 0)
    step = ex.command(move(2, "stop", (0, 0, 0)), 0)
    assert [(s.sequence_id, s.state) for s in step.statuses] == [(1, "stopped"), (2, "succeeded")]
    assert np.allclose(step.path.positions[0, :7], HOME)


def test_grasp_on_nothing_fails_and_lost_joint_states_fail_with_a_hold(model):
    ex = executor(model)
    ex.command(move(1, "grasp", (0.5, 0.0, 0.1)), 0)
    t = 0
    for _ in range(20):
        t += int(0.1e9)
        step = ex.on_joints(NAMES, HOME + [0.0005, 0.0005], t)
        if step.statuses:
            break
    assert step.statuses[0].state == "failed" and "closed on nothing" in step.statuses[0].reason
    ex.command(move(2, "home", (0, 0, 0)), t)
    assert ex.tick(0.5, t).statuses == []
    step = ex.tick(3.0, t)
    assert step.statuses[0].state == "failed" and "no joint states" in step.statuses[0].reason
    assert step.path is not None


def test_closed_loop_in_pybullet_a_finger_on_the_cube_trips_the_wrench_stop():
    """The executor's core and the sim's trajectory follower in one loop, no ROS: descending
    with a finger over a cube stops on the wrench change and holds above it."""
    from omni_ros.streams import JOINT_NAMES
    from omni_ros_sim.joint_trajectory import TrajectoryFollower
    from omni_ros_sim.scene import ObjectSpec, SceneSpec
    from omni_ros_sim.world import World

    with World(SceneSpec([ObjectSpec("obj_0", "cube", "red", "wood", 0.05, (0.5, 0.1))])) as w:
        follower = TrajectoryFollower(w.robot)
        ex = ArmExecutor(ArmExecutorConfig(), dry_run=False)
        ex.on_joints(JOINT_NAMES, w.robot.joint_positions(), w.t_ns)

        def run(p):
            log, step = [], ex.command(p, w.t_ns)
            while True:
                if step.path is not None:
                    follower.start(step.path.joint_names, step.path.times_s, step.path.positions,
                                   w.t_ns)
                log += step.statuses
                if log[-1].state != "running" or w.t_ns > 20e9:
                    return log[-1]
                follower.update(w.t_ns)
                step = Step()
                for r in w.step():
                    if r.key == "joints":
                        step = ex.on_joints(JOINT_NAMES, r.data["position"], r.stamp_ns)
                    elif r.key == "wrench" and not step.statuses:
                        step = ex.on_wrench(r.data[:3], r.stamp_ns)

        assert run(move(1, "move", (0.5, 0.14, 0.15), speed=0.3)).state == "succeeded"
        st = run(move(2, "move", (0.5, 0.14, 0.01), speed=0.1, wrench=10.0))
        assert st.state == "failed" and "wrench limit" in st.reason
        for _ in range(120):
            follower.update(w.t_ns)
            w.step()
        assert w.robot.tcp_pose()[0][2] > 0.05  # held on the cube's top (5 cm), not through it
        assert np.linalg.norm(w.object_position("obj_0")[:2] - (0.5, 0.1)) < 0.005


# --- live: the sim bridge's joint-trajectory input driven by arm_executor -----------------------

CONTROLLER = "/joint_trajectory_controller/joint_trajectory"


class Live:
    """A test node and the processes (sim bridge, arm executor) it talks to."""

    def __init__(self, context):
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from rclpy.qos import QoSProfile

        from omni_ros import conversions as cv
        from omni_ros.nodes.common import RELIABLE_QOS
        from omni_ros_msgs.msg import PrimitiveCommand, PrimitiveStatus, SceneUnderstanding
        from sensor_msgs.msg import JointState
        from trajectory_msgs.msg import JointTrajectory

        self.cv = cv
        self.node = Node("arm_executor_test", context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.procs: dict[str, subprocess.Popen] = {}
        self.statuses, self.joints, self.truth = [], [], None
        self.controller_msgs, self.previews = [], []
        deep = QoSProfile(depth=100)
        n = self.node
        self.pub = n.create_publisher(PrimitiveCommand, "/omni/action", RELIABLE_QOS)
        n.create_subscription(PrimitiveStatus, "/omni/action_status",
                              lambda m: self.statuses.append(cv.msg_to_status(m)), deep)
        n.create_subscription(JointState, "/joint_states",
                              lambda m: self.joints.append((cv.stamp_to_ns(m.header.stamp),
                                                            np.array(m.position))), deep)
        n.create_subscription(SceneUnderstanding, "/sim/ground_truth",
                              lambda m: setattr(self, "truth", cv.msg_to_scene(m)), RELIABLE_QOS)
        n.create_subscription(JointTrajectory, CONTROLLER, self.controller_msgs.append, deep)
        n.create_subscription(JointTrajectory, "/arm_executor/preview", self.previews.append, deep)

    def start(self, name, module, *params):
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", module, "--ros-args", "-p", "use_sim_time:=true",
             *[a for p in params for a in ("-p", p)]],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def stop(self, name) -> str:
        proc = self.procs.pop(name)
        if proc.poll() is None:
            proc.terminate()
        out = proc.communicate(timeout=60)[0]
        assert "Traceback" not in out, out
        return out

    def spin_until(self, condition, what, timeout_s=180.0):
        deadline = time.monotonic() + timeout_s
        while not condition():
            for name, p in self.procs.items():
                assert p.poll() is None, f"{name} exited: {p.communicate()[0]}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            self.executor.spin_once(timeout_sec=0.05)

    def sim_wait(self, seconds):
        """Spin until ``seconds`` of sim time passed (by the joint states' stamps)."""
        t0 = self.joints[-1][0]
        self.spin_until(lambda: self.joints[-1][0] - t0 >= seconds * 1e9, f"{seconds} s sim time")

    def send(self, p: Primitive, ends=("succeeded", "failed", "rejected", "stopped")):
        """Send ``p`` and wait for its final status (or the first in ``ends``)."""
        p.stamp_ns = 0
        self.pub.publish(self.cv.primitive_to_msg(p))
        self.spin_until(lambda: self.status_of(p.sequence_id) in ends, f"#{p.sequence_id} {p.primitive}")
        return [s for s in self.statuses if s.sequence_id == p.sequence_id][-1]

    def status_of(self, seq):
        return next((s.state for s in reversed(self.statuses) if s.sequence_id == seq), None)

    def executor_ready(self):
        """Wait until arm_executor hears commands and knows the joints (a 'home' succeeds or,
        in a dry run, is previewed)."""
        self.spin_until(lambda: self.pub.get_subscription_count() > 0 and self.joints, "the graph")
        seq = 900 + len(self.statuses)
        while True:  # the first command may beat the executor's first joint states
            st = self.send(move(seq, "home", (0, 0, 0)))
            if "no joint states" not in st.reason:
                return st
            self.sim_wait(0.5)
            seq += 1

    def close(self):
        for name in list(self.procs):
            self.stop(name)
        self.executor.shutdown()
        self.node.destroy_node()


@pytest.mark.ros
@pytest.mark.timeout(600)
def test_pick_and_place_through_arm_executor_dry_run_reject_and_stop(rclpy_context, tmp_path, model):
    from omni_ros_sim.expert import pick_place_plan
    from omni_ros_sim.scene import ObjectSpec, SceneSpec
    from omni_ros_sim.tasks import PLACE_TOLERANCE_M, PickPlaceTask

    scene = tmp_path / "scene.yaml"
    scene.write_text(SceneSpec([ObjectSpec("obj_0", "cube", "red", "wood", 0.05, (0.5, 0.1))]).to_yaml())
    place_xy = (0.5, -0.15)
    live = Live(rclpy_context)
    try:
        live.start("sim_bridge", "omni_ros.nodes.sim_bridge", "arm_input:=joint_trajectory",
                   f"scene_file:={scene}", "qos:=reliable", "robot_voice_gain:=0.0")
        # 1. dry run (the default): a preview, a 'rejected: dry run', nothing on the controller
        # topic, and the joints do not move
        live.start("arm_executor", "omni_ros.nodes.arm_executor")
        live.executor_ready()
        live.sim_wait(0.5)
        before = live.joints[-1][1]
        target = (0.45, -0.2, 0.15)
        st = live.send(move(1, "move", target))
        assert st.state == "rejected" and "dry run" in st.reason, st

        def previewed():  # the move's trajectory: its last point puts the TCP on the target
            return any(np.linalg.norm(model.fk(m.points[-1].positions[:7])[0] - target) < 0.003
                       for m in live.previews)
        live.spin_until(previewed, "the preview")
        live.sim_wait(2.0)  # longer than the previewed motion
        assert np.abs(live.joints[-1][1] - before).max() < 0.01
        assert live.controller_msgs == []
        assert "DRY RUN" in live.stop("arm_executor")

        # 2. dry run off: pick and place by the scripted expert's plan, every primitive through
        # arm_executor and the bridge's joint-trajectory input
        live.start("arm_executor", "omni_ros.nodes.arm_executor", "dry_run:=false")
        assert live.executor_ready().state == "succeeded"
        live.spin_until(lambda: live.truth is not None, "ground truth")
        plan = pick_place_plan(live.truth.objects, PickPlaceTask("obj_0", place_xy, "", ""))
        z0 = float(live.truth.objects[0].position[2])
        t0 = live.truth.stamp_ns
        for p in plan:
            p.sequence_id += 100
            st = live.send(p)
            assert st.state == "succeeded", (p.primitive, st)
            if p.primitive == "lift":
                live.sim_wait(0.3)
                assert float(live.truth.objects[0].position[2]) - z0 >= 0.10
        live.sim_wait(0.5)
        obj = live.truth.objects[0]
        err = float(np.linalg.norm(obj.position[:2] - np.array(place_xy)))
        print(f"pick-and-place through arm_executor: placed {err * 100:.1f} cm from the target, "
              f"{(live.truth.stamp_ns - t0) / 1e9:.1f} s sim time, "
              f"{len(live.controller_msgs)} trajectories")
        assert err <= PLACE_TOLERANCE_M
        assert not live.truth.grasping and len(live.controller_msgs) >= len(plan)

        # 3. a target outside the workspace is rejected; nothing is sent
        sent = len(live.controller_msgs)
        st = live.send(move(200, "move", (1.2, 0.0, 0.3)))
        assert st.state == "rejected" and "workspace" in st.reason
        # 4. a stop halts a running motion: a hold at the joints, the arm stays short of the goal
        live.send(move(201, "move", (0.35, 0.3, 0.4), speed=0.1), ends=("running",))
        live.sim_wait(0.5)
        st = live.send(move(202, "stop", (0, 0, 0)))
        assert st.state == "succeeded" and live.status_of(201) == "stopped"
        live.spin_until(lambda: len(live.controller_msgs) >= sent + 2, "the hold trajectory")
        hold = live.controller_msgs[-1]
        assert len(hold.points) == 1
        live.sim_wait(0.5)
        q1 = live.joints[-1][1]
        live.sim_wait(1.0)
        q2 = live.joints[-1][1]
        assert np.abs(q2[:7] - q1[:7]).max() < 0.01  # halted
        assert np.abs(q2[:7] - np.array(hold.points[0].positions[:7])).max() < 0.02
        # 5. a finger set down on the placed cube trips the wrench stop: failed, then a hold
        cube = live.truth.objects[0].position
        above = (float(cube[0]), float(cube[1]) + 0.04)
        assert live.send(move(203, "move", (*above, 0.15))).state == "succeeded"
        sent = len(live.controller_msgs)
        st = live.send(move(204, "move", (*above, 0.01), speed=0.1, wrench=10.0))
        assert st.state == "failed" and "wrench limit" in st.reason, st
        live.spin_until(lambda: len(live.controller_msgs) >= sent + 2, "the hold trajectory")
        assert len(live.controller_msgs[-1].points) == 1
        live.stop("arm_executor")
        # 6. a trajectory naming a joint the arm lacks is refused by the bridge, which keeps
        # running (and holding)
        from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint
        from builtin_interfaces.msg import Duration

        from diagnostic_msgs.msg import DiagnosticArray

        refused = []
        live.node.create_subscription(DiagnosticArray, "/diagnostics", lambda m: refused.extend(
            int(kv.value) for s in m.status if s.name == "sim_bridge: joint_trajectory"
            for kv in s.values if kv.key == "rejected_total"), 10)
        bad = live.node.create_publisher(JointTrajectory, CONTROLLER, 10)
        live.sim_wait(0.5)
        q2 = live.joints[-1][1]
        while not any(refused):  # (resent: the first may come before the bridge hears us)
            bad.publish(JointTrajectory(joint_names=["elbow"], points=[JointTrajectoryPoint(
                positions=[1.0], time_from_start=Duration(sec=1))]))
            live.sim_wait(0.5)
        assert np.abs(live.joints[-1][1][:7] - q2[:7]).max() < 0.01
        out = live.stop("sim_bridge")
        assert "unknown joint(s) ['elbow']" in out and "Traceback" not in out
    finally:
        live.close()


@pytest.mark.ros
def test_bad_parameters_stop_the_node_with_what_is_allowed():
    from _util import run_py

    r = run_py("-m", "omni_ros.nodes.arm_executor", "--ros-args", "-p",
               "arm.home_positions:=[0.0, 1.0]", timeout=120)
    assert r.returncode == 2, r.stderr
    assert "'home_positions' has 2 values for 7 arm_joints" in r.stderr


def test_the_figure_tool_runs_the_pick_and_place_without_ros(tmp_path):
    """python -m omni_ros.benchmarks.arm (bench/arm_executor.png): every primitive succeeds."""
    from omni_ros.benchmarks.arm import main

    assert main(["--out", str(tmp_path / "arm.png")]) == 0
    assert (tmp_path / "arm.png").stat().st_size > 10_000
