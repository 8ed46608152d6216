"""Plain data types exchanged between core, conversions and nodes (no ROS imports).

Frames and units follow REP 103: positions in metres in the robot base frame unless a
``frame_id`` says otherwise, orientations as unit quaternions (x, y, z, w), forces in newtons.
Times are integer nanoseconds (``*_ns``) of the clock in use (sim time under ``/clock``).

The string constants equal those of the messages in ``omni_ros_msgs`` (a test checks it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# TeleopCommand intents and sources.
INTENTS = ("pick", "place", "move", "home", "stop")
SOURCES = ("voice", "text")
# PrimitiveCommand primitives.
PRIMITIVES = ("approach", "grasp", "lift", "move", "place", "release", "home", "stop")
# SceneEvent kinds.
EVENT_KINDS = ("impact", "grasp", "release", "slip")


def _vec(values, n: int) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(n)


@dataclass
class ObjectEstimate:
    """One perceived object: centre ``position`` [m], ``orientation`` (x, y, z, w), full ``size`` [m],
    ``mass`` [kg] (0 = unknown)."""

    id: str
    shape: str
    color: str
    material: str = ""
    confidence: float = 1.0
    mass: float = 0.0
    position: np.ndarray = field(default_factory=lambda: np.zeros(3))
    orientation: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 0.0, 1.0]))
    size: np.ndarray = field(default_factory=lambda: np.zeros(3))
    temperature_c: float = float("nan")  # surface temperature [deg C]; NaN = unknown
    latent: np.ndarray | None = None

    def __post_init__(self):
        self.position = _vec(self.position, 3)
        self.orientation = _vec(self.orientation, 4)
        self.size = _vec(self.size, 3)


@dataclass
class SceneEventData:
    """A discrete event; ``magnitude`` units depend on ``kind`` (see SceneEvent.msg)."""

    stamp_ns: int
    kind: str
    object_id: str = ""
    magnitude: float = 0.0
    confidence: float = 1.0


@dataclass
class SceneState:
    """Fused scene understanding; the per-modality lists are parallel to ``modalities``."""

    stamp_ns: int
    frame_id: str
    objects: list[ObjectEstimate] = field(default_factory=list)
    in_contact: bool = False
    grasping: bool = False
    held_object_id: str = ""
    grasp_confidence: float = 0.0
    events: list[SceneEventData] = field(default_factory=list)
    modalities: list[str] = field(default_factory=list)
    present: list[bool] = field(default_factory=list)
    ages: list[float] = field(default_factory=list)
    gate_weights: list[float] = field(default_factory=list)
    contributions: list[float] = field(default_factory=list)
    fused_latent: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    target_object_id: str = ""
    target_point: np.ndarray | None = None
    pipeline_latency: float = 0.0


@dataclass
class LatentVector:
    """One modality's latent (L2-normalised) with the stamp of the sensor data it encodes, as an
    edge encoder hands it to fusion: ``encoder_version`` names the checkpoint (its file's
    sha256), ``objects`` are what the edge found in the same input (camera: detections, lidar:
    clusters) in ``frame_id`` (the base frame)."""

    modality: str
    stamp_ns: int
    source_stamp_ns: int
    vector: np.ndarray
    encoder_version: str = ""
    frame_id: str = ""
    objects: list[ObjectEstimate] = field(default_factory=list)


@dataclass
class OperatorCommand:
    """A parsed operator command; ``point`` [m] in ``point_frame`` or None."""

    stamp_ns: int
    source: str
    raw_text: str
    intent: str
    target_description: str = ""
    point: np.ndarray | None = None
    point_frame: str = ""
    confidence: float = 1.0


@dataclass
class Primitive:
    """A motion primitive; ``position`` [m] and ``orientation`` (x, y, z, w) of the end effector
    in ``frame_id``; gripper width [m] and force [N]; speed [m/s] and wrench limit [N] (0 = default).
    """

    stamp_ns: int
    frame_id: str
    sequence_id: int
    primitive: str
    position: np.ndarray = field(default_factory=lambda: np.zeros(3))
    orientation: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 0.0, 1.0]))
    gripper_width: float = 0.0
    gripper_force: float = 0.0
    max_speed: float = 0.0
    max_wrench_force: float = 0.0
    target_id: str = ""

    def __post_init__(self):
        self.position = _vec(self.position, 3)
        self.orientation = _vec(self.orientation, 4)


# PrimitiveStatus states.
PRIMITIVE_STATES = ("running", "succeeded", "failed", "rejected", "stopped")


@dataclass
class PrimitiveStatus:
    """What the executor is doing with primitive ``sequence_id`` and, when it ended, why."""

    stamp_ns: int
    sequence_id: int
    primitive: str
    state: str
    reason: str = ""
