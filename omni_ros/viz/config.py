"""Parameters of the viewer node (``omni-ros viz``, ``omni-ros up --viz``): ports, what to
serve, and the bandwidth caps per stream (the caps are settable at run time; ports, addresses
and what is served need a restart)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.config import ConfigError, param


@dataclass
class StreamRates:
    """Most messages per second (wall clock) forwarded per stream; 0 = every message.
    Commands and task status are never capped (each one matters and they are rare). Settable
    at run time (``ros2 param set /viz max_rate_hz.color 2.0``), as the other caps."""

    color: float = param(10.0, "camera colour images [Hz]", min=0.0, max=1000.0, runtime=True)
    depth: float = param(5.0, "camera depth images [Hz]", min=0.0, max=1000.0, runtime=True)
    thermal: float = param(5.0, "thermal images [Hz]", min=0.0, max=1000.0, runtime=True)
    lidar: float = param(5.0, "lidar clouds [Hz]", min=0.0, max=1000.0, runtime=True)
    scene: float = param(10.0, "/omni/scene (objects, target, gates, contributions) [Hz]",
                         min=0.0, max=1000.0, runtime=True)


@dataclass
class VizConfig:
    rerun: bool = param(True, "serve the rerun web viewer (gRPC stream + web page)")
    grpc_port: int = param(9876, "rerun gRPC port the web viewer reads the stream from",
                           min=1, max=65535)
    web_port: int = param(9090, "rerun web viewer's HTTP port (the page a browser opens)",
                          min=1, max=65535)
    memory_limit: str = param("256MiB", "rerun server's buffer for late-joining viewers; "
                              "oldest data dropped past it (e.g. 256MiB, 1GiB)")
    foxglove: bool = param(True, "serve the Foxglove WebSocket protocol (ROS messages as CDR)")
    foxglove_host: str = param("127.0.0.1", "address the Foxglove server binds "
                               "(0.0.0.0 = every interface)")
    foxglove_port: int = param(8765, "Foxglove WebSocket port", min=1, max=65535)
    max_rate_hz: StreamRates = field(default_factory=StreamRates)
    image_downscale: int = param(1, "keep every n-th pixel of images in both axes (1 = full "
                                 "size)", min=1, max=16, runtime=True)
    lidar_max_points: int = param(2048, "most lidar points per cloud sent (evenly thinned; "
                                  "0 = all)", min=0, max=10_000_000, runtime=True)
    lidar_pose: list[float] = param([0.5, -0.55, 0.45, 0.0, 0.0, 0.0],
                                    "lidar mounting pose in the base frame [x, y, z m, roll, "
                                    "pitch, yaw rad] (the sim's), to draw the cloud with the "
                                    "objects")

    def check(self) -> None:
        if len(self.lidar_pose) != 6:
            raise ConfigError(f"parameter 'lidar_pose' must have 6 numbers [x, y, z, roll, "
                              f"pitch, yaw], got {len(self.lidar_pose)}")
        if self.rerun and self.grpc_port == self.web_port:
            raise ConfigError(f"parameters 'grpc_port' and 'web_port' must differ (both "
                              f"{self.web_port})")
