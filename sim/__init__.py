"""omni_ros_sim: the PyBullet world that produces every omni_ros sensor stream.

Imported as ``omni_ros_sim`` (setup.py maps sim/ to that name). Like ``omni_ros.core`` it never
imports rclpy or message packages; the ROS bridge node lives in ``omni_ros.nodes.sim_bridge``.

    from omni_ros_sim import World, SimConfig, random_scene, random_task, run_episode
"""

from .config import SimConfig
from .expert import EpisodeRunner, pick_place_plan, run_episode
from .scene import ObjectSpec, SceneSpec, random_scene
from .tasks import PickPlaceTask, random_task
from .world import Reading, World

__all__ = ["SimConfig", "EpisodeRunner", "pick_place_plan", "run_episode", "ObjectSpec",
           "SceneSpec", "random_scene", "PickPlaceTask", "random_task", "Reading", "World"]
