"""omni_ros output messages <-> :mod:`omni_ros.core.types`.

Builders turn core dataclasses into messages; parsers do the reverse and validate everything a
consumer relies on (known constants, finite numbers, non-negative sizes, parallel arrays).
"""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import Point, PointStamped, Pose, Quaternion, Vector3
from omni_ros_msgs.msg import (DetectedObject, LatentStamped, PrimitiveCommand, PrimitiveStatus,
                               SceneEvent, SceneUnderstanding, TeleopCommand)

from ..core.types import (EVENT_KINDS, INTENTS, PRIMITIVE_STATES, PRIMITIVES, SOURCES,
                          LatentVector, ObjectEstimate, OperatorCommand, Primitive,
                          PrimitiveStatus as PrimitiveStatusData, SceneEventData, SceneState)
from .buffers import f32, from_typed_array, to_typed_array
from .errors import require
from .time import make_header, ns_to_stamp, stamp_to_ns


# --- small geometry helpers -------------------------------------------------------------------

def _finite(values, field: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    require(bool(np.all(np.isfinite(arr))), field, "contains NaN or inf")
    return arr


def _unit(q: np.ndarray, field: str) -> np.ndarray:
    q = _finite(q, field)
    n = float(np.linalg.norm(q))
    require(n > 1e-9, field, "quaternion has zero norm")
    # one already unit to rounding passes unchanged: dividing would only move its last bits
    # (differently with the CPU's vector width), and a round trip must give the same message
    return q if abs(n - 1.0) <= 1e-12 else q / n


def _in_unit_interval(value: float, field: str) -> float:
    require(bool(np.isfinite(value)) and 0.0 <= value <= 1.0, field, f"must be in [0, 1], got {value}")
    return float(value)


def _non_negative(value: float, field: str) -> float:
    require(bool(np.isfinite(value)) and value >= 0.0, field, f"must be finite and >= 0, got {value}")
    return float(value)


def _one_of(value: str, allowed: tuple[str, ...], field: str) -> str:
    require(value in allowed, field, f"{value!r} is not one of {', '.join(allowed)}")
    return value


def _pose(position, orientation) -> Pose:
    p, q = np.asarray(position, float), np.asarray(orientation, float)
    return Pose(position=Point(x=p[0], y=p[1], z=p[2]),
                orientation=Quaternion(x=q[0], y=q[1], z=q[2], w=q[3]))


def _pose_arrays(pose: Pose, field: str) -> tuple[np.ndarray, np.ndarray]:
    p, q = pose.position, pose.orientation
    return (_finite([p.x, p.y, p.z], f"{field}.position"),
            _unit([q.x, q.y, q.z, q.w], f"{field}.orientation"))


def _point(xyz) -> Point:
    return Point(x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2]))


# --- DetectedObject / SceneEvent ---------------------------------------------------------------

def object_to_msg(obj: ObjectEstimate) -> DetectedObject:
    msg = DetectedObject(id=obj.id, shape=obj.shape, color=obj.color, material=obj.material,
                         confidence=f32(obj.confidence), mass=f32(obj.mass),
                         pose=_pose(obj.position, obj.orientation),
                         size=Vector3(x=obj.size[0], y=obj.size[1], z=obj.size[2]),
                         has_temperature=bool(np.isfinite(obj.temperature_c)),
                         temperature=float(np.nan_to_num(obj.temperature_c, nan=0.0)))
    if obj.latent is not None:
        msg.latent = to_typed_array(obj.latent, "f")
    return msg


def msg_to_object(msg: DetectedObject, field: str = "object") -> ObjectEstimate:
    position, orientation = _pose_arrays(msg.pose, f"{field}.pose")
    size = _finite([msg.size.x, msg.size.y, msg.size.z], f"{field}.size")
    require(bool(np.all(size >= 0)), f"{field}.size", f"extents must be >= 0 m, got {size.tolist()}")
    latent = from_typed_array(msg.latent) if len(msg.latent) else None
    if latent is not None:
        _finite(latent, f"{field}.latent")
    return ObjectEstimate(id=msg.id, shape=msg.shape, color=msg.color, material=msg.material,
                          confidence=_in_unit_interval(msg.confidence, f"{field}.confidence"),
                          mass=_non_negative(msg.mass, f"{field}.mass"), position=position,
                          orientation=orientation, size=size, latent=latent,
                          temperature_c=_temperature(msg, f"{field}.temperature"))


def _temperature(msg: DetectedObject, field: str) -> float:
    """The measured surface temperature [deg C], NaN when there is none."""
    if not msg.has_temperature:
        return float("nan")
    t = float(msg.temperature)
    require(-273.15 < t < 5000.0, field, f"{t} deg C: expected a temperature above absolute "
            "zero and below 5000 deg C")
    return t


def event_to_msg(ev: SceneEventData) -> SceneEvent:
    return SceneEvent(stamp=ns_to_stamp(ev.stamp_ns), kind=ev.kind, object_id=ev.object_id,
                      magnitude=f32(ev.magnitude), confidence=f32(ev.confidence))


def msg_to_event(msg: SceneEvent, field: str = "event") -> SceneEventData:
    return SceneEventData(stamp_ns=stamp_to_ns(msg.stamp),
                          kind=_one_of(msg.kind, EVENT_KINDS, f"{field}.kind"),
                          object_id=msg.object_id,
                          magnitude=float(_finite(msg.magnitude, f"{field}.magnitude")),
                          confidence=_in_unit_interval(msg.confidence, f"{field}.confidence"))


# --- SceneUnderstanding -------------------------------------------------------------------------

def scene_to_msg(scene: SceneState) -> SceneUnderstanding:
    msg = SceneUnderstanding(
        header=make_header(scene.frame_id, scene.stamp_ns),
        objects=[object_to_msg(o) for o in scene.objects],
        in_contact=bool(scene.in_contact), grasping=bool(scene.grasping),
        held_object_id=scene.held_object_id, grasp_confidence=f32(scene.grasp_confidence),
        events=[event_to_msg(e) for e in scene.events],
        modalities=list(scene.modalities), present=[bool(p) for p in scene.present],
        target_object_id=scene.target_object_id,
        has_target_point=scene.target_point is not None,
        pipeline_latency=f32(scene.pipeline_latency))
    msg.ages = to_typed_array(scene.ages, "f")
    msg.gate_weights = to_typed_array(scene.gate_weights, "f")
    msg.contributions = to_typed_array(scene.contributions, "f")
    msg.fused_latent = to_typed_array(scene.fused_latent, "f")
    if scene.target_point is not None:
        msg.target_point = _point(scene.target_point)
    return msg


def msg_to_scene(msg: SceneUnderstanding) -> SceneState:
    n = len(msg.modalities)
    for name in ("present", "ages", "gate_weights", "contributions"):
        k = len(getattr(msg, name))
        require(k == n, name, f"has {k} entries but there are {n} modalities")
    gates = from_typed_array(msg.gate_weights)
    require(bool(np.all(np.isfinite(gates) & (gates >= 0) & (gates <= 1))), "gate_weights",
            "must all be in [0, 1]")
    target = None
    if msg.has_target_point:
        p = msg.target_point
        target = _finite([p.x, p.y, p.z], "target_point")
    return SceneState(
        stamp_ns=stamp_to_ns(msg.header.stamp), frame_id=msg.header.frame_id,
        objects=[msg_to_object(o, f"objects[{i}]") for i, o in enumerate(msg.objects)],
        in_contact=bool(msg.in_contact), grasping=bool(msg.grasping),
        held_object_id=msg.held_object_id,
        grasp_confidence=_in_unit_interval(msg.grasp_confidence, "grasp_confidence"),
        events=[msg_to_event(e, f"events[{i}]") for i, e in enumerate(msg.events)],
        modalities=list(msg.modalities), present=[bool(p) for p in msg.present],
        ages=from_typed_array(msg.ages).tolist(), gate_weights=gates.tolist(),
        contributions=_finite(from_typed_array(msg.contributions), "contributions").tolist(),
        fused_latent=_finite(from_typed_array(msg.fused_latent), "fused_latent").astype(np.float32),
        target_object_id=msg.target_object_id, target_point=target,
        pipeline_latency=float(msg.pipeline_latency))


# --- LatentStamped ------------------------------------------------------------------------------

def latent_to_msg(lat: LatentVector) -> LatentStamped:
    msg = LatentStamped(header=make_header(lat.frame_id, lat.stamp_ns), modality=lat.modality,
                        source_stamp=ns_to_stamp(lat.source_stamp_ns),
                        encoder_version=lat.encoder_version,
                        objects=[object_to_msg(o) for o in lat.objects])
    msg.latent = to_typed_array(lat.vector, "f")
    return msg


def msg_to_latent(msg: LatentStamped) -> LatentVector:
    require(msg.modality != "", "modality", "is empty")
    vec = from_typed_array(msg.latent)
    require(vec.size > 0, "latent", "is empty")
    _finite(vec, "latent")
    return LatentVector(modality=msg.modality, stamp_ns=stamp_to_ns(msg.header.stamp),
                        source_stamp_ns=stamp_to_ns(msg.source_stamp), vector=vec,
                        encoder_version=msg.encoder_version, frame_id=msg.header.frame_id,
                        objects=[msg_to_object(o, f"objects[{i}]") for i, o in enumerate(msg.objects)])


# --- TeleopCommand ------------------------------------------------------------------------------

def command_to_msg(cmd: OperatorCommand) -> TeleopCommand:
    msg = TeleopCommand(header=make_header("", cmd.stamp_ns), source=cmd.source,
                        raw_text=cmd.raw_text, intent=cmd.intent,
                        target_description=cmd.target_description,
                        has_point=cmd.point is not None, confidence=f32(cmd.confidence))
    if cmd.point is not None:
        msg.point = PointStamped(header=make_header(cmd.point_frame, cmd.stamp_ns),
                                 point=_point(cmd.point))
    return msg


def msg_to_command(msg: TeleopCommand) -> OperatorCommand:
    point = None
    if msg.has_point:
        p = msg.point.point
        point = _finite([p.x, p.y, p.z], "point")
    return OperatorCommand(stamp_ns=stamp_to_ns(msg.header.stamp),
                           source=_one_of(msg.source, SOURCES, "source"), raw_text=msg.raw_text,
                           intent=_one_of(msg.intent, INTENTS, "intent"),
                           target_description=msg.target_description, point=point,
                           point_frame=msg.point.header.frame_id if msg.has_point else "",
                           confidence=_in_unit_interval(msg.confidence, "confidence"))


# --- PrimitiveCommand ---------------------------------------------------------------------------

def primitive_to_msg(p: Primitive) -> PrimitiveCommand:
    return PrimitiveCommand(header=make_header(p.frame_id, p.stamp_ns),
                            sequence_id=int(p.sequence_id), primitive=p.primitive,
                            ee_pose=_pose(p.position, p.orientation),
                            gripper_width=f32(p.gripper_width),
                            gripper_force=f32(p.gripper_force), max_speed=f32(p.max_speed),
                            max_wrench_force=f32(p.max_wrench_force), target_id=p.target_id)


def msg_to_primitive(msg: PrimitiveCommand) -> Primitive:
    position, orientation = _pose_arrays(msg.ee_pose, "ee_pose")
    return Primitive(stamp_ns=stamp_to_ns(msg.header.stamp), frame_id=msg.header.frame_id,
                     sequence_id=int(msg.sequence_id),
                     primitive=_one_of(msg.primitive, PRIMITIVES, "primitive"),
                     position=position, orientation=orientation,
                     gripper_width=_non_negative(msg.gripper_width, "gripper_width"),
                     gripper_force=_non_negative(msg.gripper_force, "gripper_force"),
                     max_speed=_non_negative(msg.max_speed, "max_speed"),
                     max_wrench_force=_non_negative(msg.max_wrench_force, "max_wrench_force"),
                     target_id=msg.target_id)


# --- PrimitiveStatus ----------------------------------------------------------------------------

def status_to_msg(st: PrimitiveStatusData) -> PrimitiveStatus:
    return PrimitiveStatus(header=make_header("", st.stamp_ns), sequence_id=int(st.sequence_id),
                           primitive=st.primitive, state=st.state, reason=st.reason)


def msg_to_status(msg: PrimitiveStatus) -> PrimitiveStatusData:
    return PrimitiveStatusData(stamp_ns=stamp_to_ns(msg.header.stamp),
                               sequence_id=int(msg.sequence_id),
                               primitive=_one_of(msg.primitive, PRIMITIVES, "primitive"),
                               state=_one_of(msg.state, PRIMITIVE_STATES, "state"),
                               reason=msg.reason)
