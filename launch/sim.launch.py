"""Launch the simulated robot: sim_bridge with config/sim_bridge.yaml (it publishes /clock).

    ros2 launch omni_ros sim.launch.py
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import SetEnvironmentVariable
from launch.substitutions import EnvironmentVariable
from launch_ros.actions import Node

# One Fast DDS transport for every node, as `omni-ros up` sets it (omni_ros/dds_env.py; the test
# of the launch files checks that they agree): yours if you exported one, else LARGE_DATA.
TRANSPORT = SetEnvironmentVariable(
    "FASTDDS_BUILTIN_TRANSPORTS",
    EnvironmentVariable("FASTDDS_BUILTIN_TRANSPORTS", default_value="LARGE_DATA"))


def generate_launch_description():
    params = os.path.join(get_package_share_directory("omni_ros"), "config", "sim_bridge.yaml")
    return LaunchDescription([
        TRANSPORT,
        Node(package="omni_ros", executable="sim_bridge", name="sim_bridge",
             parameters=[params], output="screen"),
    ])
