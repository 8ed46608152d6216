"""Launch the omni_ros graph on the simulated robot: sim_bridge (PyBullet world, every sensor,
/clock) plus perception, teleop and action, each with config/<node>.yaml and sim time.

    ros2 launch omni_ros sim_demo.launch.py
    ros2 launch omni_ros sim_demo.launch.py params_file:=/path/to/my_params.yaml
    ros2 launch omni_ros sim_demo.launch.py rviz:=true    # and RViz (rviz/omni_ros.rviz)
    ros2 launch omni_ros sim_demo.launch.py arm_executor:=true  # the arm via arm_executor
    ros2 launch omni_ros sim_demo.launch.py viz:=true   # + the live viewer (omni-ros viz)

params_file: one parameter file with a section per node ("/sim_bridge: ros__parameters: seed: 3",
"/**" for every node), applied after each node's defaults. respawn: nodes restarted when they
die (true, false, or names: respawn:=perception,teleop), respawn_delay:=S seconds later.
Without ROS 2's launch tools (pip install) the same graph starts with
``omni-ros up --sim [--params FILE] [--respawn NODES]`` (which backs off exponentially between
restarts).
frames.launch.py (included) publishes the sensor frames on /tf_static and the arm's links
(robot_state_publisher) and, with rviz:=true, starts RViz; a missing package is logged, not fatal.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import (DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction,
                            SetEnvironmentVariable)
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import EnvironmentVariable, LaunchConfiguration
from launch_ros.actions import Node

# One Fast DDS transport for every node, as `omni-ros up` sets it (omni_ros/dds_env.py; the test
# of the launch files checks that they agree): yours if you exported one, else LARGE_DATA.
TRANSPORT = SetEnvironmentVariable(
    "FASTDDS_BUILTIN_TRANSPORTS",
    EnvironmentVariable("FASTDDS_BUILTIN_TRANSPORTS", default_value="LARGE_DATA"))


def respawned(value, names):
    """The nodes the respawn argument names, in order: "true" or "all" (every node), "false" or
    "" (none), or node names separated by commas (as `omni-ros up --respawn`)."""
    text = value.strip()
    if text.lower() in ("all", "true"):
        return list(names)
    if text.lower() in ("", "false"):
        return []
    chosen = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in names]
    if unknown:
        raise ValueError(f"respawn: {', '.join(unknown)}: not a node of this graph "
                         f"({', '.join(names)})")
    return [n for n in names if n in chosen]


def nodes(context):
    config = os.path.join(get_package_share_directory("omni_ros"), "config")
    user_file = LaunchConfiguration("params_file").perform(context)
    user = [user_file] if user_file else []  # after the defaults: the user's values win
    sim_time = {"use_sim_time": True}  # every node follows the bridge's /clock
    restart = respawned(LaunchConfiguration("respawn").perform(context),
                        ["sim_bridge", "perception", "teleop", "action", "arm_executor",
                         "viz"])
    delay = float(LaunchConfiguration("respawn_delay").perform(context))
    executor = LaunchConfiguration("arm_executor").perform(context).strip().lower() == "true"
    # with the executor the bridge's arm follows its JointTrajectory messages, as omni-ros up
    arm_input = [{"arm_input": "joint_trajectory"}] if executor else []
    graph = [
        Node(package="omni_ros", executable="sim_bridge", name="sim_bridge",
             parameters=[os.path.join(config, "sim_bridge.yaml")] + user + [sim_time] + arm_input,
             output="screen", respawn="sim_bridge" in restart, respawn_delay=delay),
        Node(package="omni_ros", executable="perception", name="perception",
             parameters=[os.path.join(config, "perception.yaml")] + user + [sim_time],
             output="screen", respawn="perception" in restart, respawn_delay=delay),
        Node(package="omni_ros", executable="teleop", name="teleop",
             parameters=[os.path.join(config, "teleop.yaml")] + user + [sim_time],
             output="screen", respawn="teleop" in restart, respawn_delay=delay),
        Node(package="omni_ros", executable="action", name="action",
             parameters=[os.path.join(config, "action.yaml")] + user + [sim_time],
             output="screen", respawn="action" in restart, respawn_delay=delay),
    ]
    if executor:  # dry_run from the parameter files: true unless params_file says false
        graph.append(Node(
            package="omni_ros", executable="arm_executor", name="arm_executor",
            parameters=[os.path.join(config, "arm_executor.yaml")] + user + [sim_time],
            output="screen", respawn="arm_executor" in restart, respawn_delay=delay))
    if LaunchConfiguration("viz").perform(context).strip().lower() == "true":
        # the live viewer (no package parameter file: its defaults are VizConfig's)
        graph.append(Node(package="omni_ros", executable="viz", name="viz",
                          parameters=user + [sim_time], output="screen",
                          respawn="viz" in restart, respawn_delay=delay))
    return graph


def generate_launch_description():
    return LaunchDescription([
        TRANSPORT,
        DeclareLaunchArgument(
            "params_file", default_value="",
            description="parameter file with sections per node, applied after the defaults"),
        DeclareLaunchArgument(
            "respawn", default_value="false",
            description="restart nodes that die: true (every node), false, or names a,b"),
        DeclareLaunchArgument(
            "respawn_delay", default_value="1.0",
            description="seconds before a restart (a fixed delay: ros2 launch has no back-off)"),
        DeclareLaunchArgument(
            "arm_executor", default_value="false",
            description="also start arm_executor (primitives -> JointTrajectory; dry run unless "
                        "params_file sets /arm_executor dry_run: false), as omni-ros up "
                        "--arm-executor: the sim arm then follows its trajectories"),
        DeclareLaunchArgument(
            "viz", default_value="false",
            description="also start the live viewer (the viz node; rerun web viewer on :9090, "
                        "Foxglove on :8765), as omni-ros up --viz"),
        OpaqueFunction(function=nodes),
        DeclareLaunchArgument(
            "rviz", default_value="false",
            description="also start RViz with rviz/omni_ros.rviz (true, false)"),
        IncludeLaunchDescription(  # sensor frames, robot model, RViz
            PythonLaunchDescriptionSource(os.path.join(
                get_package_share_directory("omni_ros"), "launch", "frames.launch.py")),
            launch_arguments={"rviz": LaunchConfiguration("rviz"),
                              "params_file": LaunchConfiguration("params_file")}.items()),
    ])
