"""Launch one tier of the tiered graph (ROS 2 installs; pip installs: ``omni-ros up --tier``).

    ros2 launch omni_ros tiers.launch.py tier:=edge            # a sensor host: the encoder
    ros2 launch omni_ros tiers.launch.py tier:=edge sim:=true  # ... with the simulated robot
    ros2 launch omni_ros tiers.launch.py tier:=region          # fusion, teleop and action
    ros2 launch omni_ros tiers.launch.py tier:=edge,region sim:=true  # both on one host
    ros2 launch omni_ros tiers.launch.py tier:=cloud           # the fleet's cloud (no ROS)
    ros2 launch omni_ros tiers.launch.py tier:=region cloud:=tcp/10.0.0.5:7447  # + cloud_gateway
    ros2 launch omni_ros tiers.launch.py tier:=edge,region,cloud sim:=true  # all on one host
    ros2 launch omni_ros tiers.launch.py tier:=edge,region sim:=true arm_executor:=true

The edge's encoder node turns the sensor topics into /omni/latent/<modality>; the region's
fusion node fuses those latents into /omni/scene for teleop and action. Both must load the same
checkpoint file (a latent carries its sha256). sim:=true gives every node sim time and, on the
edge, starts the sim bridge. The cloud tier is `omni-ros cloud` (a Zenoh router without ROS: the
fleet's object memory and command language model), run as a process listening on cloud_listen
(default tcp/0.0.0.0:7447). cloud:=ENDPOINT[,ENDPOINT] gives the region a cloud elsewhere: it
then also runs cloud_gateway with connect = those endpoints; with region and cloud in one launch
the gateway connects to the local cloud. arm_executor:=true adds the arm executor to the region
(it runs beside action; dry run unless params_file sets /arm_executor dry_run: false); with the
sim's edge in the same launch the bridge then takes joint trajectories (arm_input), while an edge
launched alone needs that in its params_file, as `omni-ros up --tier ... --arm-executor`.
params_file, respawn and respawn_delay as in omni_ros.launch.py. Across hosts, give both sides the same ROS_DOMAIN_ID and discovery settings
(README "Tiers"). `omni-ros up --tier ... [--cloud ...] [--cloud-listen ...]` starts the same
processes and refuses the same combinations.
"""

import os
import sys

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import (DeclareLaunchArgument, ExecuteProcess, OpaqueFunction,
                            SetEnvironmentVariable)
from launch.substitutions import EnvironmentVariable, LaunchConfiguration
from launch_ros.actions import Node

# One Fast DDS transport for every node, as `omni-ros up` sets it (omni_ros/dds_env.py; the test
# of the launch files checks that they agree): yours if you exported one, else LARGE_DATA.
TRANSPORT = SetEnvironmentVariable(
    "FASTDDS_BUILTIN_TRANSPORTS",
    EnvironmentVariable("FASTDDS_BUILTIN_TRANSPORTS", default_value="LARGE_DATA"))

TIERS = ("edge", "region", "cloud")
DEFAULT_LISTEN = "tcp/0.0.0.0:7447"  # omni-ros cloud's (omni_ros/cloud/link.py)


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


def endpoints(value):
    """Comma-separated Zenoh endpoints <protocol>/<address> (as `omni-ros up --cloud`)."""
    found = [e.strip() for e in value.split(",") if e.strip()]
    bad = [e for e in found if "/" not in e or e.startswith("/")]
    if bad:
        raise ValueError(f"{', '.join(bad)}: not a Zenoh endpoint <protocol>/<address>, e.g. "
                         "tcp/10.0.0.5:7447")
    return found


def local(endpoint):
    """How this host reaches a cloud listening on ``endpoint`` (a wildcard address becomes the
    loopback one, as omni_ros.cloud.link.local_endpoint)."""
    proto, _, address = endpoint.partition("/")
    host, sep, port = address.rpartition(":")
    if sep and host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif sep and host in ("[::]", "::"):
        host = "[::1]"
    return f"{proto}/{host}{sep}{port}" if sep else endpoint


def nodes(context):
    config = os.path.join(get_package_share_directory("omni_ros"), "config")
    user_file = LaunchConfiguration("params_file").perform(context)
    user = [user_file] if user_file else []  # after the defaults: the user's values win
    tiers = [t.strip() for t in LaunchConfiguration("tier").perform(context).split(",") if t.strip()]
    unknown = [t for t in tiers if t not in TIERS]
    if unknown or not tiers:
        raise ValueError(f"tier: {', '.join(unknown) or '(none)'}: give edge, region, cloud or "
                         "several (edge,region,cloud)")
    sim = LaunchConfiguration("sim").perform(context).strip().lower() == "true"
    sim_time = [{"use_sim_time": True}] if sim else []
    cloud = endpoints(LaunchConfiguration("cloud").perform(context))
    listen = endpoints(LaunchConfiguration("cloud_listen").perform(context))
    if listen and "cloud" not in tiers:
        raise ValueError("cloud_listen:= sets where this launch's cloud listens: add cloud to tier")
    listen = listen or [DEFAULT_LISTEN]
    if cloud and "region" not in tiers:
        raise ValueError("cloud:= points the region's cloud_gateway at a cloud: add region to tier")
    if cloud and "cloud" in tiers:
        raise ValueError("cloud:= with tier cloud: the region's gateway connects to the cloud of "
                         "this launch (set cloud_listen), or leave cloud out of tier")
    if sim and tiers == ["cloud"]:
        raise ValueError("sim:=true: the cloud tier runs no ROS nodes; add edge or region")
    executor = LaunchConfiguration("arm_executor").perform(context).strip().lower() == "true"
    if executor and "region" not in tiers:
        raise ValueError("arm_executor:=true: the arm executor runs with action (add region to "
                         "tier); on an edge host set the bridge's arm_input to joint_trajectory "
                         "in params_file instead")
    arm_input = [{"arm_input": "joint_trajectory"}] if executor else []
    gateway = cloud or ([local(e) for e in listen] if "region" in tiers and "cloud" in tiers
                        else [])
    restart = respawned(LaunchConfiguration("respawn").perform(context),
                        ["sim_bridge", "encoder", "fusion", "teleop", "action", "arm_executor",
                         "cloud_gateway", "cloud"])
    delay = float(LaunchConfiguration("respawn_delay").perform(context))
    chosen = []
    if "edge" in tiers:
        if sim:
            chosen.append(Node(package="omni_ros", executable="sim_bridge", name="sim_bridge",
                               parameters=[os.path.join(config, "sim_bridge.yaml")] + user + sim_time
                               + arm_input, output="screen", respawn="sim_bridge" in restart,
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
        if executor:  # dry_run from the parameter files: true unless params_file says false
            chosen.append(Node(package="omni_ros", executable="arm_executor", name="arm_executor",
                               parameters=[os.path.join(config, "arm_executor.yaml")] + user
                               + sim_time, output="screen", respawn="arm_executor" in restart,
                               respawn_delay=delay))
        if gateway:  # after the user's file: the endpoints given here win, as with omni-ros up
            chosen.append(Node(package="omni_ros", executable="cloud_gateway",
                               name="cloud_gateway",
                               parameters=[os.path.join(config, "cloud_gateway.yaml")] + user
                               + sim_time + [{"connect": gateway}],
                               output="screen", respawn="cloud_gateway" in restart,
                               respawn_delay=delay))
    if "cloud" in tiers:  # no ROS node: the omni-ros console script's cloud subcommand
        chosen.append(ExecuteProcess(
            name="cloud", cmd=[sys.executable, "-m", "omni_ros.cli", "cloud"]
            + [a for e in listen for a in ("--listen", e)],
            output="screen", respawn="cloud" in restart, respawn_delay=delay))
    return chosen


def generate_launch_description():
    return LaunchDescription([
        TRANSPORT,
        DeclareLaunchArgument("tier", default_value="edge,region",
                              description="edge, region, cloud, or several on this host "
                                          "(edge,region or edge,region,cloud)"),
        DeclareLaunchArgument(
            "cloud", default_value="",
            description="Zenoh endpoints (comma-separated) of the cloud the region's "
                        "cloud_gateway connects to, e.g. tcp/10.0.0.5:7447; empty: no gateway "
                        "(unless tier has region and cloud)"),
        DeclareLaunchArgument(
            "cloud_listen", default_value="",
            description=f"tier cloud: Zenoh endpoints it listens on (default {DEFAULT_LISTEN})"),
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
        DeclareLaunchArgument(
            "arm_executor", default_value="false",
            description="region: also start arm_executor (primitives -> JointTrajectory; dry run "
                        "unless params_file sets /arm_executor dry_run: false), as omni-ros up "
                        "--tier region --arm-executor"),
        OpaqueFunction(function=nodes),
    ])
