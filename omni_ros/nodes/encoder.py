"""encoder: the edge tier of the tiered graph - one or more modalities' sensor topics in, their
latents out on /omni/latent/<modality> (lifecycle node).

The edge does what needs the raw data: each message is checked and converted, pushed into the
modality's input window (the same windows perception and the dataset use), and every ready
window is encoded by the checkpoint's encoder for that modality. It publishes
``omni_ros_msgs/LatentStamped``: the latent, the stamp of the data it encodes
(``source_stamp``), the checkpoint file's sha256 (``encoder_version``; the fusion node refuses
another checkpoint's latents) and what only the raw data can give: the camera's detected
objects (object head + depth, placed with CameraInfo and ``camera.pose``) and the lidar's
clusters (the object memory's confirmation when the camera stops), in ``frame_id``.

A few hundred bytes to a few KB per latent replace megabytes of images and clouds: the region's
``fusion`` node (perception with ``latent_inputs``) fuses, grounds commands and publishes
/omni/scene. Run one encoder per modality or one per sensor host (``modalities``); all of them
and the fusion node must load the same checkpoint file. With ``autostart`` (default) the node
configures and activates itself.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from omni_ros_msgs.msg import LatentStamped
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn

from .. import conversions as cv
from ..core.config import ConfigError, param
from ..core.model.modalities import sensors
from ..core.perception.pipeline import Perception
from .common import RELIABLE_QOS, GuardedInputs, spin_node
from .diagnostics_config import DiagnosticsConfig
from .params import declare_config
from .sensor_inputs import SensorInputsConfig, autostart, open_model, subscribe_sensors


@dataclass
class EncoderConfig(SensorInputsConfig):
    modalities: list[str] = param([], "modalities encoded here (their sensor topics in, "
                                  "/omni/latent/<modality> out); [] = every modality the "
                                  "checkpoint fuses", choices=tuple(m.name for m in sensors()))
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)


class EncoderNode(LifecycleNode):
    def __init__(self, **kwargs):
        super().__init__("encoder", **kwargs)
        self.cfg = declare_config(self, EncoderConfig, runtime=True)  # (changes in place)
        self.pipe: Perception | None = None
        self.active = False
        self.published: dict[str, int] = {}
        autostart(self)

    def on_configure(self, state) -> TransitionCallbackReturn:
        cfg = self.cfg
        opened = open_model(self, cfg)
        if opened is None:
            return TransitionCallbackReturn.FAILURE
        model, mounts, sha256 = opened
        names = cfg.modalities or list(model.names)
        other = [n for n in names if n not in model.names]
        if other:
            self.get_logger().error(str(ConfigError(
                f"parameter 'modalities': {', '.join(other)} not fused by {cfg.checkpoint} "
                f"(it fuses {', '.join(model.names)})")))
            return TransitionCallbackReturn.FAILURE
        self.names = names
        self.pipe = Perception(model, cfg.pipeline, mounts)
        self.pipe.checkpoint_sha256 = sha256
        self.pubs = {n: self.create_lifecycle_publisher(LatentStamped, f"/omni/latent/{n}",
                                                        RELIABLE_QOS) for n in names}
        self.published = {n: 0 for n in names}
        self.encode_ms = {n: float("nan") for n in names}
        self.guard = GuardedInputs(self, diagnostics=cfg.diagnostics)
        self.guard.extra_statuses = self._status
        keys = subscribe_sensors(self.guard, cfg, names, self._on_sensor, annotators=False)
        self.get_logger().info(f"configured: {cfg.checkpoint} (sha256 {sha256[:12]}...), "
                               f"encoding {', '.join(names)} from {len(keys)} streams into "
                               + ", ".join(f"/omni/latent/{n}" for n in names))
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state) -> TransitionCallbackReturn:
        super().on_activate(state)  # enables the lifecycle publishers
        self.active = True
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        super().on_deactivate(state)
        self.active = False
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        """Undo exactly what on_configure made: subscriptions, diagnostics, publishers, model."""
        self.guard.close()
        for pub in self.pubs.values():
            self.destroy_lifecycle_publisher(pub)
        self.guard = self.pipe = None
        self.pubs = {}
        return TransitionCallbackReturn.SUCCESS

    def _on_sensor(self, key: str, value, msg) -> None:
        """Push one reading into its window; a ready window is encoded and its latent published
        (while active). A bad stamp or reading raises InputError, which the guard counts."""
        if self.pipe is None:
            return
        now = self.get_clock().now().nanoseconds
        t0 = time.perf_counter()
        name = self.pipe.push(key, cv.stamp_to_ns(msg.header.stamp), value, now)
        if name is None or name not in self.pubs:
            return
        self.encode_ms[name] = (time.perf_counter() - t0) * 1e3
        if self.active:  # stamped when computed (after encoding)
            now = self.get_clock().now().nanoseconds
            self.pubs[name].publish(cv.latent_to_msg(self.pipe.latent(name, now, self.cfg.frame_id)))
            self.published[name] += 1

    def _status(self) -> list[DiagnosticStatus]:
        if self.pipe is None:
            return []
        values = {f"{n}.{k}": v for n in self.names for k, v in
                  (("published", self.published[n]), ("encode_ms", f"{self.encode_ms[n]:.2f}"))}
        values["checkpoint_sha256"] = self.pipe.checkpoint_sha256
        return [DiagnosticStatus(level=DiagnosticStatus.OK, name=f"{self.get_name()}: encoder",
                                 hardware_id=self.get_name(),
                                 message=f"encoding {', '.join(self.names)}",
                                 values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])]


def main(args=None) -> int:
    return spin_node(EncoderNode, args)


if __name__ == "__main__":
    sys.exit(main())
