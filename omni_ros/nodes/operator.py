"""A scripted operator for the demo, the end-to-end tests and the e2e benchmark (not a node
executable): speaks commands into the simulated microphone (/sim/audio_in, synthesised offline),
clicks 3-D points (/clicked_point), types commands (/omni/command_text), and watches what the
robot heard, said, perceived and did (/omni/teleop, /omni/robot_text, /omni/scene,
/omni/task_status, /sim/ground_truth, /joint_states, /diagnostics). Times are the node's clock (sim time when
``use_sim_time``)."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Point, PointStamped
from omni_ros_msgs.msg import (AudioChunk, PrimitiveStatus, SceneUnderstanding, TaskStatus,
                               TeleopCommand)
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import JointState
from std_msgs.msg import String

from .. import conversions as cv
from ..streams import BASE_FRAME, BY_KEY
from .common import RELIABLE_QOS


class SimOperator(Node):
    def __init__(self, sim_time: bool = True, record: bool = False, **kwargs):
        super().__init__("sim_operator",
                         parameter_overrides=[Parameter("use_sim_time", value=sim_time)], **kwargs)
        self.executor_ = SingleThreadedExecutor(context=self.context)
        self.executor_.add_node(self)
        self.series: dict[str, list] = {"color": [], "wrench": [], "tactile": []}
        if record:  # camera frames, wrench and touch for the demo's figure
            for key in self.series:
                s = BY_KEY[key]
                self.create_subscription(s.msg_type, s.topic, lambda m, k=key: self._record(k, m),
                                         qos_profile_sensor_data)
        self.audio_pub = self.create_publisher(AudioChunk, "/sim/audio_in", RELIABLE_QOS)
        self.point_pub = self.create_publisher(PointStamped, "/clicked_point", RELIABLE_QOS)
        self.text_pub = self.create_publisher(String, "/omni/command_text", RELIABLE_QOS)
        self.truth = None
        self.scene = None
        self.scenes: list = []          # (stamp_ns, SceneState) for plots / checks
        self.heard: list = []           # OperatorCommand
        self.command_ns: list = []      # when each was received (this node's clock)
        self.statuses: list = []        # TaskStatus messages
        self.primitive_statuses: list = []  # PrimitiveStatus messages of the executor
        self.joint_msgs: list = []      # (stamp_ns, velocities)
        self.diagnostics: list = []
        self.robot_said: list = []      # what teleop said back (/omni/robot_text)
        self.robot_voice_starts: list = []  # when each phrase it spoke was sent (/omni/robot_voice)
        self.robot_voice_ends: list = []    # ... and when it ends
        self.create_subscription(SceneUnderstanding, "/sim/ground_truth", self._on_truth, RELIABLE_QOS)
        self.create_subscription(SceneUnderstanding, "/omni/scene", self._on_scene, 10)
        self.create_subscription(TeleopCommand, "/omni/teleop", self._on_teleop, RELIABLE_QOS)
        self.create_subscription(String, "/omni/robot_text",
                                 lambda m: self.robot_said.append(m.data), RELIABLE_QOS)
        self.create_subscription(AudioChunk, "/omni/robot_voice", self._on_robot_voice,
                                 RELIABLE_QOS)
        self.create_subscription(TaskStatus, "/omni/task_status", self._on_status, RELIABLE_QOS)
        self.create_subscription(PrimitiveStatus, "/omni/action_status",
                                 self.primitive_statuses.append, RELIABLE_QOS)
        self.create_subscription(JointState, "/joint_states", self._on_joints, qos_profile_sensor_data)
        self.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)

    # --- what it hears -------------------------------------------------------------------------
    def _record(self, key: str, msg) -> None:
        self.series[key].append((cv.stamp_to_ns(msg.header.stamp), BY_KEY[key].decode(msg)))

    def _on_truth(self, msg):
        self.truth = cv.msg_to_scene(msg)

    def _on_scene(self, msg):
        self.scene = cv.msg_to_scene(msg)
        self.scenes.append((self.scene.stamp_ns, self.scene))

    def _on_teleop(self, msg):
        self.heard.append(cv.msg_to_command(msg))
        self.command_ns.append(self.now_ns())

    def _on_robot_voice(self, msg):
        seconds = len(cv.audio_chunk_to_numpy(msg, max_s=60.0)) / msg.sample_rate
        self.robot_voice_starts.append(cv.stamp_to_ns(msg.header.stamp))
        self.robot_voice_ends.append(self.robot_voice_starts[-1] + int(seconds * 1e9))

    def robot_quiet(self, phrases: int, after_s: float = 1.0) -> bool:
        """The robot has spoken ``phrases`` phrases and the last ended ``after_s`` ago (as a
        person lets it finish)."""
        return (len(self.robot_voice_ends) >= phrases
                and self.now_ns() >= max(self.robot_voice_ends) + int(after_s * 1e9))

    def _on_status(self, msg):
        self.statuses.append(msg)

    def _on_joints(self, msg):
        _, _, vel, _ = cv.joint_state_to_arrays(msg)
        self.joint_msgs.append((cv.stamp_to_ns(msg.header.stamp), vel))

    # --- what it does --------------------------------------------------------------------------
    def now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def say(self, text: str, voice: str = "us_male", snr_db: float | None = None) -> float:
        """Speak ``text`` in voice preset ``voice`` (omni_ros_sim.tts.VOICES) into the simulated
        microphone, with white noise at ``snr_db`` if given; returns its duration [s]."""
        from omni_ros_sim.tts import voice_preset

        samples = voice_preset(voice).synthesize(text)
        if snr_db is not None:
            rms = float(np.sqrt(np.mean(samples ** 2)))
            noise = np.random.default_rng(len(text)).standard_normal(len(samples))
            samples = samples + noise * rms / 10 ** (snr_db / 20)
        msg = cv.numpy_to_audio_chunk(samples.astype(np.float32), 16000, frame_id="operator",
                                      stamp_ns=self.now_ns())
        self.audio_pub.publish(msg)
        return len(samples) / 16000

    def say_until(self, text: str, done, tries: int = 3, wait_s: float = 30.0, **kwargs) -> bool:
        """Say ``text`` (:meth:`say`) until ``done()``, at most ``tries`` times, waiting up to
        ``wait_s`` after each: an operator repeats what the robot did not hear (a sound of the
        scene over it, a loaded machine)."""
        for _ in range(tries):
            self.say(text, **kwargs)
            if self.spin_until(done, wait_s):
                return True
        return False

    def click(self, xyz) -> None:
        self.point_pub.publish(PointStamped(header=cv.make_header(BASE_FRAME, self.now_ns()),
                                            point=Point(x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2]))))

    def type(self, text: str) -> None:
        self.text_pub.publish(String(data=text))

    def object(self, label: str):
        """Ground-truth object named '<colour> <shape>' (None if absent)."""
        objs = self.truth.objects if self.truth else []
        return next((o for o in objs if f"{o.color} {o.shape}" == label), None)

    def spin_until(self, done: Callable[[], bool], timeout_s: float, step_s: float = 0.02) -> bool:
        """Spin until ``done()`` or ``timeout_s`` of wall time passed."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            self.executor_.spin_once(timeout_sec=step_s)
            if done():
                return True
        return False

    def diagnostic(self, name: str) -> dict[str, str]:
        """The latest key/values of /diagnostics status ``name`` ({} until one arrived)."""
        for array in reversed(self.diagnostics):
            for status in array.status:
                if status.name == name:
                    return {kv.key: kv.value for kv in status.values}
        return {}

    def teleop_listening(self) -> bool:
        """teleop is up (its recogniser process included) and microphone audio reaches it: its
        /diagnostics report accepted /audio chunks. Speech said before this may be lost."""
        return int(self.diagnostic("teleop: audio").get("accepted", 0)) > 0

    def last_status(self) -> TaskStatus | None:
        return self.statuses[-1] if self.statuses else None

    def task_finished(self, since: int = 0) -> bool:
        return any(s.state in ("succeeded", "failed", "rejected", "stopped")
                   for s in self.statuses[since:])
