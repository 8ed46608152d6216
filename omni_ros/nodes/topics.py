"""The sensor topics omni_ros consumes: default names, types and decoders, in one table.

Every node that reads sensors takes its subscriptions from here, so names and decoding agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from geometry_msgs.msg import WrenchStamped
from omni_ros_msgs.msg import AudioChunk, TactileArray
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from .. import conversions as cv


@dataclass(frozen=True)
class SensorTopic:
    """One sensor input: ``key`` names it in parameters and tables."""

    key: str
    topic: str
    msg_type: type
    decode: Callable[[Any], Any]
    frame_id: str
    rate_hz: float  # nominal rate of the simulated robot; rates divide the 240 Hz physics step


SENSOR_TOPICS: tuple[SensorTopic, ...] = (
    SensorTopic("color", "/camera/color/image_raw", Image, cv.image_to_numpy,
                "camera_color_optical_frame", 15.0),
    SensorTopic("depth", "/camera/depth/image_raw", Image, cv.depth_to_metres,
                "camera_color_optical_frame", 15.0),
    SensorTopic("camera_info", "/camera/camera_info", CameraInfo, cv.camera_info_to_intrinsics,
                "camera_color_optical_frame", 15.0),
    SensorTopic("lidar", "/lidar/points", PointCloud2,
                lambda m: cv.pointcloud2_to_array(m, cv.pointcloud.XYZ), "lidar_link", 10.0),
    SensorTopic("audio", "/audio", AudioChunk, cv.audio_chunk_to_numpy, "microphone_link", 50.0),
    SensorTopic("tactile", "/tactile", TactileArray, cv.tactile_to_dict, "panda_hand", 80.0),
    SensorTopic("wrench", "/wrist/wrench", WrenchStamped, cv.wrench_to_numpy, "panda_hand_ft",
                120.0),
)
SENSOR_BY_KEY = {s.key: s for s in SENSOR_TOPICS}
