"""Launch the omni_ros graph: perception, teleop and action, each with config/<node>.yaml.

    ros2 launch omni_ros omni_ros.launch.py
    ros2 launch omni_ros omni_ros.launch.py params_file:=/path/to/my_params.yaml
    ros2 launch omni_ros omni_ros.launch.py arm_executor:=true  # + arm_executor (dry run)
    ros2 launch omni_ros omni_ros.launch.py viz:=true  # + the live viewer (omni-ros viz)

params_file: one parameter file with a section per node ("/perception: ros__parameters: ...",
"/**" for every node), applied after each node's defaults. respawn: nodes restarted when they
die (true, false, or names: respawn:=perception,teleop), respawn_delay:=S seconds later. For
the simulated robot use sim_demo.launch.py. Without ROS 2's launch tools (pip install) the same
graph starts with ``omni-ros up [--params FILE] [--respawn NODES]`` (which backs off
exponentially between restarts).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
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
    restart = respawned(LaunchConfiguration("respawn").perform(context),
                        ["perception", "teleop", "action", "arm_executor", "viz"])
    delay = float(LaunchConfiguration("respawn_delay").perform(context))
    graph = [
        Node(package="omni_ros", executable="perception", name="perception",
             parameters=[os.path.join(config, "perception.yaml")] + user, output="screen",
             respawn="perception" in restart, respawn_delay=delay),
        Node(package="omni_ros", executable="teleop", name="teleop",
             parameters=[os.path.join(config, "teleop.yaml")] + user, output="screen",
             respawn="teleop" in restart, respawn_delay=delay),
        Node(package="omni_ros", executable="action", name="action",
             parameters=[os.path.join(config, "action.yaml")] + user, output="screen",
             respawn="action" in restart, respawn_delay=delay),
    ]
    if LaunchConfiguration("arm_executor").perform(context).strip().lower() == "true":
        # dry_run from the parameter files: true unless params_file says false
        graph.append(Node(
            package="omni_ros", executable="arm_executor", name="arm_executor",
            parameters=[os.path.join(config, "arm_executor.yaml")] + user, output="screen",
            respawn="arm_executor" in restart, respawn_delay=delay))
    if LaunchConfiguration("viz").perform(context).strip().lower() == "true":
        # the live viewer (no package parameter file: its defaults are VizConfig's)
        graph.append(Node(package="omni_ros", executable="viz", name="viz", parameters=user,
                          output="screen", respawn="viz" in restart, respawn_delay=delay))
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
                        "--arm-executor"),
        DeclareLaunchArgument(
            "viz", default_value="false",
            description="also start the live viewer (the viz node; rerun web viewer on :9090, "
                        "Foxglove on :8765), as omni-ros up --viz"),
        OpaqueFunction(function=nodes),
    ])
