"""Every stream of the robot: stream key <-> topic <-> message type, and the two directions
between them.

Sensor streams come from the modality registry (each modality file declares its streams:
topic, message type, frame, codec); this file adds the codecs (message <-> numpy) and the
streams that are not a modality's input (ground truth, task, action status). ``encode`` turns a
sim reading into its ROS message (what the sim bridge publishes and records); ``decode`` turns a
message back into the numpy payload the dataset assembler and the perception pipeline read. The
dataset's direct path goes through both, so samples made directly and samples made from a
recording of the bridge are the same by construction.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from scipy.signal import resample_poly
from omni_ros_msgs.msg import PrimitiveStatus, SceneUnderstanding, TeleopCommand
from sensor_msgs.msg import CameraInfo

from . import conversions as cv
from .core.model.modalities import sensors
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
    encode: Callable | None = None   # (data, frame_id, stamp_ns, ctx) -> message
    modality: str = ""               # the modality that reads it ("" for other streams)
    info: str = ""                   # key of the CameraInfo stream published with it
    codec: str = ""                  # its codec's name (see CODECS), for sensor streams


@dataclass(frozen=True)
class Codec:
    decode: Callable[[Any], Any]                     # message -> numpy payload
    encode: Callable[[Any, str, int, Any], Any]      # (data, frame_id, stamp_ns, ctx) -> message


def _decode_joints(msg) -> dict:
    _, pos, vel, _ = cv.joint_state_to_arrays(msg)
    return {"position": pos, "velocity": vel}


def _audio_codec(rate: str) -> Codec:
    """Mono int16 at ``rate`` Hz whatever the chunk's rate and encoding (resampled; channel 0)."""
    def decode(msg):
        x = cv.audio_chunk_to_numpy(msg, as_float=False)[:, 0]
        if msg.sample_rate == int(rate):
            return x
        g = math.gcd(int(rate), int(msg.sample_rate))
        y = resample_poly(x.astype(np.float32), int(rate) // g, int(msg.sample_rate) // g)
        return np.clip(np.rint(y), -32768, 32767).astype(np.int16)
    return Codec(decode, lambda d, f, t, ctx: cv.numpy_to_audio_chunk(
        d, ctx.audio_rate_hz, frame_id=f, stamp_ns=t))


def _image_codec(encoding: str) -> Codec:
    return Codec(lambda m: np.array(cv.image_to_numpy(m)),
                 lambda d, f, t, ctx: cv.numpy_to_image(d, encoding, f, t))


# How each kind of sensor message becomes numpy and back; a modality names one in its streams
# ("image:16UC1" = an Image of that encoding, "audio:16000" = mono int16 resampled to 16 kHz).
# A sensor with a new kind of message adds one here.
CODECS: dict[str, Callable[[str], Codec]] = {
    "joints": lambda _: Codec(_decode_joints, lambda d, f, t, ctx: cv.arrays_to_joint_state(
        JOINT_NAMES, d["position"], d["velocity"], stamp_ns=t)),
    "wrench": lambda _: Codec(cv.wrench_to_numpy, lambda d, f, t, ctx: cv.numpy_to_wrench(d, f, t)),
    "tactile": lambda _: Codec(cv.tactile_to_dict,
                               lambda d, f, t, ctx: cv.dict_to_tactile(d, ctx.taxel_pitch_m, f, t)),
    "audio": _audio_codec,
    "pointcloud": lambda _: Codec(
        lambda m: cv.pointcloud2_to_array(m, cv.pointcloud.XYZI, organised=True),
        lambda d, f, t, ctx: cv.array_to_pointcloud2(d, cv.pointcloud.XYZI, f, t)),
    "depth": lambda _: Codec(cv.depth_to_metres,
                             lambda d, f, t, ctx: cv.metres_to_depth_image(d, "32FC1", f, t)),
    "image": _image_codec,
}


def codec(name: str) -> Codec:
    kind, _, arg = name.partition(":")
    if kind not in CODECS:
        raise KeyError(f"codec {name!r}: unknown; known: {sorted(CODECS)}")
    return CODECS[kind](arg)


def message_type(name: str) -> type:
    """The message class of a ROS interface name ("sensor_msgs/msg/Image")."""
    pkg, kind, cls = name.split("/")
    return getattr(importlib.import_module(f"{pkg}.{kind}"), cls)


def _sensor_streams() -> list[Stream]:
    out = []
    for m in sensors():
        for s in m.streams:
            c = codec(s.codec)
            out.append(Stream(s.key, s.topic, message_type(s.msg_type), s.frame_id, c.decode,
                              c.encode, m.name, s.info[0] if s.info else "", s.codec))
            if s.info:
                out.append(Stream(s.info[0], s.info[1], CameraInfo, s.frame_id,
                                  cv.camera_info_to_intrinsics, modality=m.name))
    return out


SENSOR_STREAMS: tuple[Stream, ...] = tuple(_sensor_streams())
STREAMS: tuple[Stream, ...] = SENSOR_STREAMS + (
    Stream("ground_truth", "/sim/ground_truth", SceneUnderstanding, BASE_FRAME, cv.msg_to_scene,
           lambda d, f, t, ctx: cv.scene_to_msg(ground_truth_scene(d))),
    Stream("action_status", "/omni/action_status", PrimitiveStatus, "", cv.msg_to_status,
           lambda d, f, t, ctx: cv.status_to_msg(d)),
    Stream("task", "/sim/task", TeleopCommand, BASE_FRAME, cv.msg_to_command,
           lambda d, f, t, ctx: cv.command_to_msg(d)),
)
BY_KEY = {s.key: s for s in STREAMS}
BY_TOPIC = {s.topic: s for s in STREAMS}
SENSOR_KEYS = tuple(s.key for s in SENSOR_STREAMS)


def _mutable() -> dict[str, tuple[str, ...]]:
    """The sensors a dead-sensor test can silence: modality -> its streams (camera: colour,
    depth and CameraInfo); joints on their own (the tactile modality's second stream, but the
    robot's own sensor)."""
    out: dict[str, tuple[str, ...]] = {}
    for s in SENSOR_STREAMS:
        sensor = "joints" if s.key == "joints" else s.modality
        out[sensor] = out.get(sensor, ()) + (s.key,)
    return out


MUTABLE = _mutable()


def nominal_rates(cfg) -> dict[str, float]:
    """Stream key -> rate [Hz] of the simulated robot under SimConfig ``cfg``."""
    cam = cfg.camera.rate_hz
    return {"joints": cfg.joint_rate_hz, "wrench": cfg.wrench.rate_hz,
            "tactile": cfg.tactile.rate_hz, "audio": 1.0 / cfg.audio.chunk_s,
            "lidar": cfg.lidar.rate_hz, "ground_truth": cam, "camera_info": cam, "depth": cam,
            "color": cam, "thermal": cfg.thermal.rate_hz, "thermal_info": cfg.thermal.rate_hz}


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
    intrinsics: dict  # camera stream key -> omni_ros.core.camera.CameraIntrinsics

    @classmethod
    def from_world(cls, world) -> "EncodeContext":
        return cls(world.cfg.audio.sample_rate, world.cfg.tactile.pitch_m, world.intrinsics())


def encode(key: str, stamp_ns: int, data, ctx: EncodeContext) -> list[tuple[str, Any]]:
    """[(topic, message)] for one sim reading (a camera frame also yields its CameraInfo)."""
    s = BY_KEY[key]
    out = [(s.topic, s.encode(data, s.frame_id, stamp_ns, ctx))]
    if s.info:
        out.append((BY_KEY[s.info].topic,
                    cv.intrinsics_to_camera_info(ctx.intrinsics[key], s.frame_id, stamp_ns)))
    return out


def decode(topic: str, msg) -> tuple[str, int, Any]:
    """(stream key, header stamp [ns], payload) of a message on one of the streams' topics."""
    s = BY_TOPIC[topic]
    return s.key, cv.stamp_to_ns(msg.header.stamp), s.decode(msg)
