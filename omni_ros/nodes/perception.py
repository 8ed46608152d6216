"""perception: every sensor topic in, fused scene understanding out (lifecycle node).

on_configure loads the checkpoint (each modality's encoder placed as ``placement`` says),
encodes the text latents of every command description once (``warm_text_cache``) and
subscribes; on_activate starts publishing. Asynchronous mode (``mode: async``, default): each
callback converts its message and hands it to its modality's window; a ready window is encoded
into the per-modality latent cache - on a worker thread for the modalities in
``encoder_threads`` (a guard condition brings the result back to the executor thread), in the
callback for the others; at ``fuse_rate`` the freshest latents are fused (a modality older
than ``pipeline.max_age.<modality>`` is absent: gate 0) and /omni/scene and /omni/scene_markers
published - right after an input is encoded once a fusion period has passed
(``fuse_on_arrival``, the lowest latency), and by a timer when inputs go quiet. ``mode: sync`` is the ApproximateTime baseline (one message per input
within ``slop``, then encode everything and fuse). Operator commands on /omni/teleop are
grounded (text latent + clicked point) into the scene's target. /diagnostics: per-input rate,
age and rejected-message counts with reasons, plus the pipeline's gates and timings.
With ``autostart`` (default) the node configures and activates itself.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass, field, make_dataclass

import numpy as np
import torch
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from omni_ros_msgs.msg import SceneUnderstanding, TeleopCommand
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from visualization_msgs.msg import MarkerArray

from .. import conversions as cv
from ..core.model.checkpoint import CheckpointError, load_checkpoint, resolve
from ..core.model.runtime import PlacementConfig
from ..core.perception.commands import apply_command
from ..core.errors import InputError
from ..core.health import RateLimiter
from ..core.camera import optical_to_pose
from ..core.config import ConfigError, param
from ..core.perception.pipeline import (CameraMount, LidarMount, Perception, PipelineConfig,
                                        SyncPerception, scene_problems)
from ..core.model.modalities import sensors
from ..streams import BASE_FRAME, BY_KEY, SENSOR_STREAMS
from .common import QOS_CHOICES, RELIABLE_QOS, GuardedInputs, qos_for, spin_node
from .params import declare_config



def input_streams(model_names) -> list[str]:
    """Stream keys perception subscribes to: every stream of the model's modalities, and of
    the modalities that annotate objects (thermal) whether or not the model fuses them, plus
    the CameraInfo streams their windows read (the camera's intrinsics)."""
    used = [m for m in sensors() if m.name in model_names or m.annotate is not None]
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
class PerceptionConfig:
    checkpoint: str = param("omni_small.pt", "model checkpoint: a name in the package's models/ "
                            "or an absolute path")
    mode: str = param("async", "fusion policy: async (latent cache + timer) or sync "
                      "(ApproximateTime baseline)", choices=("async", "sync"))
    fuse_rate: float = param(30.0, "async: fusion rate [Hz]", min=1.0, max=500.0)
    fuse_on_arrival: bool = param(True, "async: fuse right after encoding an input once a fusion "
                                  "period has passed (lower latency); the timer covers silence")
    parallel_encoders: bool = param(True, "async: encode each modality on a worker thread of its "
                                    "own, off the callback thread, so a slow camera frame never "
                                    "delays a wrench or tactile update (false: encode in the "
                                    "subscription callback)")
    encoder_threads: list[str] = param(["camera", "lidar", "thermal"],
                                       "parallel_encoders: the modalities that get a worker "
                                       "thread; the others (cheap to encode) are encoded in their "
                                       "callback", choices=tuple(m.name for m in sensors()))
    slop: float = param(0.05, "sync: largest stamp spread within one set [s]", min=0.001, max=5.0)
    queue_size: int = param(10, "sync: messages kept per input", min=1, max=1000)
    frame_id: str = param(BASE_FRAME, "frame of the published objects (the model's base frame)")
    qos: str = param("sensor_data", "QoS of the sensor subscriptions", choices=QOS_CHOICES)
    torch_threads: int = param(1, "CPU threads torch may use", min=1, max=64)
    warm_text_cache: bool = param(True, "at configure, encode the text latent of every object "
                                  "description a command can carry (or read them from the file "
                                  "kept beside the checkpoint), so the first command is grounded "
                                  "as fast as the hundredth")
    autostart: bool = param(True, "configure and activate on start (else wait for lifecycle "
                            "transitions)")
    command_rate_hz: float = param(5.0, "operator commands accepted per second and source on "
                                   "average (a stop always passes)", min=0.1, max=1000.0)
    command_burst: int = param(10, "operator commands a source may send at once", min=1, max=1000)
    camera: CameraMount = field(default_factory=CameraMount)
    lidar: LidarMount = field(default_factory=LidarMount)
    tf_timeout_s: float = param(5.0, "how long configure waits for a /tf mount (from_tf) [s]",
                                min=0.1, max=120.0)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    placement: PlacementConfig = field(default_factory=PlacementConfig)
    limits: cv.InputLimits = field(default_factory=cv.InputLimits)
    frames: Frames = field(default_factory=Frames)


class PerceptionNode(LifecycleNode):
    def __init__(self, **kwargs):
        super().__init__("perception", **kwargs)
        self.cfg = declare_config(self, PerceptionConfig)
        self.pipe: Perception | None = None
        self.wake = None  # guard condition of the encoder workers (async, parallel_encoders)
        self.active = False
        self.timer = None
        self.fuse_ms: list[float] = []
        self.last_fuse_ns = 0
        self.published = 0
        self.invalid_scenes = 0
        self.clock_jumps = 0
        self.last_now_ns = 0
        self.done = False
        self.exit_code = 0
        if self.cfg.autostart:
            if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                self.done, self.exit_code = True, 1
            else:
                self.trigger_activate()

    # --- lifecycle ------------------------------------------------------------------------------
    def on_configure(self, state) -> TransitionCallbackReturn:
        cfg = self.cfg
        torch.set_num_threads(cfg.torch_threads)
        try:
            model, _, _ = load_checkpoint(cfg.checkpoint, cfg.placement)
        except CheckpointError as err:
            self.get_logger().error(f"cannot load checkpoint {cfg.checkpoint!r}: {err}")
            return TransitionCallbackReturn.FAILURE
        except ConfigError as err:  # a placement on a device this machine lacks
            self.get_logger().error(f"cannot configure: {err}")
            return TransitionCallbackReturn.FAILURE
        for note in model.placement_notes:
            self.get_logger().info(f"placement: {note}")
        try:
            mounts = {name: self._mount(name) for name in ("camera", "lidar")}
        except ConfigError as err:
            self.get_logger().error(f"cannot configure: {err}")
            return TransitionCallbackReturn.FAILURE
        self.wake = None
        if cfg.mode == "sync":
            self.pipe = SyncPerception(model, cfg.pipeline, cfg.slop, cfg.queue_size, mounts)
        elif cfg.parallel_encoders:
            # workers report each encoded input here; the guard condition brings it to the
            # executor thread, where fusion runs (never concurrently with the windows' pushes)
            self.encoded_events: deque = deque(maxlen=1024)  # (drained at every wake-up)
            self.wake = self.create_guard_condition(self._on_encoded)
            self.pipe = Perception(model, cfg.pipeline, mounts, on_encoded=self._encoded,
                                   threaded=cfg.encoder_threads)
        else:
            self.pipe = Perception(model, cfg.pipeline, mounts)
        if cfg.warm_text_cache:
            t0 = time.perf_counter()
            source = self.pipe.warm_text(str(resolve(cfg.checkpoint)))
            self.get_logger().info(f"text latents of {len(self.pipe.text_cache.latents)} command "
                                   f"descriptions: {source} in "
                                   f"{(time.perf_counter() - t0) * 1e3:.0f} ms")
        # lifecycle publishers: they publish only while the node is active
        self.scene_pub = self.create_lifecycle_publisher(SceneUnderstanding, "/omni/scene", 10)
        self.marker_pub = self.create_lifecycle_publisher(MarkerArray, "/omni/scene_markers", 10)
        self.guard = GuardedInputs(self)
        self.guard.extra_statuses = self._pipeline_status
        for key in input_streams(model.names):
            s = BY_KEY[key]
            check = cv.checker(s.codec or "camera_info", cfg.limits, getattr(cfg.frames, key))
            self.guard.subscribe(key, s.msg_type, s.topic, s.decode, self._on_sensor,
                                 qos_for(cfg.qos), check=check)
        self.guard.subscribe("teleop", TeleopCommand, "/omni/teleop", cv.msg_to_command,
                             self._on_command, RELIABLE_QOS)
        self.command_limit = RateLimiter(cfg.command_rate_hz, cfg.command_burst)
        params = sum(p.numel() for p in model.parameters())
        self.get_logger().info(f"configured: {cfg.checkpoint} ({params / 1e6:.2f} M parameters), "
                               f"mode {cfg.mode}"
                               + (f" at {cfg.fuse_rate:g} Hz, encoder threads: "
                                  f"{self.pipe.workers.names if self.pipe.workers else 'none'}"
                                  if cfg.mode == "async" else "")
                               + f", modalities {self.pipe.names}, camera at "
                               f"{np.round(mounts['camera'], 3).tolist()}, lidar at "
                               f"{np.round(mounts['lidar'], 3).tolist()} (x y z roll pitch yaw)")
        return TransitionCallbackReturn.SUCCESS

    def _mount(self, name: str) -> list[float]:
        """The mounting pose of the camera or lidar: its parameter, or /tf (``from_tf``)."""
        mount = getattr(self.cfg, name)
        if not mount.from_tf:
            return list(mount.pose)
        frame = getattr(self.cfg.frames, "color" if name == "camera" else "lidar")
        try:
            import tf2_ros
            from rclpy.duration import Duration
            from rclpy.time import Time
        except ImportError:
            raise ConfigError(f"{name}.from_tf: tf2_ros is not installed (a pip install has no "
                              f"/tf); set {name}.pose instead") from None
        buffer = tf2_ros.Buffer()
        listener = tf2_ros.TransformListener(buffer, self, spin_thread=True)
        try:
            t = buffer.lookup_transform(self.cfg.frame_id, frame, Time(),
                                        timeout=Duration(seconds=self.cfg.tf_timeout_s)).transform
        except Exception as err:  # tf2's LookupException, TimeoutException, ...
            raise ConfigError(f"{name}.from_tf: no transform {self.cfg.frame_id} -> {frame} on /tf "
                              f"within {self.cfg.tf_timeout_s:g} s ({err})") from None
        finally:
            listener.unregister()
        from scipy.spatial.transform import Rotation
        position = [t.translation.x, t.translation.y, t.translation.z]
        rotation = Rotation.from_quat([t.rotation.x, t.rotation.y, t.rotation.z, t.rotation.w]).as_matrix()
        if name == "camera":  # the optical frame's pose -> the body frame's
            return optical_to_pose(position, rotation)
        return [*position, *Rotation.from_matrix(rotation).as_euler("xyz")]

    def on_activate(self, state) -> TransitionCallbackReturn:
        super().on_activate(state)  # enables the lifecycle publishers
        self.active = True
        if self.cfg.mode == "async":
            self.period_ns = int(1e9 / self.cfg.fuse_rate)
            self.timer = self.create_timer(1.0 / self.cfg.fuse_rate, self._on_timer)
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        super().on_deactivate(state)
        self.active = False
        if self.timer is not None:
            self.destroy_timer(self.timer)
            self.timer = None
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        """Undo exactly what on_configure made: subscriptions, diagnostics, publishers, model,
        encoder workers and their guard condition."""
        self.pipe.close()
        if self.wake is not None:
            self.destroy_guard_condition(self.wake)
            self.wake = None
        self.guard.close()
        self.destroy_lifecycle_publisher(self.scene_pub)
        self.destroy_lifecycle_publisher(self.marker_pub)
        self.guard = self.scene_pub = self.marker_pub = self.pipe = None
        return TransitionCallbackReturn.SUCCESS

    # --- callbacks ------------------------------------------------------------------------------
    def _now(self) -> int:
        """The node's clock [ns]. When it goes back (the sim's world was reset: /clock
        restarted) the pipeline starts over, target included; logged and counted."""
        now = self.get_clock().now().nanoseconds
        if now < self.last_now_ns and self.pipe is not None:
            self.clock_jumps += 1
            self.get_logger().warning(f"the clock jumped back {(self.last_now_ns - now) / 1e9:.3f} s "
                                      "(world reset): perception starts over")
            self.pipe.reset()
            self.last_fuse_ns = 0
        self.last_now_ns = now
        return now

    def _on_sensor(self, key: str, value, msg) -> None:
        """Hand one decoded reading to the pipeline; a stamp too far from the clock or a
        reading the model cannot read raises InputError, which the guard counts."""
        if self.pipe is None:  # cleaned up
            return
        stamp = cv.stamp_to_ns(msg.header.stamp)
        if self.cfg.mode == "sync":
            scene = self.pipe.push_sync(key, stamp, value, self._now)
            if scene is not None and self.active:
                self._publish(scene)
            return
        updated = self.pipe.push(key, stamp, value, self._now())
        if updated and self.active and self.cfg.fuse_on_arrival:
            # Slightly early (3 %) so that timer jitter does not skip a period.
            if self._now() - self.last_fuse_ns >= 0.97 * self.period_ns:
                self._fuse()

    def _encoded(self, name: str, error: Exception | None) -> None:
        """(an encoder worker's thread) modality ``name`` was encoded, or failed: wake the
        executor."""
        self.encoded_events.append((name, error))
        self.wake.trigger()

    def _on_encoded(self) -> None:
        """(the executor's thread) count encoding failures; fuse on arrival as in the callbacks."""
        updated = False
        while self.encoded_events:
            name, err = self.encoded_events.popleft()
            if err is None:
                updated = True
            elif self.guard is not None:
                self.guard.health.reject(name, self._now(), "encode", f"{type(err).__name__}: {err}")
                self.get_logger().error(f"{name}: input not encoded: {type(err).__name__}: {err}",
                                        throttle_duration_sec=5.0)
        if updated and self.active and self.cfg.fuse_on_arrival and self.pipe is not None:
            if self._now() - self.last_fuse_ns >= 0.97 * self.period_ns:
                self._fuse()

    def destroy_node(self):
        if getattr(self, "pipe", None) is not None:  # (None too if __init__ failed early)
            self.pipe.close()  # no worker may trigger a guard condition of a destroyed node
        return super().destroy_node()

    def _on_timer(self) -> None:
        if self._now() - self.last_fuse_ns >= 0.97 * self.period_ns or not self.cfg.fuse_on_arrival:
            self._fuse()

    def _fuse(self) -> None:
        t0 = time.perf_counter()
        self.last_fuse_ns = self._now()
        scene = self.pipe.fuse(self.last_fuse_ns, self.cfg.frame_id)
        if scene is not None:
            self.fuse_ms.append((time.perf_counter() - t0) * 1e3)
            self._publish(scene)

    def _publish(self, scene) -> None:
        # Stamp = publish time; ages and latency move with it, so stamp - age[i] is exactly the
        # stamp of modality i's newest input (fusing, and in sync mode encoding, included).
        problems = scene_problems(scene)
        if problems:  # never publish NaN or out-of-range numbers; say so
            self.invalid_scenes += 1
            self.get_logger().error(f"scene not published: {'; '.join(problems)}",
                                    throttle_duration_sec=5.0)
            return
        now = self._now()
        shift = (now - scene.stamp_ns) / 1e9
        scene.ages = [a + shift if a >= 0 else a for a in scene.ages]
        scene.pipeline_latency += shift
        scene.frame_id = self.cfg.frame_id
        scene.stamp_ns = now
        self.scene_pub.publish(cv.scene_to_msg(scene))
        self.marker_pub.publish(cv.scene_markers(scene))
        if self.published == 0:
            have = [m for m, p in zip(scene.modalities, scene.present) if p]
            self.get_logger().info(f"first /omni/scene published (present: {', '.join(have)})")
        self.published += 1

    def _on_command(self, key: str, cmd, msg) -> None:
        if self.pipe is None:
            return
        self.command_limit.require(cmd.source, self._now(), exempt=cmd.intent == "stop")
        out = apply_command(self.pipe, cmd, self._now(), self.cfg.frame_id)
        if out.action == "rejected":
            raise InputError("point.header.frame_id", out.detail)
        if out.action == "refused":
            self.guard.health.reject("grounding", self._now(), "not_in_view", out.detail)
            self.get_logger().warning(f"command {cmd.raw_text!r} refused: {out.detail}")
        elif out.action == "target":
            self.get_logger().info(f"command {cmd.raw_text!r}: target {out.detail or '(none)'}")

    def _pipeline_status(self) -> list[DiagnosticStatus]:
        if self.pipe is None:
            return []
        now = self._now()
        fresh = self.pipe.fresh(now)
        values = {"mode": self.cfg.mode, "published": self.published,
                  "invalid_scenes": self.invalid_scenes, "clock_jumps": self.clock_jumps,
                  "camera_frames_without_camera_info": self.pipe.assumed_intrinsics,
                  "fuse_ms_p50": f"{np.median(self.fuse_ms[-300:]):.2f}" if self.fuse_ms else "nan"}
        for n, a, f in zip(self.pipe.names, self.pipe.ages(now), fresh):
            c = self.pipe.cache.get(n)
            values[f"{n}.age_s"] = f"{a:.3f}"
            values[f"{n}.present"] = str(f)
            values[f"{n}.encode_ms"] = f"{c.encode_ms:.2f}" if c else "nan"
            if self.pipe.workers is not None and n in self.pipe.workers.names:
                # inputs skipped because a newer one came first
                values[f"{n}.superseded"] = self.pipe.workers.superseded[n]
        missing = [n for n, f in zip(self.pipe.names, fresh) if not f]
        level = DiagnosticStatus.OK if not missing else DiagnosticStatus.WARN
        return [DiagnosticStatus(level=level, name="perception: pipeline", hardware_id="perception",
                                 message="all modalities fresh" if not missing
                                 else f"absent: {', '.join(missing)}",
                                 values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])]


def main(args=None) -> int:
    return spin_node(PerceptionNode, args)


if __name__ == "__main__":
    sys.exit(main())
