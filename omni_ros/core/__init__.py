"""ROS-free core of omni_ros: data types, configuration and (later) models.

Nothing under this package may import rclpy or any message package; tests/test_architecture.py
enforces it.
"""
