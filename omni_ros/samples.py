"""Deterministic sample messages of every type omni_ros uses, and malformed variants of each.

The same (seed, key, index) always gives the same message, so a receiver in another process can
regenerate what a sender published and compare exactly. Used by the demo, the DDS tests and
the transport benchmark. The contents are random, not physical: the PyBullet world makes those.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
from omni_ros_msgs.msg import (LatentStamped, PrimitiveCommand, PrimitiveStatus,
                               SceneUnderstanding, TeleopCommand)

from . import conversions as cv
from .core.camera import CameraIntrinsics
from .core.config import param
from .core.types import (LatentVector, ObjectEstimate, OperatorCommand, Primitive,
                         SceneEventData, SceneState)
from .core.types import PrimitiveStatus as PrimitiveStatusData


@dataclass
class SampleSizes:
    """Sizes of the generated sensor data."""

    image_width: int = param(64, "camera image width [px]", min=1, max=4096)
    image_height: int = param(64, "camera image height [px]", min=1, max=4096)
    cloud_points: int = param(2880, "points per lidar cloud (e.g. 16 x 180 rays)", min=1,
                              max=2_000_000)
    audio_chunk_s: float = param(0.02, "audio chunk length [s]", min=0.001, max=1.0)
    audio_rate_hz: int = param(16000, "audio sample rate [Hz]", min=8000, max=48000)
    taxels: int = param(4, "taxel rows and columns per tactile pad", min=1, max=64)


def rng_for(seed: int, key: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(key.encode()), index])


def intrinsics_for(sizes: SampleSizes) -> CameraIntrinsics:
    """A 60-degree horizontal field of view camera of the configured size."""
    f = sizes.image_width / (2 * np.tan(np.radians(30)))
    return CameraIntrinsics(sizes.image_width, sizes.image_height, f, f,
                            (sizes.image_width - 1) / 2, (sizes.image_height - 1) / 2)


def sensor_sample(key: str, seed: int, index: int, stamp_ns: int, sizes: SampleSizes,
                  frame_id: str = ""):
    """Message number ``index`` of sensor stream ``key`` (see omni_ros.nodes.topics)."""
    rng = rng_for(seed, key, index)
    w, h = sizes.image_width, sizes.image_height
    if key == "color":
        return cv.numpy_to_image(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "rgb8",
                                 frame_id, stamp_ns)
    if key == "depth":
        return cv.metres_to_depth_image(rng.uniform(0.2, 3.0, (h, w)).astype(np.float32),
                                        "32FC1", frame_id, stamp_ns)
    if key == "camera_info":
        return cv.intrinsics_to_camera_info(intrinsics_for(sizes), frame_id, stamp_ns)
    if key == "lidar":
        pts = rng.uniform(-5, 5, (sizes.cloud_points, 4)).astype(np.float32)
        pts[:, 3] = np.abs(pts[:, 3]) * 20  # intensity
        return cv.array_to_pointcloud2(pts, frame_id=frame_id, stamp_ns=stamp_ns)
    if key == "audio":
        n = int(round(sizes.audio_chunk_s * sizes.audio_rate_hz))
        t = (index * n + np.arange(n)) / sizes.audio_rate_hz
        wave = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(n)
        return cv.numpy_to_audio_chunk((wave * 32767).astype(np.int16), sizes.audio_rate_hz,
                                       frame_id=frame_id, stamp_ns=stamp_ns)
    if key == "tactile":
        k = sizes.taxels
        pads = {"panda_leftfinger_pad": rng.uniform(0, 2, (k, k)),
                "panda_rightfinger_pad": rng.uniform(0, 2, (k, k))}
        return cv.dict_to_tactile(pads, 0.005, frame_id, stamp_ns)
    if key == "wrench":
        return cv.numpy_to_wrench(rng.normal(0, 5, 6), frame_id, stamp_ns)
    return _generic_sample(key, rng, stamp_ns, sizes, frame_id)


def _generic_sample(key, rng, stamp_ns, sizes, frame_id):
    """Any other registered sensor stream (e.g. a thermal camera): by its message kind."""
    from sensor_msgs.msg import CameraInfo

    from .streams import BY_KEY

    s = BY_KEY.get(key)
    if s is None or not (s.modality or s.msg_type is CameraInfo):
        raise KeyError(f"unknown sensor key {key!r}")
    if s.msg_type is CameraInfo:
        return cv.intrinsics_to_camera_info(intrinsics_for(sizes), frame_id, stamp_ns)
    kind, _, encoding = s.codec.partition(":")
    if kind == "image":
        enc = cv.image.ENCODINGS[encoding]
        shape = (sizes.image_height, sizes.image_width) + ((enc.channels,) if enc.channels > 1 else ())
        info = np.iinfo(enc.dtype) if enc.dtype.kind in "ui" else None
        pixels = (rng.integers(info.min, info.max, shape, endpoint=True) if info is not None
                  else rng.uniform(0, 1, shape)).astype(enc.dtype)
        return cv.numpy_to_image(pixels, encoding, frame_id, stamp_ns)
    raise KeyError(f"sensor key {key!r}: no sample for codec {s.codec!r}")


def garbage_sample(key: str, seed: int, index: int, stamp_ns: int, sizes: SampleSizes,
                   frame_id: str = ""):
    """A malformed message for stream ``key``: it must be rejected, never crash a node."""
    msg = sensor_sample(key, seed, index, stamp_ns, sizes, frame_id)
    if type(msg).__name__ == "Image":
        msg.data = msg.data[: len(msg.data) // 2]            # truncated
    elif type(msg).__name__ == "CameraInfo":
        msg.k[0] = 0.0                                        # zero focal length
    elif key == "lidar":
        msg.data = msg.data[: len(msg.data) - 3]              # truncated mid-point
    elif key == "audio":
        msg.data = msg.data[:-1]                              # odd length for S16LE
    elif key == "tactile":
        msg.pads[0].forces = msg.pads[0].forces[:-1]          # rows*cols mismatch
    elif key == "wrench":
        msg.wrench.force.z = float("nan")
    return msg


# key -> (default topic, message type) of each omni_ros output.
OUTPUT_TOPICS = {
    "scene": ("/omni/scene", SceneUnderstanding),
    "latent": ("/omni/latent/camera", LatentStamped),
    "teleop": ("/omni/teleop", TeleopCommand),
    "action": ("/omni/action", PrimitiveCommand),
    "action_status": ("/omni/action_status", PrimitiveStatus),
}


def output_sample(key: str, seed: int, stamp_ns: int):
    """A sample of each omni_ros output message type (SceneUnderstanding carries
    DetectedObject and SceneEvent; TactileArray/TactilePad and AudioChunk are sensors)."""
    rng = rng_for(seed, key, 0)
    objects = [ObjectEstimate(id=f"obj_{i}", shape=s, color=c, material=m,
                              confidence=float(rng.uniform()), mass=float(rng.uniform(0.05, 0.5)),
                              position=rng.uniform(-1, 1, 3),
                              orientation=[0.0, 0.0, np.sin(0.3 * i), np.cos(0.3 * i)],
                              size=rng.uniform(0.02, 0.08, 3),
                              latent=rng.standard_normal(128).astype(np.float32),
                              temperature_c=float(np.float32(rng.uniform(0, 90))))
               for i, (s, c, m) in enumerate([("cube", "red", "wood"),
                                              ("sphere", "blue", "rubber"),
                                              ("cylinder", "green", "metal")])
               ] if key in ("scene", "latent") else []
    if key == "scene":
        gates = rng.dirichlet(np.ones(5))
        return cv.scene_to_msg(SceneState(
            stamp_ns=stamp_ns, frame_id="panda_link0", objects=objects, in_contact=True,
            grasping=True, held_object_id="obj_0", grasp_confidence=0.9,
            events=[SceneEventData(stamp_ns, "impact", "obj_1", 0.12, 0.8)],
            modalities=["camera", "lidar", "audio", "tactile", "force"],
            present=[True] * 5, ages=rng.uniform(0, 0.1, 5).tolist(), gate_weights=gates.tolist(),
            contributions=rng.uniform(0, 1, 5).tolist(),
            fused_latent=rng.standard_normal(128).astype(np.float32),
            target_object_id="obj_0", target_point=rng.uniform(-1, 1, 3), pipeline_latency=0.004))
    if key == "latent":
        v = rng.standard_normal(128)
        return cv.latent_to_msg(LatentVector("camera", stamp_ns, stamp_ns - 1000,
                                             (v / np.linalg.norm(v)).astype(np.float32), "test",
                                             "panda_link0", objects))
    if key == "teleop":
        return cv.command_to_msg(OperatorCommand(stamp_ns, "voice", "pick up the red cube", "pick",
                                                 "red cube", rng.uniform(-1, 1, 3), "panda_link0",
                                                 0.93))
    if key == "action":
        return cv.primitive_to_msg(Primitive(stamp_ns, "panda_link0", 7, "approach",
                                             rng.uniform(-1, 1, 3), [1.0, 0.0, 0.0, 0.0], 0.08,
                                             15.0, 0.2, 40.0, "obj_0"))
    if key == "action_status":
        return cv.status_to_msg(PrimitiveStatusData(stamp_ns, 7, "approach", "failed",
                                                 "wrench limit 40 N exceeded"))
    raise KeyError(f"unknown output key {key!r}")

