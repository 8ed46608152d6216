"""Frames and robot model of the simulated robot (ROS 2 installs; sim_demo.launch.py includes it):
the sensor frames on /tf_static (tf2_ros static_transform_publisher), the arm's links on /tf
(robot_state_publisher with the URDF the sim loads and the bridge's /joint_states), and RViz
with rviz/omni_ros.rviz (robot, TF, lidar cloud, camera image, /omni/scene_markers; fixed
frame panda_link0).

    ros2 launch omni_ros sim_demo.launch.py rviz:=true       # the whole sim graph + RViz
    ros2 launch omni_ros frames.launch.py rviz:=true         # frames only (the bridge elsewhere)

The transforms come from omni_ros_sim.frames.frame_tree of the bridge's SimConfig (its
config/sim_bridge.yaml, then params_file's /sim_bridge sim.* parameters), so they move with the
configured sensors. A package that is not installed (tf2_ros, robot_state_publisher, rviz2) is
named in the log and its part left out; the launch goes on. Pip installs have no tf2: the same
transforms are in config/tf/frames.yaml (``omni-ros frames``).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import EnvironmentVariable, LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

# One Fast DDS transport for every node, as `omni-ros up` sets it (omni_ros/dds_env.py; the test
# of the launch files checks that they agree): yours if you exported one, else LARGE_DATA.
TRANSPORT = SetEnvironmentVariable(
    "FASTDDS_BUILTIN_TRANSPORTS",
    EnvironmentVariable("FASTDDS_BUILTIN_TRANSPORTS", default_value="LARGE_DATA"))


def installed(package):
    """Whether ROS package ``package`` is in the ament index (AMENT_PREFIX_PATH)."""
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        get_package_prefix(package)
        return True
    except PackageNotFoundError:
        return False


def flag(value, name):
    """A boolean launch argument: true/false (also 1/0, yes/no), else ValueError."""
    text = value.strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise ValueError(f"{name}:={value}: must be true or false")


def frame_nodes(param_files, rviz, rviz_config, have=installed):
    """What to start: ``("node", Node keyword arguments)`` and ``("log", text)`` entries, for the
    bridge's SimConfig under ``param_files`` (ROS parameter files, in order): one
    static_transform_publisher per sensor frame (tf2_ros), robot_state_publisher with the sim's
    URDF, and with ``rviz`` rviz2 with ``rviz_config``; each only if ``have(package)``, else a
    log line saying what is missing."""
    from omni_ros_sim.frames import frame_tree, robot_description, sim_config_from_params

    cfg = sim_config_from_params(param_files)
    sim_time = {"use_sim_time": True}  # the bridge's /clock: stamps are sim time
    out = []
    if have("tf2_ros"):
        for t in frame_tree(cfg):
            args = []
            for key, value in zip(("--x", "--y", "--z", "--qx", "--qy", "--qz", "--qw"),
                                  t.xyz + t.quat):
                args += [key, repr(float(value))]
            out.append(("node", {"package": "tf2_ros", "executable": "static_transform_publisher",
                                 "name": f"static_tf_{t.child}", "output": "log",
                                 "arguments": args + ["--frame-id", t.parent,
                                                      "--child-frame-id", t.child]}))
    else:
        out.append(("log", "frames: tf2_ros is not installed: no sensor frames on /tf_static "
                           "(apt install ros-$ROS_DISTRO-tf2-ros; the transforms are in "
                           "config/tf/frames.yaml)"))
    if have("robot_state_publisher"):
        out.append(("node", {"package": "robot_state_publisher",
                             "executable": "robot_state_publisher",
                             "name": "robot_state_publisher", "output": "screen",
                             "parameters": [{"robot_description": robot_description(),
                                             **sim_time}]}))
    else:
        out.append(("log", "frames: robot_state_publisher is not installed: no arm links on /tf "
                           "and no /robot_description (apt install "
                           "ros-$ROS_DISTRO-robot-state-publisher)"))
    if rviz and have("rviz2"):
        out.append(("node", {"package": "rviz2", "executable": "rviz2", "name": "rviz2",
                             "output": "screen", "arguments": ["-d", rviz_config],
                             "parameters": [sim_time]}))
    elif rviz:
        out.append(("log", "frames: rviz:=true but rviz2 is not installed: no RViz "
                           "(apt install ros-$ROS_DISTRO-rviz2); the rest runs"))
    return out


def as_text(parameters):
    """Node parameters with robot_description kept as text (launch_ros would read a string
    that parses as YAML as YAML)."""
    return [{k: ParameterValue(v, value_type=str) if k == "robot_description" else v
             for k, v in p.items()} for p in parameters]


def nodes(context):
    share = get_package_share_directory("omni_ros")
    user_file = LaunchConfiguration("params_file").perform(context)
    files = [os.path.join(share, "config", "sim_bridge.yaml")] + ([user_file] if user_file else [])
    rviz = flag(LaunchConfiguration("rviz").perform(context), "rviz")
    out = []
    for kind, what in frame_nodes(files, rviz, os.path.join(share, "rviz", "omni_ros.rviz")):
        if kind == "node":
            out.append(Node(**{**what, "parameters": as_text(what.get("parameters", []))}))
        else:
            out.append(LogInfo(msg=what))
    return out


def generate_launch_description():
    return LaunchDescription([
        TRANSPORT,
        DeclareLaunchArgument(
            "rviz", default_value="false",
            description="also start RViz with rviz/omni_ros.rviz (true, false)"),
        DeclareLaunchArgument(
            "params_file", default_value="",
            description="the sim bridge's parameter file (its sim.* parameters place the sensors)"),
        OpaqueFunction(function=nodes),
    ])
