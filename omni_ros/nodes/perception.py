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
Settable while it runs (``ros2 param set``, validated like the config; the rest is read-only):
``pipeline.max_age.*``, the other ``pipeline.*`` thresholds, ``command_rate_hz``,
``command_burst`` and ``diagnostics.*`` (rates windowed against ``diagnostics.nominal_hz.*``).
"""

from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from omni_ros_msgs.msg import SceneUnderstanding, TeleopCommand
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from visualization_msgs.msg import MarkerArray

from omni_ros_msgs.msg import LatentStamped

from .. import conversions as cv
from ..core.config import ConfigError, param
from ..core.errors import InputError
from ..core.health import RateLimiter
from ..core.model.checkpoint import resolve
from ..core.model.modalities import sensors
from ..core.perception.commands import apply_command
from ..core.perception.pipeline import Perception, SyncPerception, scene_problems
from .common import RELIABLE_QOS, GuardedInputs, spin_node
from .diagnostics_config import DiagnosticsConfig
from .params import declare_config
from .sensor_inputs import SensorInputsConfig, autostart, open_model, subscribe_sensors


# latent_inputs: the modalities a fusion (region) node takes from edge encoder nodes
LATENT_CHOICES = ("all", *(m.name for m in sensors()))


@dataclass
class PerceptionConfig(SensorInputsConfig):
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
    latent_inputs: list[str] = param([], "async: modalities whose latents come from edge encoder "
                                     "nodes on /omni/latent/<modality> (the tiered graph) instead "
                                     "of their sensor topics; 'all' = every modality the "
                                     "checkpoint fuses", choices=LATENT_CHOICES)
    slop: float = param(0.05, "sync: largest stamp spread within one set [s]", min=0.001, max=5.0)
    queue_size: int = param(10, "sync: messages kept per input", min=1, max=1000)
    warm_text_cache: bool = param(True, "at configure, encode the text latent of every object "
                                  "description a command can carry (or read them from the file "
                                  "kept beside the checkpoint), so the first command is grounded "
                                  "as fast as the hundredth")
    command_rate_hz: float = param(5.0, "operator commands accepted per second and source on "
                                   "average (a stop always passes)", min=0.1, max=1000.0,
                                   runtime=True)
    command_burst: int = param(10, "operator commands a source may send at once", min=1, max=1000,
                               runtime=True)
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)


class PerceptionNode(LifecycleNode):
    NAME, CONFIG = "perception", PerceptionConfig  # (the fusion node: its latent_inputs default)

    def __init__(self, **kwargs):
        super().__init__(self.NAME, **kwargs)
        # runtime parameters (pipeline.max_age.*, ...) change self.cfg in place: the pipeline
        # reads its config (self.cfg.pipeline) at every use
        self.cfg = declare_config(self, self.CONFIG, runtime=True, on_change=self._on_params)
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
        autostart(self)

    # --- lifecycle ------------------------------------------------------------------------------
    def on_configure(self, state) -> TransitionCallbackReturn:
        cfg = self.cfg
        opened = open_model(self, cfg)
        if opened is None:
            return TransitionCallbackReturn.FAILURE
        model, mounts, sha256 = opened
        try:
            remote = self._latent_inputs(model.names)
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
                                   threaded=cfg.encoder_threads, remote=remote)
        else:
            self.pipe = Perception(model, cfg.pipeline, mounts, remote=remote)
        self.pipe.checkpoint_sha256 = sha256
        if cfg.warm_text_cache:
            t0 = time.perf_counter()
            source = self.pipe.warm_text(str(resolve(cfg.checkpoint)))
            self.get_logger().info(f"text latents of {len(self.pipe.text_cache.latents)} command "
                                   f"descriptions: {source} in "
                                   f"{(time.perf_counter() - t0) * 1e3:.0f} ms")
        # lifecycle publishers: they publish only while the node is active
        self.scene_pub = self.create_lifecycle_publisher(SceneUnderstanding, "/omni/scene", 10)
        self.marker_pub = self.create_lifecycle_publisher(MarkerArray, "/omni/scene_markers", 10)
        self.guard = GuardedInputs(self, diagnostics=cfg.diagnostics)
        self.guard.extra_statuses = self._pipeline_status
        subscribe_sensors(self.guard, cfg, [n for n in model.names if n not in remote],
                          self._on_sensor)
        for name in remote:  # the tiered graph: this modality's latent from its edge encoder
            self.guard.subscribe(f"latent/{name}", LatentStamped, f"/omni/latent/{name}",
                                 cv.msg_to_latent, self._on_latent, RELIABLE_QOS,
                                 check=cv.latent_checker(model.cfg.latent_dim))
        self.guard.subscribe("teleop", TeleopCommand, "/omni/teleop", cv.msg_to_command,
                             self._on_command, RELIABLE_QOS)
        self.command_limit = RateLimiter(cfg.command_rate_hz, cfg.command_burst)
        params = sum(p.numel() for p in model.parameters())
        self.get_logger().info(f"configured: {cfg.checkpoint} ({params / 1e6:.2f} M parameters), "
                               f"mode {cfg.mode}"
                               + (f" at {cfg.fuse_rate:g} Hz, encoder threads: "
                                  f"{self.pipe.workers.names if self.pipe.workers else 'none'}"
                                  if cfg.mode == "async" else "")
                               + f", modalities {self.pipe.names}"
                               + (f" (latents from edge encoders: {', '.join(remote)})"
                                  if remote else "")
                               + f", camera at {np.round(mounts['camera'], 3).tolist()}, lidar at "
                               f"{np.round(mounts['lidar'], 3).tolist()} (x y z roll pitch yaw)")
        return TransitionCallbackReturn.SUCCESS

    def _on_params(self, changed: dict) -> None:
        """Runtime parameters accepted (already in self.cfg): update what holds copies."""
        if getattr(self, "command_limit", None) is not None:
            self.command_limit.configure(self.cfg.command_rate_hz, self.cfg.command_burst)

    def _latent_inputs(self, names: list[str]) -> list[str]:
        """``latent_inputs`` resolved against the model's modalities ('all' = every one)."""
        wanted = self.cfg.latent_inputs
        if not wanted:
            return []
        if self.cfg.mode == "sync":
            raise ConfigError("latent_inputs: the tiered graph fuses in async mode only (mode: "
                              "async)")
        if "all" in wanted:
            return list(names)
        other = [n for n in wanted if n not in names]
        if other:
            raise ConfigError(f"latent_inputs: {', '.join(other)} not fused by "
                              f"{self.cfg.checkpoint} (it fuses {', '.join(names)})")
        return [n for n in names if n in wanted]

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
        self._arrived(self.pipe.push(key, stamp, value, self._now()))

    def _on_latent(self, key: str, latent, msg) -> None:
        """A modality's latent from its edge encoder (the tiered graph); a latent of another
        checkpoint, width or modality raises InputError, which the guard counts."""
        if self.pipe is not None:
            self._arrived(self.pipe.receive(latent, self._now()))

    def _arrived(self, updated: str | None) -> None:
        """Fuse on arrival of a new latent once a fusion period has passed."""
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
        return [DiagnosticStatus(level=level, name=f"{self.get_name()}: pipeline",
                                 hardware_id=self.get_name(),
                                 message="all modalities fresh" if not missing
                                 else f"absent: {', '.join(missing)}",
                                 values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])]


def main(args=None) -> int:
    return spin_node(PerceptionNode, args)


if __name__ == "__main__":
    sys.exit(main())
