"""Every stream of the simulated robot: stream key <-> topic <-> message type, and the two
directions between them.

``encode`` turns a sim reading into its ROS message (what the sim bridge publishes and
records); ``decode`` turns a message back into the numpy payload the dataset assembler uses.
The dataset's direct path goes through both, so samples made directly and samples made from a
recording of the bridge are the same by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from geometry_msgs.msg import WrenchStamped
from omni_ros_msgs.msg import (AudioChunk, PrimitiveStatus, SceneUnderstanding, TactileArray,
                               TeleopCommand)
from sensor_msgs.msg import CameraInfo, Image, JointState, PointCloud2

from . import conversions as cv
from .core.types import OperatorCommand, SceneState

JOINT_NAMES = [f"panda_joint{i}" for i in range(1, 8)] + ["panda_finger_joint1",
                                                          "panda_finger_joint2"]
BASE_FRAME = "panda_link0"
CAMERA_FRAME = "camera_color_optical_frame"


@dataclass(frozen=True)
class Stream:
    key: str
    topic: str
    msg_type: type
    frame_id: str
    decode: Callable[[Any], Any]


def _decode_joints(msg: JointState) -> dict:
    _, pos, vel, _ = cv.joint_state_to_arrays(msg)
    return {"position": pos, "velocity": vel}


STREAMS: tuple[Stream, ...] = (
    Stream("joints", "/joint_states", JointState, "", _decode_joints),
    Stream("wrench", "/wrist/wrench", WrenchStamped, "panda_hand_ft", cv.wrench_to_numpy),
    Stream("tactile", "/tactile", TactileArray, "panda_hand", cv.tactile_to_dict),
    Stream("audio", "/audio", AudioChunk, "microphone_link",
           lambda m: cv.audio_chunk_to_numpy(m, as_float=False)[:, 0]),
    Stream("lidar", "/lidar/points", PointCloud2, "lidar_link",
           lambda m: cv.pointcloud2_to_array(m, cv.pointcloud.XYZI, organised=True)),
    Stream("ground_truth", "/sim/ground_truth", SceneUnderstanding, BASE_FRAME, cv.msg_to_scene),
    Stream("camera_info", "/camera/camera_info", CameraInfo, CAMERA_FRAME,
           cv.camera_info_to_intrinsics),
    Stream("depth", "/camera/depth/image_raw", Image, CAMERA_FRAME, cv.depth_to_metres),
    Stream("color", "/camera/color/image_raw", Image, CAMERA_FRAME,
           lambda m: np.array(cv.image_to_numpy(m))),
    Stream("action_status", "/omni/action_status", PrimitiveStatus, "", cv.msg_to_status),
    Stream("task", "/sim/task", TeleopCommand, BASE_FRAME, cv.msg_to_command),
)
BY_KEY = {s.key: s for s in STREAMS}
BY_TOPIC = {s.topic: s for s in STREAMS}


def nominal_rates(cfg) -> dict[str, float]:
    """Stream key -> rate [Hz] of the simulated robot under SimConfig ``cfg``."""
    cam = cfg.camera.rate_hz
    return {"joints": cfg.joint_rate_hz, "wrench": cfg.wrench.rate_hz,
            "tactile": cfg.tactile.rate_hz, "audio": 1.0 / cfg.audio.chunk_s,
            "lidar": cfg.lidar.rate_hz, "ground_truth": cam, "camera_info": cam, "depth": cam,
            "color": cam}


def ground_truth_scene(gt) -> SceneState:
    """The world's ground truth as a SceneState (published on /sim/ground_truth)."""
    return SceneState(stamp_ns=gt.stamp_ns, frame_id=BASE_FRAME, objects=gt.objects,
                      in_contact=gt.in_contact, grasping=gt.grasping,
                      held_object_id=gt.held_object_id, grasp_confidence=float(gt.grasping),
                      events=gt.events)


def task_command(task, stamp_ns: int) -> OperatorCommand:
    """The episode's task as the operator command that would drive it (published on /sim/task)."""
    label = task.pick_command.removeprefix("pick up the ")
    return OperatorCommand(stamp_ns=stamp_ns, source="text", raw_text=task.command, intent="pick",
                           target_description=label,
                           point=np.array([task.place_xy[0], task.place_xy[1], 0.0]),
                           point_frame=BASE_FRAME, confidence=1.0)


@dataclass(frozen=True)
class EncodeContext:
    """Static facts ``encode`` needs from the world that produced the readings."""

    audio_rate_hz: int
    taxel_pitch_m: float
    intrinsics: Any  # omni_ros.core.camera.CameraIntrinsics

    @classmethod
    def from_world(cls, world) -> "EncodeContext":
        return cls(world.cfg.audio.sample_rate, world.cfg.tactile.pitch_m, world.camera.intrinsics)


def encode(key: str, stamp_ns: int, data, ctx: EncodeContext) -> list[tuple[str, Any]]:
    """[(topic, message)] for one sim reading (a camera frame also yields its CameraInfo)."""
    s = BY_KEY[key]
    if key == "joints":
        msg = cv.arrays_to_joint_state(JOINT_NAMES, data["position"], data["velocity"],
                                       stamp_ns=stamp_ns)
    elif key == "wrench":
        msg = cv.numpy_to_wrench(data, s.frame_id, stamp_ns)
    elif key == "tactile":
        msg = cv.dict_to_tactile(data, ctx.taxel_pitch_m, s.frame_id, stamp_ns)
    elif key == "audio":
        msg = cv.numpy_to_audio_chunk(data, ctx.audio_rate_hz, frame_id=s.frame_id,
                                      stamp_ns=stamp_ns)
    elif key == "lidar":
        msg = cv.array_to_pointcloud2(data, cv.pointcloud.XYZI, s.frame_id, stamp_ns)
    elif key == "ground_truth":
        msg = cv.scene_to_msg(ground_truth_scene(data))
    elif key == "depth":
        msg = cv.metres_to_depth_image(data, "32FC1", s.frame_id, stamp_ns)
    elif key == "color":
        return [(s.topic, cv.numpy_to_image(data, "rgb8", s.frame_id, stamp_ns)),
                (BY_KEY["camera_info"].topic,
                 cv.intrinsics_to_camera_info(ctx.intrinsics, CAMERA_FRAME, stamp_ns))]
    elif key == "action_status":
        msg = cv.status_to_msg(data)
    elif key == "task":
        msg = cv.command_to_msg(data)
    else:
        raise KeyError(key)
    return [(s.topic, msg)]


def decode(topic: str, msg) -> tuple[str, int, Any]:
    """(stream key, header stamp [ns], payload) of a message on one of the streams' topics."""
    s = BY_TOPIC[topic]
    return s.key, cv.stamp_to_ns(msg.header.stamp), s.decode(msg)
