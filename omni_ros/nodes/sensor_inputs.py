"""What every node that reads the robot's sensors through a checkpoint shares: the perception
node (one host: sensors in, scene out) and the edge encoder node (sensors in, latents out).

:class:`SensorInputsConfig` is the part of their parameters that says which checkpoint, where
the camera and lidar are mounted (a parameter or /tf), and how sensor messages are received and
checked; :func:`open_model` loads the checkpoint and resolves the mounts at configure;
:func:`subscribe_sensors` subscribes to the streams the model's modalities read.
"""

from __future__ import annotations

from dataclasses import dataclass, field, make_dataclass

from .. import conversions as cv
from ..core.camera import optical_to_pose
from ..core.config import ConfigError, param
from ..core.model.checkpoint import CheckpointError, load_checkpoint, resolve
from ..core.model.modalities import sensors
from ..core.model.runtime import PlacementConfig
from ..core.perception.pipeline import CameraMount, LidarMount, PipelineConfig
from ..core.perception.text_cache import file_sha256
from ..streams import BASE_FRAME, BY_KEY, SENSOR_STREAMS
from .common import QOS_CHOICES, qos_for


def input_streams(model_names, annotators: bool = True) -> list[str]:
    """Stream keys read for the modalities ``model_names``: every stream of those modalities,
    and (``annotators``) of the modalities that annotate objects (thermal) whether or not the
    model fuses them, plus the CameraInfo streams their windows read (the camera's intrinsics)."""
    used = [m for m in sensors() if m.name in model_names or annotators and m.annotate is not None]
    return [s.key for m in used for s in m.streams] + [k for m in used
                                                       for k in getattr(m.window, "info", ())]


# frames.<stream>: the frame id each sensor stream must carry (its modality file's default; ""
# accepts any, as joint states carry none).
Frames = make_dataclass("Frames", [
    (s.key, str, param(s.frame_id, f"{s.topic}: required header.frame_id ('' = any)"))
    for s in SENSOR_STREAMS],
    namespace={"__module__": __name__,
               "__doc__": "The header.frame_id every sensor stream must carry ('' = any)."})


@dataclass
class SensorInputsConfig:
    checkpoint: str = param("omni_small.pt", "model checkpoint: a name in the package's models/ "
                            "or an absolute path")
    frame_id: str = param(BASE_FRAME, "frame of the published objects (the model's base frame)")
    qos: str = param("sensor_data", "QoS of the sensor subscriptions", choices=QOS_CHOICES)
    torch_threads: int = param(1, "CPU threads torch may use", min=1, max=64)
    autostart: bool = param(True, "configure and activate on start (else wait for lifecycle "
                            "transitions)")
    camera: CameraMount = field(default_factory=CameraMount)
    lidar: LidarMount = field(default_factory=LidarMount)
    tf_timeout_s: float = param(5.0, "how long configure waits for a /tf mount (from_tf) [s]",
                                min=0.1, max=120.0)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    placement: PlacementConfig = field(default_factory=PlacementConfig)
    limits: cv.InputLimits = field(default_factory=cv.InputLimits)
    frames: Frames = field(default_factory=Frames)


def autostart(node) -> None:
    """With ``node.cfg.autostart``: configure and activate the lifecycle ``node`` now; a failed
    configure makes it finish (``node.done``) with exit code 1 (see ``spin_node``)."""
    from rclpy.lifecycle import TransitionCallbackReturn

    node.done, node.exit_code = False, 0
    if node.cfg.autostart:
        if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            node.done, node.exit_code = True, 1
        else:
            node.trigger_activate()


def open_model(node, cfg: SensorInputsConfig):
    """Load ``cfg.checkpoint`` (each encoder placed as ``cfg.placement`` says, torch on
    ``cfg.torch_threads`` threads) and resolve the camera and lidar mounts; returns (model,
    mounts, sha256 of the checkpoint file), or None after logging why not (configure then
    fails)."""
    import torch

    torch.set_num_threads(cfg.torch_threads)
    log = node.get_logger()
    try:
        model, _, _ = load_checkpoint(cfg.checkpoint, cfg.placement)
    except CheckpointError as err:
        log.error(f"cannot load checkpoint {cfg.checkpoint!r}: {err}")
        return None
    except ConfigError as err:  # a placement on a device this machine lacks
        log.error(f"cannot configure: {err}")
        return None
    for note in model.placement_notes:
        log.info(f"placement: {note}")
    try:
        mounts = {name: sensor_mount(node, cfg, name) for name in ("camera", "lidar")}
    except ConfigError as err:
        log.error(f"cannot configure: {err}")
        return None
    return model, mounts, file_sha256(resolve(cfg.checkpoint))


def sensor_mount(node, cfg: SensorInputsConfig, name: str) -> list[float]:
    """The mounting pose of the camera or lidar: its parameter, or /tf (``from_tf``)."""
    mount = getattr(cfg, name)
    if not mount.from_tf:
        return list(mount.pose)
    frame = getattr(cfg.frames, "color" if name == "camera" else "lidar")
    try:
        import tf2_ros
        from rclpy.duration import Duration
        from rclpy.time import Time
    except ImportError:
        raise ConfigError(f"{name}.from_tf: tf2_ros is not installed (a pip install has no "
                          f"/tf); set {name}.pose instead") from None
    buffer = tf2_ros.Buffer()
    listener = tf2_ros.TransformListener(buffer, node, spin_thread=True)
    try:
        t = buffer.lookup_transform(cfg.frame_id, frame, Time(),
                                    timeout=Duration(seconds=cfg.tf_timeout_s)).transform
    except Exception as err:  # tf2's LookupException, TimeoutException, ...
        raise ConfigError(f"{name}.from_tf: no transform {cfg.frame_id} -> {frame} on /tf "
                          f"within {cfg.tf_timeout_s:g} s ({err})") from None
    finally:
        listener.unregister()
    from scipy.spatial.transform import Rotation
    position = [t.translation.x, t.translation.y, t.translation.z]
    rotation = Rotation.from_quat([t.rotation.x, t.rotation.y, t.rotation.z, t.rotation.w]).as_matrix()
    if name == "camera":  # the optical frame's pose -> the body frame's
        return optical_to_pose(position, rotation)
    return [*position, *Rotation.from_matrix(rotation).as_euler("xyz")]


def subscribe_sensors(guard, cfg: SensorInputsConfig, modalities, callback,
                      annotators: bool = True) -> list[str]:
    """Subscribe ``guard`` (:class:`GuardedInputs`) to every stream ``modalities`` read (see
    :func:`input_streams`), each checked against ``cfg.limits`` and ``cfg.frames``; ``callback(key,
    value, msg)`` gets the decoded reading. Returns the stream keys."""
    keys = input_streams(modalities, annotators)
    for key in keys:
        s = BY_KEY[key]
        check = cv.checker(s.codec or "camera_info", cfg.limits, getattr(cfg.frames, key))
        guard.subscribe(key, s.msg_type, s.topic, s.decode, callback, qos_for(cfg.qos),
                        check=check)
    return keys
