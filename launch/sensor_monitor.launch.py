"""Launch the sensor monitor with config/sensor_monitor.yaml (ROS 2 install + colcon workspace).

    ros2 launch omni_ros sensor_monitor.launch.py
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
    params = os.path.join(get_package_share_directory("omni_ros"), "config", "sensor_monitor.yaml")
    return LaunchDescription([
        TRANSPORT,
        Node(package="omni_ros", executable="sensor_monitor", name="sensor_monitor",
             parameters=[params], output="screen"),
    ])
