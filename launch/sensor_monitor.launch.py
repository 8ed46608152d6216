"""Launch the sensor monitor with config/sensor_monitor.yaml (ROS 2 install + colcon workspace).

    ros2 launch omni_ros sensor_monitor.launch.py
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch_ros.actions import Node


def generate_launch_description():
    params = os.path.join(get_package_share_directory("omni_ros"), "config", "sensor_monitor.yaml")
    return LaunchDescription([
        Node(package="omni_ros", executable="sensor_monitor", name="sensor_monitor",
             parameters=[params], output="screen"),
    ])
