"""What the viewer shows in rerun, from decoded streams (numpy and core types; no ROS).

Entity paths (the blueprint lays them out): ``camera/color``, ``camera/depth``,
``thermal/image`` (2D views); ``world/objects`` (boxes, labelled, the target highlighted),
``world/target_point``, ``world/lidar/cloud`` (the base frame ``panda_link0``, REP 103: x forward,
y left, z up, metres; the cloud drawn through the lidar's mounting pose); ``gates/<modality>``
and ``contributions/<modality>`` (time series); ``log/commands`` (heard commands),
``log/task`` (task status), ``log/events`` (scene events). Time: the ``sim_time`` timeline is
each message's header stamp [s] (sim time under ``--sim``).
"""

from __future__ import annotations

from urllib.parse import quote

import numpy as np
import rerun as rr
import rerun.blueprint as rrb

from ..core.camera import pose_matrix
from ..core.types import OperatorCommand, SceneState

TIMELINE = "sim_time"
TARGET_RGB = (255, 200, 0)
# The 3D view's initial eye: behind the table, above, looking at the workspace [m, base frame].
EYE_M, LOOK_AT_M = (1.3, 0.45, 0.8), (0.45, 0.0, 0.05)
COLOURS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (50, 90, 230),
           "yellow": (230, 210, 40), "orange": (240, 140, 30), "purple": (150, 60, 200),
           "white": (235, 235, 235), "black": (40, 40, 40)}


def viewer_url(web_port: int, grpc_port: int, host: str = "127.0.0.1") -> str:
    """The page that opens the web viewer on this stream."""
    return (f"http://{host}:{web_port}/?url="
            + quote(f"rerun+http://{host}:{grpc_port}/proxy", safe=""))


def blueprint() -> rrb.Blueprint:
    return rrb.Blueprint(
        rrb.Horizontal(
            rrb.Vertical(rrb.Spatial3DView(
                name="scene (base frame)", origin="world",
                eye_controls=rrb.EyeControls3D(position=EYE_M, look_target=LOOK_AT_M,
                                               eye_up=(0.0, 0.0, 1.0))),
                         rrb.Horizontal(rrb.Spatial2DView(name="camera", origin="camera/color"),
                                        rrb.Spatial2DView(name="depth", origin="camera/depth"),
                                        rrb.Spatial2DView(name="thermal", origin="thermal"))),
            rrb.Vertical(rrb.TimeSeriesView(name="gate weights", origin="gates"),
                         rrb.TimeSeriesView(name="leave-one-out contributions",
                                            origin="contributions"),
                         rrb.TextLogView(name="commands, task, events", origin="log")),
            column_shares=[3, 2]),
        collapse_panels=True)


class RerunOut:
    """One rerun recording served to web viewers: a gRPC server (``grpc_port``; it buffers up to
    ``memory_limit`` for viewers that join late) and the web viewer's page (``web_port``),
    both from the rerun-sdk wheel, offline."""

    def __init__(self, grpc_port: int, web_port: int, memory_limit: str = "256MiB",
                 lidar_pose=(0.5, -0.55, 0.45, 0.0, 0.0, 0.0), application: str = "omni_ros"):
        self.rec = rr.RecordingStream(application)
        grpc_url = self.rec.serve_grpc(grpc_port=grpc_port, server_memory_limit=memory_limit,
                                       default_blueprint=blueprint())
        rr.serve_web_viewer(web_port=web_port, open_browser=False, connect_to=grpc_url)
        self.url = viewer_url(web_port, grpc_port)
        m = pose_matrix(list(lidar_pose))
        self.rec.log("world/lidar", rr.Transform3D(translation=m[:3, 3], mat3x3=m[:3, :3]),
                     static=True)
        self.rec.log("world", rr.ViewCoordinates.RIGHT_HAND_Z_UP, static=True)
        self._modalities: set[str] = set()

    def _time(self, stamp_ns: int) -> None:
        self.rec.set_time(TIMELINE, duration=stamp_ns * 1e-9)

    def image(self, path: str, stamp_ns: int, rgb: np.ndarray) -> None:
        """An H x W x 3 uint8 RGB image."""
        self._time(stamp_ns)
        self.rec.log(path, rr.Image(rgb))

    def depth(self, path: str, stamp_ns: int, metres: np.ndarray) -> None:
        """An H x W float depth image [m] (NaN / 0 = no return)."""
        self._time(stamp_ns)
        self.rec.log(path, rr.DepthImage(np.nan_to_num(metres.astype(np.float32)), meter=1.0))

    def thermal(self, path: str, stamp_ns: int, image: np.ndarray) -> None:
        """A thermal image (any numeric type), drawn with a colormap."""
        self._time(stamp_ns)
        self.rec.log(path, rr.DepthImage(image.astype(np.float32), colormap="inferno"))

    def cloud(self, stamp_ns: int, xyz: np.ndarray) -> None:
        """N x 3 points [m] in the lidar frame; non-finite rows dropped."""
        self._time(stamp_ns)
        xyz = xyz[np.isfinite(xyz).all(axis=1)]
        self.rec.log("world/lidar/cloud", rr.Points3D(xyz, radii=0.004, colors=(120, 170, 220)))

    def scene(self, s: SceneState) -> None:
        """Objects (boxes with id / shape / colour labels, the target in yellow), the target
        point, gate weights and leave-one-out contributions per modality, scene events."""
        self._time(s.stamp_ns)
        if s.objects:
            labels = [o.id if o.shape and o.shape in o.id else f"{o.id} {o.color} {o.shape}"
                      .strip() for o in s.objects]
            colors = [TARGET_RGB if o.id == s.target_object_id and o.id
                      else COLOURS.get(o.color, (160, 160, 160)) for o in s.objects]
            self.rec.log("world/objects", rr.Boxes3D(
                centers=[o.position for o in s.objects],
                half_sizes=[np.maximum(np.asarray(o.size, float), 1e-3) / 2 for o in s.objects],
                quaternions=[rr.Quaternion(xyzw=o.orientation) for o in s.objects],
                colors=colors, labels=labels))
        else:
            self.rec.log("world/objects", rr.Clear(recursive=False))
        if s.target_point is not None:
            self.rec.log("world/target_point", rr.Points3D([s.target_point], radii=0.012,
                                                           colors=TARGET_RGB, labels="target"))
        else:
            self.rec.log("world/target_point", rr.Clear(recursive=False))
        for i, m in enumerate(s.modalities):
            self.rec.log(f"gates/{m}", rr.Scalars(float(s.gate_weights[i])))
            if i < len(s.contributions):
                self.rec.log(f"contributions/{m}", rr.Scalars(float(s.contributions[i])))
        for ev in s.events:
            text = " ".join(w for w in (ev.kind, ev.object_id, f"magnitude {ev.magnitude:.3g}")
                            if w)
            self.rec.log("log/events", rr.TextLog(text, level="INFO"))

    def command(self, c: OperatorCommand) -> None:
        self._time(c.stamp_ns)
        where = "" if c.point is None else " at (%.2f, %.2f, %.2f)" % tuple(c.point[:3])
        self.rec.log("log/commands", rr.TextLog(
            f"heard ({c.source}, {c.confidence:.2f}): {c.raw_text!r} -> {c.intent} "
            f"{c.target_description}{where}", level="INFO"))

    def task(self, stamp_ns: int, state: str, command: str, primitive: str, step: int,
             steps: int, reason: str) -> None:
        self._time(stamp_ns)
        level = {"failed": "ERROR", "rejected": "WARN", "stopped": "WARN"}.get(state, "INFO")
        text = f"task {state}: {command!r}"
        if primitive:
            text += f" [{step}/{steps} {primitive}]"
        if reason:
            text += f" ({reason})"
        self.rec.log("log/task", rr.TextLog(text, level=level))

    def close(self) -> None:
        self.rec.flush()
        self.rec.disconnect()
