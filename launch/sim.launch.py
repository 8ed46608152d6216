"""Launch the simulated robot: sim_bridge with config/sim_bridge.yaml (it publishes /clock).

    ros2 launch omni_ros sim.launch.py
    ros2 launch omni_ros sim.launch.py respawn:=true respawn_delay:=2.0

respawn: restart the bridge when it dies (true, false, or its name), respawn_delay:=S seconds
later.
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
    params = os.path.join(get_package_share_directory("omni_ros"), "config", "sim_bridge.yaml")
    restart = respawned(LaunchConfiguration("respawn").perform(context), ["sim_bridge"])
    delay = float(LaunchConfiguration("respawn_delay").perform(context))
    return [
        Node(package="omni_ros", executable="sim_bridge", name="sim_bridge",
             parameters=[params], output="screen",
             respawn="sim_bridge" in restart, respawn_delay=delay),
    ]


def generate_launch_description():
    return LaunchDescription([
        TRANSPORT,
        DeclareLaunchArgument(
            "respawn", default_value="false",
            description="restart nodes that die: true (every node), false, or names a,b"),
        DeclareLaunchArgument(
            "respawn_delay", default_value="1.0",
            description="seconds before a restart (a fixed delay: ros2 launch has no back-off)"),
        OpaqueFunction(function=nodes),
    ])
