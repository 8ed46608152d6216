"""Launch the simulated robot: sim_bridge with config/sim_bridge.yaml (it publishes /clock).

    ros2 launch omni_ros sim.launch.py
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch_ros.actions import Node


def generate_launch_description():
    params = os.path.join(get_package_share_directory("omni_ros"), "config", "sim_bridge.yaml")
    return LaunchDescription([
        Node(package="omni_ros", executable="sim_bridge", name="sim_bridge",
             parameters=[params], output="screen"),
    ])
