"""Thin rclpy nodes: callbacks convert (omni_ros.conversions) and hand off to omni_ros.core."""
