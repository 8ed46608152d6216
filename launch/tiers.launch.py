"""Launch one tier of the tiered graph (ROS 2 installs; pip installs: ``omni-ros up --tier``).

    ros2 launch omni_ros tiers.launch.py tier:=edge            # a sensor host: the encoder
    ros2 launch omni_ros tiers.launch.py tier:=edge sim:=true  # ... with the simulated robot
    ros2 launch omni_ros tiers.launch.py tier:=region          # fusion, teleop and action
    ros2 launch omni_ros tiers.launch.py tier:=edge,region sim:=true  # both on one host

The edge's encoder node turns the sensor topics into /omni/latent/<modality>; the region's
fusion node fuses those latents into /omni/scene for teleop and action. Both must load the same
checkpoint file (a latent carries its sha256). sim:=true gives every node sim time and, on the
edge, starts the sim bridge. params_file, respawn and respawn_delay as in omni_ros.launch.py.
Across hosts, give both sides the same ROS_DOMAIN_ID and discovery settings (README "Tiers").
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

TIERS = ("edge", "region")


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
    tiers = [t.strip() for t in LaunchConfiguration("tier").perform(context).split(",") if t.strip()]
    unknown = [t for t in tiers if t not in TIERS]
    if unknown or not tiers:
        raise ValueError(f"tier: {', '.join(unknown) or '(none)'}: give edge, region or edge,region")
    sim = LaunchConfiguration("sim").perform(context).strip().lower() == "true"
    sim_time = [{"use_sim_time": True}] if sim else []
    restart = respawned(LaunchConfiguration("respawn").perform(context),
                        ["sim_bridge", "encoder", "fusion", "teleop", "action"])
    delay = float(LaunchConfiguration("respawn_delay").perform(context))
    chosen = []
    if "edge" in tiers:
        if sim:
            chosen.append(Node(package="omni_ros", executable="sim_bridge", name="sim_bridge",
                               parameters=[os.path.join(config, "sim_bridge.yaml")] + user + sim_time,
                               output="screen", respawn="sim_bridge" in restart,
                               respawn_delay=delay))
        chosen.append(Node(package="omni_ros", executable="encoder", name="encoder",
                           parameters=[os.path.join(config, "encoder.yaml")] + user + sim_time,
                           output="screen", respawn="encoder" in restart, respawn_delay=delay))
    if "region" in tiers:
        chosen += [
            Node(package="omni_ros", executable="fusion", name="fusion",
                 parameters=[os.path.join(config, "fusion.yaml")] + user + sim_time,
                 output="screen", respawn="fusion" in restart, respawn_delay=delay),
            Node(package="omni_ros", executable="teleop", name="teleop",
                 parameters=[os.path.join(config, "teleop.yaml")] + user + sim_time,
                 output="screen", respawn="teleop" in restart, respawn_delay=delay),
            Node(package="omni_ros", executable="action", name="action",
                 parameters=[os.path.join(config, "action.yaml")] + user + sim_time,
                 output="screen", respawn="action" in restart, respawn_delay=delay),
        ]
    return chosen


def generate_launch_description():
    return LaunchDescription([
        TRANSPORT,
        DeclareLaunchArgument("tier", default_value="edge,region",
                              description="edge, region, or edge,region (both on this host)"),
        DeclareLaunchArgument("sim", default_value="false",
                              description="true: sim time; the edge also starts the sim bridge"),
        DeclareLaunchArgument(
            "params_file", default_value="",
            description="parameter file with sections per node, applied after the defaults"),
        DeclareLaunchArgument(
            "respawn", default_value="false",
            description="restart nodes that die: true (every node), false, or names a,b"),
        DeclareLaunchArgument(
            "respawn_delay", default_value="1.0",
            description="seconds before a restart (a fixed delay: ros2 launch has no back-off)"),
        OpaqueFunction(function=nodes),
    ])
