"""omni_ros: shared-latent multimodal perception and teleoperation for ROS 2.

Layers (imports only point downwards):
    omni_ros.nodes        thin rclpy nodes
    omni_ros.conversions  ROS message <-> numpy / core dataclasses, no Node
    omni_ros.core         numpy/torch only, never rclpy or message packages
"""

__version__ = "0.1.0"
