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
    of ``color_noise`` (0-255 scale), rounded and clipped.

    Lighting (one directional light; the defaults are TinyRenderer's own): a surface of colour c
    renders as ``light_ambient`` * c + (``light_diffuse`` * cos(incidence) + ``light_specular``
    * highlight) * c * ``light_color``. No cast shadows: TinyRenderer's shadow map covers the
    table with shadow acne under grazing light and loses real shadows with the light farther
    away."""

    rate_hz: float = param(15.0, "camera frame rate [Hz]", min=1.0, max=60.0)
    near: float = param(0.1, "near clip plane [m]", min=0.01, max=1.0)
    far: float = param(3.0, "far clip plane [m]; farther depth reads NaN", min=1.0, max=20.0)
    depth_noise_m: float = param(0.002, "depth noise std at 1 m [m] (scales with z^2)", min=0.0, max=0.1)
    color_noise: float = param(2.0, "colour noise std [0-255 levels]", min=0.0, max=50.0)
    light_direction: list[float] = param([-50.0, 30.0, 100.0], "direction from the scene towards "
                                         "the light in the base frame (any length)")
    light_color: list[float] = param([1.0, 1.0, 1.0], "RGB factors of the direct light "
                                     "(1 = white)", min=0.0, max=2.0)
    light_ambient: float = param(0.6, "ambient light coefficient", min=0.0, max=2.0)
    light_diffuse: float = param(0.35, "direct (diffuse) light coefficient", min=0.0, max=2.0)
    light_specular: float = param(0.05, "specular highlight coefficient", min=0.0, max=2.0)

    def check(self) -> None:
        if len(self.light_direction) != 3 or not any(self.light_direction):
            raise ConfigError("parameter 'camera.light_direction' must be 3 numbers, not all 0")
        if len(self.light_color) != 3:
            raise ConfigError("parameter 'camera.light_color' must be 3 numbers (R, G, B)")


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
class RandomizeConfig:
    """Per-episode cell randomisation for dataset generation (``omni_ros_sim.tasks.random_cell``),
    drawn from the episode seed: the camera's mount, field of view, resolution and lighting, the
    objects' shades, sizes and count, and distractor bodies. Each ``[low, high]`` range is drawn
    uniformly. Off, every seed gives the nominal cell (the rest of this config) and the same scene
    as ``random_scene``.

    The camera's position moves within +-``eye_jitter_m`` per axis of its mount and its viewing
    direction turns within +-``view_jitter_deg`` in yaw and in pitch; the mount is the configured
    ``camera.eye``/``camera.target`` or, with probability ``over_shoulder_p``, the
    over-the-shoulder one (``over_shoulder_eye``, on the left or right at random, looking at the
    workspace centre). A draw is kept only if the whole object workspace is in what a square model
    input trained with ``camera.fov_deg`` reads of the image (``sensors.camera.sees_workspace``)."""

    enabled: bool = param(False, "randomise the cell of every episode")
    eye_jitter_m: float = param(0.15, "camera position offset per axis, within +- [m]",
                                min=0.0, max=0.3)
    view_jitter_deg: float = param(15.0, "camera viewing direction turn in yaw and in pitch, "
                                   "within +- [deg]", min=0.0, max=30.0)
    over_shoulder_p: float = param(0.25, "probability of the over-the-shoulder camera mount",
                                   min=0.0, max=1.0)
    over_shoulder_eye: list[float] = param([-0.15, 0.40, 0.90], "over-the-shoulder camera "
                                           "position in the base frame (y mirrored at random) [m]")
    fov_deg: list[float] = param([45.0, 75.0], "vertical field of view range [deg]",
                                 min=20.0, max=120.0)
    width_px: list[int] = param([64, 640], "image width range [px]", min=16, max=640)
    aspects: list[str] = param(["1:1", "4:3", "16:9"], "image aspect ratios width:height, "
                               "one drawn at random (height = width / aspect, at most 480 px)")
    light_elevation_deg: list[float] = param([30.0, 85.0], "light elevation above the table "
                                             "range [deg] (azimuth: any)", min=0.0, max=90.0)
    light_temperature_k: list[float] = param([2700.0, 6500.0], "light colour temperature range "
                                             "[K] (6500 K renders white)", min=2700.0, max=6500.0)
    light_ambient: list[float] = param([0.35, 0.75], "ambient light coefficient range",
                                       min=0.0, max=2.0)
    light_diffuse: list[float] = param([0.2, 0.6], "direct light coefficient range",
                                       min=0.0, max=2.0)
    light_specular: list[float] = param([0.0, 0.15], "specular coefficient range",
                                        min=0.0, max=2.0)
    hue_fraction: float = param(0.4, "object hue turned towards a neighbouring colour name's by at "
                                "most this fraction of half their hue gap (< 1: every shade stays "
                                "nearest its own name)", min=0.0, max=0.95)
    saturation_scale: list[float] = param([0.75, 1.0], "object colour saturation factor range",
                                          min=0.3, max=1.5)
    value_scale: list[float] = param([0.8, 1.05], "object colour brightness (HSV value) factor "
                                     "range, clipped at full brightness", min=0.3, max=1.5)
    object_size_m: list[float] = param([0.03, 0.08], "object size range: cube edge, sphere "
                                       "diameter, cylinder diameter and height [m]",
                                       min=0.02, max=0.08)
    object_count: list[int] = param([1, 10], "number of objects range (fewer where they do not "
                                    "fit)", min=1, max=18)
    distractor_count: list[int] = param([0, 3], "number of distractor bodies range (capsules, "
                                        "discs, flat boxes; not objects)", min=0, max=6)
    impact_count: list[int] = param([1, 4], "staged impacts before the task range: objects "
                                    "dropped, set down hard, knocked over or slid "
                                    "(omni_ros_sim.impacts)", min=0, max=8)
    audio_noise_level: list[float] = param([0.001, 0.006], "microphone background noise std "
                                           "range (full scale = 1)", min=0.0, max=0.5)

    def check(self) -> None:
        for name in ("fov_deg", "width_px", "light_elevation_deg", "light_temperature_k",
                     "light_ambient", "light_diffuse", "light_specular", "saturation_scale",
                     "value_scale", "object_size_m", "object_count", "distractor_count",
                     "impact_count", "audio_noise_level"):
            low_high = getattr(self, name)
            if len(low_high) != 2 or low_high[0] > low_high[1]:
                raise ConfigError(f"parameter 'randomize.{name}' = {low_high}: must be [low, high] "
                                  "with low <= high")
        if len(self.over_shoulder_eye) != 3:
            raise ConfigError("parameter 'randomize.over_shoulder_eye' must be 3 numbers [m]")
        if not self.aspects:
            raise ConfigError("parameter 'randomize.aspects' must name at least one ratio")
        for a in self.aspects:
            w, _, h = a.partition(":")
            if not (w.isdigit() and h.isdigit() and int(w) > 0 and int(h) > 0):
                raise ConfigError(f"parameter 'randomize.aspects': {a!r} is not W:H "
                                  "(positive integers, e.g. 4:3)")

    def aspect_ratios(self) -> list[float]:
        """``aspects`` as width / height."""
        return [int(w) / int(h) for w, h in (a.split(":") for a in self.aspects)]


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
    randomize: RandomizeConfig = field(default_factory=RandomizeConfig)

    def check(self) -> None:
        for name in ("camera", "thermal", "lidar", "wrench", "tactile"):
            _check_rate(f"{name}.rate_hz", getattr(self, name).rate_hz, self.physics_hz)
        _check_rate("joint_rate_hz", self.joint_rate_hz, self.physics_hz)
