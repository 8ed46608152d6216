"""omni_ros_sim: the PyBullet world that produces every omni_ros sensor stream.

Imported as ``omni_ros_sim`` (setup.py maps sim/ to that name). Like ``omni_ros.core`` it never
imports rclpy or message packages; the ROS bridge node lives in ``omni_ros.nodes``.
"""
