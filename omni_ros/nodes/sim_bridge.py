"""sim_bridge: runs the PyBullet world and connects it to ROS 2.

Publishes every sensor stream (omni_ros.streams), /clock (sim time), /joint_states, ground truth
on /sim/ground_truth, the episode's task on /sim/task and primitive progress on
/omni/action_status; executes PrimitiveCommand messages from /omni/action; plays AudioChunk
messages from /sim/audio_in (to inject speech or noise) and the robot's own voice from
/omni/robot_voice (its loudspeaker, ``robot_voice_gain``) into the microphone; offers
/sim/reset and /sim/spawn. With ``expert:=true`` it runs scripted pick-and-place episodes
itself (episode i uses seed + i, as ``omni-ros dataset`` does); with ``record:=FILE`` it writes
every message it publishes to an MCAP file. With ``arm_input:=joint_trajectory`` the arm takes
trajectory_msgs/JointTrajectory on ``joint_trajectory_topic`` (a ros2_control
joint_trajectory_controller's input, executed by position control:
``omni_ros_sim.joint_trajectory``) instead of primitives from /omni/action.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from omni_ros_msgs.msg import AudioChunk, PrimitiveCommand
from omni_ros_msgs.srv import ResetWorld, SpawnObject
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile
from rosgraph_msgs.msg import Clock
from trajectory_msgs.msg import JointTrajectory

from omni_ros_sim.config import SimConfig
from omni_ros_sim.expert import EpisodeRunner
from omni_ros_sim.joint_trajectory import TrajectoryFollower
from omni_ros_sim.scene import ObjectSpec, SceneSpec, random_scene
from omni_ros_sim.tasks import random_task
from omni_ros_sim.world import World

from .. import conversions as cv
from ..conversions.errors import require
from ..core.config import ConfigError, param
from ..streams import MUTABLE, SENSOR_KEYS, STREAMS, EncodeContext, encode, task_command
from .common import QOS_CHOICES, RELIABLE_QOS, GuardedInputs, qos_for, spin_node
from .params import declare_config

TICK_HZ = 60  # physics steps are taken in ticks of 1/60 s


@dataclass
class SimBridgeConfig:
    seed: int = param(0, "seed of the scene, the task and the sensor noise", min=0, max=2**31 - 1)
    scene_file: str = param("", "scene spec YAML (omni_ros_sim.scene); empty = random from seed")
    real_time_factor: float = param(1.0, "sim seconds per wall second; 0 = as fast as possible",
                                    min=0.0, max=100.0)
    expert: bool = param(False, "run scripted-expert pick-and-place episodes (seed, seed+1, ...)")
    episodes: int = param(0, "with expert: exit after this many episodes (0 = never)", min=0,
                          max=1_000_000)
    duration_s: float = param(0.0, "exit after this much sim time [s]; 0 = never", min=0.0,
                              max=1e6)
    record: str = param("", "also write every published message to this MCAP file")
    qos: str = param("sensor_data", "QoS of the sensor publishers", choices=QOS_CHOICES)
    robot_voice_gain: float = param(0.5, "the robot's voice (/omni/robot_voice) reaches its "
                                    "microphone at this amplitude (0: not at all)", min=0.0,
                                    max=4.0)
    arm_input: str = param("primitive", "what drives the arm: PrimitiveCommand on /omni/action, "
                           "or JointTrajectory on joint_trajectory_topic (as a ros2_control "
                           "joint_trajectory_controller)", choices=("primitive", "joint_trajectory"))
    joint_trajectory_topic: str = param("/joint_trajectory_controller/joint_trajectory",
                                        "with arm_input joint_trajectory: the trajectory input")
    sim: SimConfig = field(default_factory=SimConfig)


def _decode_trajectory(msg: JointTrajectory):
    """(joint names, times [s] (n,), positions (n, joints)) of a JointTrajectory."""
    names = list(msg.joint_names)
    require(len(names) > 0 and len(set(names)) == len(names), "joint_names",
            "must be non-empty and unique")
    require(len(msg.points) > 0, "points", "is empty")
    times = np.array([cv.stamp_to_ns(p.time_from_start) / 1e9 for p in msg.points])
    require(bool(np.all(np.diff(times) > 0)) and times[0] >= 0, "points.time_from_start",
            "must increase from >= 0")
    require(all(len(p.positions) == len(names) for p in msg.points), "points.positions",
            f"every point needs {len(names)} positions")
    pos = np.array([list(p.positions) for p in msg.points], float)
    require(bool(np.all(np.isfinite(pos))), "points.positions", "contains NaN or inf")
    return names, times, pos


class SimBridge(Node):
    def __init__(self, **kwargs):
        super().__init__("sim_bridge", **kwargs)
        self.cfg = cfg = declare_config(self, SimBridgeConfig)
        if cfg.scene_file and not Path(cfg.scene_file).is_file():
            raise ConfigError(f"parameter 'scene_file' = {cfg.scene_file!r}: no such file")
        if cfg.record and not Path(cfg.record).resolve().parent.is_dir():
            raise ConfigError(f"parameter 'record' = {cfg.record!r}: its folder does not exist")
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.pubs = {s.topic: self.create_publisher(
            s.msg_type, s.topic,
            qos_for(cfg.qos) if s.key in SENSOR_KEYS else latched if s.key == "task" else RELIABLE_QOS)
            for s in STREAMS}
        self.clock_pub = self.create_publisher(Clock, "/clock", 10)
        self.muted: set[str] = set()
        self.declare_parameter("muted_sensors", "", ParameterDescriptor(
            description="comma-separated sensors that stop publishing, to simulate a dead sensor "
                        "(settable at run time)",
            additional_constraints=f"each one of {', '.join(MUTABLE)}"))
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._set_muted(self.get_parameter("muted_sensors").value)
        self.guard = GuardedInputs(self)
        if cfg.arm_input == "primitive":
            self.guard.subscribe("action", PrimitiveCommand, "/omni/action", cv.msg_to_primitive,
                                 self._on_action, RELIABLE_QOS)
        else:
            self.guard.subscribe("joint_trajectory", JointTrajectory, cfg.joint_trajectory_topic,
                                 _decode_trajectory, self._on_trajectory, RELIABLE_QOS)
        self.guard.subscribe("audio_in", AudioChunk, "/sim/audio_in",
                             lambda m: (cv.audio_chunk_to_numpy(m, max_s=60.0)[:, 0], m.sample_rate),
                             self._on_audio_in, RELIABLE_QOS)
        if cfg.robot_voice_gain > 0:
            self.guard.subscribe("robot_voice", AudioChunk, "/omni/robot_voice",
                                 lambda m: (cv.audio_chunk_to_numpy(m, max_s=60.0)[:, 0]
                                            * cfg.robot_voice_gain, m.sample_rate),
                                 self._on_audio_in, RELIABLE_QOS)
        self.create_service(ResetWorld, "/sim/reset", self._on_reset)
        self.create_service(SpawnObject, "/sim/spawn", self._on_spawn)
        from ..dataset.mcap_io import McapWriter

        self.recorder = McapWriter(Path(cfg.record)) if cfg.record else None
        self.world: World | None = None
        self.runner: EpisodeRunner | None = None
        self.episode = 0
        self.results = []
        self.done = False
        self.exit_code = 0
        self._build(cfg.seed, SceneSpec.from_yaml(Path(cfg.scene_file).read_text())
                    if cfg.scene_file else None)

    def _set_muted(self, text: str) -> None:
        names = {s.strip() for s in str(text).split(",") if s.strip()}
        bad = names - set(MUTABLE)
        if bad:
            raise ConfigError(f"parameter 'muted_sensors' = {text!r}: unknown {sorted(bad)}; "
                              f"allowed: {', '.join(MUTABLE)}")
        self.muted = {k for n in names for k in MUTABLE[n]}
        if names:
            self.get_logger().warning(f"muted sensors: {', '.join(sorted(names))}")

    def _on_set_parameters(self, params) -> SetParametersResult:
        for p in params:
            if p.name == "muted_sensors":
                try:
                    self._set_muted(p.value)
                except ConfigError as err:
                    return SetParametersResult(successful=False, reason=str(err))
            elif p.name != "use_sim_time":
                return SetParametersResult(successful=False,
                                           reason=f"parameter {p.name!r} is read-only")
        return SetParametersResult(successful=True)

    # --- world lifecycle -----------------------------------------------------------------------
    def _build(self, seed: int, scene: SceneSpec | None = None) -> str:
        if self.world is not None:
            self.world.close()
        scene = scene or random_scene(seed)
        self.seed = seed
        self.world = World(scene, self.cfg.sim, seed)
        self.ctx = EncodeContext.from_world(self.world)
        self.follower = TrajectoryFollower(self.world.robot)
        self.steps_per_tick = self.cfg.sim.physics_hz // TICK_HZ
        self.wall0, self.sim0 = time.monotonic(), self.world.t_ns
        self.runner = None
        if self.cfg.expert:
            task = random_task(scene, seed)
            self.runner = EpisodeRunner(self.world, task)
            self._publish("task", self.world.t_ns, task_command(task, self.world.t_ns))
        labels = ", ".join(o.label for o in scene.objects)
        return f"seed {seed}: {labels}"

    def _on_reset(self, request, response):
        seed = self.seed + 1 if request.seed < 0 else int(request.seed)
        try:
            scene = SceneSpec.from_yaml(request.scene_yaml) if request.scene_yaml else None
            response.message = self._build(seed, scene)
            response.success = True
        except (ValueError, TypeError, KeyError) as err:
            response.success, response.message = False, f"bad scene: {err}"
        return response

    def _on_spawn(self, request, response):
        ids = {o.id for o in self.world.scene.objects}
        oid = request.id or next(f"obj_{i}" for i in range(len(ids) + 1) if f"obj_{i}" not in ids)
        try:
            self.world.spawn(ObjectSpec(oid, request.shape, request.color, request.material,
                                        float(request.size), (float(request.x), float(request.y)),
                                        float(request.yaw)))
            response.success, response.message = True, oid
        except ValueError as err:
            response.success, response.message = False, str(err)
        return response

    # --- inputs --------------------------------------------------------------------------------
    def _on_action(self, key, primitive, msg) -> None:
        if self.runner is not None:
            self.get_logger().warning("ignoring /omni/action: the expert is driving (expert:=true)")
            return
        for st in self.world.command(primitive):
            self.get_logger().info(f"#{st.sequence_id} {st.primitive}: {st.state} {st.reason}")

    def _on_trajectory(self, key, value, msg) -> None:
        if self.runner is not None:
            self.get_logger().warning("ignoring the joint trajectory: the expert is driving "
                                      "(expert:=true)")
            return
        names, times, positions = value
        try:
            self.follower.start(names, times, positions, self.world.t_ns)
        except ValueError as err:
            raise cv.ConversionError("joint_names", str(err)) from None

    def _on_audio_in(self, key, value, msg) -> None:
        samples, rate = value
        self.world.inject_audio(samples, rate)

    # --- stepping ------------------------------------------------------------------------------
    def _publish(self, key: str, stamp_ns: int, data) -> None:
        if key in self.muted:
            return
        for topic, msg in encode(key, stamp_ns, data, self.ctx):
            self.pubs[topic].publish(msg)
            if self.recorder is not None:
                self.recorder.write(topic, msg, self.world.t_ns)

    def wait_s(self) -> float:
        if self.cfg.real_time_factor <= 0:
            return 0.0
        due = self.wall0 + (self.world.t_ns - self.sim0) / 1e9 / self.cfg.real_time_factor
        return max(0.0, due - time.monotonic())

    def tick(self) -> None:
        if self.wait_s() > 0:
            return
        w = self.world
        for _ in range(self.steps_per_tick):
            self.follower.update(w.t_ns)
            readings = self.runner.step() if self.runner else w.step()
            for r in readings:
                self._publish(r.key, r.stamp_ns, r.data)
            self.clock_pub.publish(Clock(clock=cv.ns_to_stamp(w.t_ns)))
            if self.runner is not None and self.runner.result is not None:
                self._episode_done()
                if self.done:
                    return
                w = self.world
        if self.cfg.duration_s and w.t_ns >= self.cfg.duration_s * 1e9:
            self._finish()

    def _episode_done(self) -> None:
        r = self.runner.result
        self.results.append(r)
        self.get_logger().info(f"episode {self.episode} (seed {self.seed}): "
                               f"{'success' if r.success else 'FAILED ' + r.failure}, "
                               f"place error {r.place_error_m * 100:.1f} cm")
        self.episode += 1
        if self.cfg.episodes and self.episode >= self.cfg.episodes:
            self._finish()
        else:
            self._build(self.cfg.seed + self.episode)

    def _finish(self) -> None:
        if self.recorder is not None:
            self.recorder.close()
        self.done = True

    def destroy_node(self):
        # (also for a bridge whose constructor failed half way: rclpy.shutdown destroys it)
        if getattr(self, "recorder", None) is not None:
            self.recorder.close()
        if getattr(self, "world", None) is not None:
            self.world.close()
        super().destroy_node()


def main(args=None) -> int:
    return spin_node(SimBridge, args)


if __name__ == "__main__":
    sys.exit(main())
