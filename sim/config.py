"""Simulation configuration: one dataclass tree (the sim bridge's ROS parameters come from it).

Sensor rates must divide the physics rate so every sample falls on a physics step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from omni_ros.core.camera import CameraViewConfig
from omni_ros.core.config import ConfigError, param


def _check_rate(name: str, rate_hz: float, physics_hz: int) -> None:
    steps = physics_hz / rate_hz
    if abs(steps - round(steps)) > 1e-9:
        raise ConfigError(f"parameter '{name}' = {rate_hz}: must divide the physics rate "
                          f"{physics_hz} Hz (e.g. {', '.join(str(physics_hz // k) for k in (2, 3, 4, 8, 16, 24))})")


@dataclass
class CameraConfig(CameraViewConfig):
    """Static RGB-D camera (TinyRenderer). Noise: depth gets Gaussian noise with standard deviation
    ``depth_noise_m`` * z^2 (z in metres, as structured-light sensors); colour gets Gaussian noise
    of ``color_noise`` (0-255 scale), rounded and clipped."""

    rate_hz: float = param(15.0, "camera frame rate [Hz]", min=1.0, max=60.0)
    near: float = param(0.1, "near clip plane [m]", min=0.01, max=1.0)
    far: float = param(3.0, "far clip plane [m]; farther depth reads NaN", min=1.0, max=20.0)
    depth_noise_m: float = param(0.002, "depth noise std at 1 m [m] (scales with z^2)", min=0.0, max=0.1)
    color_noise: float = param(2.0, "colour noise std [0-255 levels]", min=0.0, max=50.0)


@dataclass
class ThermalConfig(CameraViewConfig):
    """Static long-wave infrared camera (TinyRenderer segmentation), beside the RGB camera. Each
    pixel sees one body at its surface temperature T [deg C]; apparent temperature =
    emissivity * T + (1 - emissivity) * ambient (reflected surroundings), then Gaussian optical
    blur of ``blur_sigma_px`` and Gaussian noise of ``noise_k`` (NETD). Output in centi-kelvin."""

    width: int = param(80, "image width [px]", min=16, max=640)
    height: int = param(60, "image height [px]", min=16, max=480)
    fov_deg: float = param(50.0, "vertical field of view [deg]", min=20.0, max=120.0)
    eye: list[float] = param([1.05, 0.06, 0.62], "camera position in the base frame [m] "
                             "(6 cm to the right of the RGB camera)")
    target: list[float] = param([0.45, 0.0, 0.0], "point the camera looks at [m]")
    enabled: bool = param(True, "render and publish thermal images")
    rate_hz: float = param(8.0, "thermal frame rate [Hz]", min=1.0, max=60.0)
    near: float = param(0.1, "near clip plane [m]", min=0.01, max=1.0)
    far: float = param(3.0, "far clip plane [m]; farther reads background_c", min=1.0, max=20.0)
    ambient_c: float = param(22.0, "ambient (reflected) temperature; bodies of unknown "
                             "temperature [deg C]", min=-40.0, max=100.0)
    emissivity: float = param(0.95, "emissivity of the objects", min=0.01, max=1.0)
    table_emissivity: float = param(0.9, "emissivity of the table", min=0.01, max=1.0)
    table_c: float = param(21.0, "table surface temperature [deg C]", min=-40.0, max=100.0)
    robot_c: float = param(30.0, "robot links' surface temperature [deg C]", min=-40.0, max=100.0)
    background_c: float = param(20.0, "apparent temperature where nothing is hit [deg C]",
                                min=-40.0, max=100.0)
    blur_sigma_px: float = param(0.6, "optical blur, Gaussian std [px]", min=0.0, max=10.0)
    noise_k: float = param(0.05, "per-pixel noise std (NETD) [K]", min=0.0, max=5.0)

    def check(self) -> None:
        if self.near >= self.far:
            raise ConfigError("parameter 'thermal.near' must be < thermal.far")


@dataclass
class LidarConfig:
    """Multi-ring scanning lidar (rayTestBatch). Points are in the lidar frame; rays that hit
    nothing within ``max_range`` are NaN. Noise: Gaussian range noise ``range_noise_m``.
    Intensity: 100 * surface brightness (mean RGB) / cos-free, plus the same relative noise."""

    rate_hz: float = param(10.0, "scan rate [Hz]", min=1.0, max=40.0)
    rings: int = param(16, "vertical channels", min=1, max=128)
    columns: int = param(180, "horizontal samples per ring", min=8, max=2048)
    elevation_min_deg: float = param(-55.0, "lowest ring elevation [deg]", min=-90.0, max=90.0)
    elevation_max_deg: float = param(-8.0, "highest ring elevation [deg]", min=-90.0, max=90.0)
    position: list[float] = param([0.5, -0.55, 0.45], "lidar origin in the base frame [m]")
    max_range: float = param(2.0, "maximum range [m]", min=0.1, max=100.0)
    range_noise_m: float = param(0.004, "range noise std [m]", min=0.0, max=0.5)

    def check(self) -> None:
        if self.rings * self.columns > 16383 * 8:
            raise ConfigError("parameter 'lidar.rings' x 'lidar.columns' too large (max 131064 rays)")
        if self.elevation_min_deg > self.elevation_max_deg:
            raise ConfigError("parameter 'lidar.elevation_min_deg' must be <= elevation_max_deg")


@dataclass
class WrenchConfig:
    """Wrist force/torque sensor at the hand flange. Noise: Gaussian, per axis."""

    rate_hz: float = param(120.0, "sample rate [Hz]", min=1.0, max=240.0)
    force_noise_n: float = param(0.05, "force noise std [N]", min=0.0, max=10.0)
    torque_noise_nm: float = param(0.002, "torque noise std [N*m]", min=0.0, max=1.0)


@dataclass
class TactileConfig:
    """One taxel grid on each finger pad. The normal contact force of the finger is spread over
    the taxels that touch the object (short rays from each taxel). Noise: Gaussian per taxel,
    clipped at 0."""

    rate_hz: float = param(80.0, "sample rate [Hz]", min=1.0, max=240.0)
    rows: int = param(4, "taxel rows per pad", min=1, max=16)
    cols: int = param(4, "taxel columns per pad", min=1, max=16)
    pitch_m: float = param(0.004, "taxel spacing [m]", min=0.001, max=0.01)
    noise_n: float = param(0.01, "per-taxel noise std [N]", min=0.0, max=1.0)


@dataclass
class AudioConfig:
    """Microphone: impact sounds synthesised from contact impulses per material (modal
    synthesis), plus Gaussian background noise, plus anything injected; int16 output."""

    sample_rate: int = param(16000, "sample rate [Hz]", min=8000, max=48000)
    chunk_s: float = param(0.02, "chunk length [s]", min=0.005, max=0.5)
    noise_level: float = param(0.002, "background noise std (full scale = 1)", min=0.0, max=0.5)
    impact_gain: float = param(0.6, "amplitude per N*s of impact impulse", min=0.0, max=100.0)


@dataclass
class SimConfig:
    physics_hz: int = param(240, "physics step rate [Hz]", choices=(240, 480, 960))
    joint_rate_hz: float = param(60.0, "joint state rate [Hz]", min=1.0, max=960.0)
    camera: CameraConfig = field(default_factory=CameraConfig)
    thermal: ThermalConfig = field(default_factory=ThermalConfig)
    lidar: LidarConfig = field(default_factory=LidarConfig)
    wrench: WrenchConfig = field(default_factory=WrenchConfig)
    tactile: TactileConfig = field(default_factory=TactileConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)

    def check(self) -> None:
        for name in ("camera", "thermal", "lidar", "wrench", "tactile"):
            _check_rate(f"{name}.rate_hz", getattr(self, name).rate_hz, self.physics_hz)
        _check_rate("joint_rate_hz", self.joint_rate_hz, self.physics_hz)
