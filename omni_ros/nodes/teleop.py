"""teleop: the operator's voice (/audio), typed commands (/omni/command_text) and clicked 3-D
points (/clicked_point) -> TeleopCommand on /omni/teleop.

Voice: voice-activity detection cuts utterances out of the microphone stream; the recogniser
(``asr.backend``: pocketsphinx, Whisper tiny.en or both; ``omni_ros.core.speech.asr``) decodes
each against a grammar generated from the command vocabulary (``omni_ros.core.speech.commands``)
and a rejection gate drops out-of-grammar speech (counted on /diagnostics as
``speech: rejected``); the words are parsed into intent + target. A point clicked up to
``point_window_s`` before the end of the utterance (or typed text) goes with it; a command that
points ("put it here") but has no point yet waits up to ``point_wait_s`` for one. "stop" is
published at once (fast path). Times are the node's clock (sim time under /clock).

Nothing can queue a stop behind work: audio is only queued by its callback (at most
``max_audio_backlog_s`` seconds of it, newest kept, older dropped and counted); a worker thread
cuts utterances (VAD) and waits, without holding the GIL, for the recogniser, which runs in a
process of its own (``omni_ros.core.speech.process``: pocketsphinx holds the GIL while it
decodes; a missing backend package fails configure with a message naming it). So a typed "stop" is served by the executor however much speech is waiting, and a
spoken one waits at most for that bounded backlog. Commands other than "stop" are rate-limited
per source (``command_rate_hz``, ``command_burst``; a flood is counted as ``rate``).

Talking back (``omni_ros.core.speech.dialogue``): every command published is said back
("okay, picking up the red cube") as text on /omni/robot_text and, with ``speak`` (off by
default), as espeak-ng speech on /omni/robot_voice (AudioChunk; the sim plays it into its microphone like any sound).
With ``confirm_below`` > 0 a voice command under that confidence is held and the robot asks
"did you mean: ...?"; "yes" (spoken or typed) sends it on, "no" drops it, and so does silence
for ``confirm_timeout_s``. The robot's own voice is not taken as a command: first it is
cancelled out of the microphone (``echo.*``, :mod:`omni_ros.core.speech.echo`: each phrase
found in the stream by cross-correlation with the waveform sent, a short filter fitted, the
phrase subtracted; counted as ``echo`` accepted / ``not_found``), so the operator is heard
while the robot talks. Speech over a phrase that was not cancelled by ``echo.trust_db`` (from
where it was found, or from sending, for its length plus ``own_voice_margin_s``) is dropped
(counted as ``speech: own_voice``) unless it is a stop; speech that runs on past it (the
operator answered at once) is decoded from there. The robot never says a stop word, so a stop
heard while it talks is the operator's, and a stop is never held for confirmation.

Typed words outside the vocabulary ("fetch the azure orb") are mapped onto it on the lexicon
worker thread: by the local lexicon (``lexicon``; colours always, nouns and verbs with the
optional 'sentence' extra), or, with ``cloud_lexicon`` on a robot whose local lexicon is off or
lacks the extra, by the cloud's language model: the worker asks ``command`` through the robot's
``cloud_gateway`` (/omni/cloud/ask -> /omni/cloud/answer, matched by id:
:class:`omni_ros.cloud.asker.CloudAsker`) and waits at most ``cloud_timeout_s``. The cloud only
says what each unknown word means; the command is parsed here, with this robot's vocabulary
(:mod:`omni_ros.core.speech.remote_lexicon`). No gateway, an ``unreachable`` / ``timeout`` /
``error`` answer or an unusable one is a logged rejection counted as ``text_command:
rejected.cloud`` ("could not map ...: cloud unreachable"), never a motion; the diagnostics status
``teleop: cloud lexicon`` counts the answers by status. A stop never goes to the cloud and never
waits for it: it is decided from the fixed stop words on the executor thread, published at once,
and it drops every typed command still waiting for the lexicon or the cloud (counted as
``rejected.stopped``; a command mapped after a stop is not published).

Settable while it runs (``ros2 param set``, validated like the config; the rest is read-only):
the Whisper gate ``asr.*`` thresholds (from the next utterance), ``point_window_s``,
``point_wait_s``, ``confirm_below``, ``confirm_timeout_s``, ``own_voice_margin_s``,
``command_rate_hz``, ``command_burst`` and ``diagnostics.*``.
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from geometry_msgs.msg import PointStamped
from omni_ros_msgs.msg import AudioChunk, TeleopCommand
from rclpy.node import Node
from std_msgs.msg import String

from .. import conversions as cv
from ..conversions.errors import require
from ..cloud.asker import CANCELLED, CloudAsker
from ..core.speech.commands import DEFAULT, default_lexicon, needs_lexicon, parse_command
from ..core.speech.remote_lexicon import AnswerError, check_answer
from ..core.speech.dialogue import Dialogue, OwnVoice, describe, reply_of
from ..core.speech.echo import EchoCanceller, EchoConfig
from ..core.speech.pairing import PointPairing, make_command
from ..core.config import ConfigError, param
from ..core.errors import InputError
from ..core.health import RateLimiter
from ..core.speech.audio import resample
from ..core.speech.vad import VADS, make_vad
from ..core.speech.asr import AsrConfig
from ..core.speech.process import RecognizerProcess, RecognizerStopped
from ..core.speech.recognizer import REPLY_WORDS
from ..core.speech.tts import SAMPLE_RATE, SpeechSynthesisError, synthesize
from ..core.types import OperatorCommand
from ..streams import BASE_FRAME
from .common import RELIABLE_QOS, GuardedInputs, qos_for, spin_node
from .diagnostics_config import DiagnosticsConfig
from .params import declare_config


TEXT_BACKLOG = 8   # typed commands waiting for the lexicon worker
AUDIO_QUEUE = 100  # chunks (2 s of 20 ms chunks): a busy executor must not lose words
MIN_REST_S = 0.3   # speech after the robot's voice, in one utterance with it, decoded alone [s]


@dataclass
class TeleopConfig:
    frame_id: str = param(BASE_FRAME, "frame clicked points must be in (no tf here)")
    point_window_s: float = param(6.0, "a point clicked this long before a command goes with it [s]",
                                  min=0.0, max=120.0, runtime=True)
    point_wait_s: float = param(3.0, "a pointing command waits this long for a click [s]",
                                min=0.0, max=60.0, runtime=True)
    sample_rate: int = param(16000, "recogniser sample rate [Hz] (audio is resampled to it)",
                             choices=(8000, 16000))
    vad: str = param("silero", "voice-activity detector: energy (frame energy over the noise "
                     "floor), webrtc (package webrtcvad-wheels) or silero (package silero-vad)",
                     choices=VADS)
    vad_hangover_s: float = param(0.2, "silence that ends an utterance [s]", min=0.05, max=2.0)
    vad_foreground_db: float = param(6.0, "webrtc / silero: speech starts only this much above "
                                     "the median sound level of the last 3 s (background talk "
                                     "is speech too; 0: off) [dB]", min=0.0, max=40.0)
    retry_warps: list[float] = param([1.0, 1.2, 1.4], "frequency warps (1: none) of the decoders "
                                     "that take a second look at a rejected high-pitched "
                                     "utterance, with non-rhotic pronunciations", min=0.5, max=2.0)
    retry_min_f0_hz: float = param(165.0, "median pitch above which a rejected utterance gets "
                                   "the second look [Hz] (400: never)", min=50.0, max=400.0)
    qos: str = param("sensor_data", "QoS of the /audio subscription", choices=("sensor_data", "reliable"))
    max_audio_backlog_s: float = param(3.0, "audio waiting for the recogniser beyond this is "
                                       "dropped, oldest first (counted) [s]", min=0.5, max=60.0)
    command_rate_hz: float = param(2.0, "commands accepted per second and source on average "
                                   "(a stop always passes)", min=0.1, max=1000.0, runtime=True)
    command_burst: int = param(5, "commands a source may send at once", min=1, max=1000,
                               runtime=True)
    lexicon: bool = param(True, "typed commands: map words outside the command vocabulary onto "
                          "it (colour names by hue; shape nouns and verbs with the sentence "
                          "embedding when the 'sentence' extra is installed), in a worker thread")
    cloud_lexicon: bool = param(False, "typed commands with words outside the vocabulary, when "
                                "the local lexicon is off or lacks the 'sentence' extra: ask "
                                "the cloud's language model through cloud_gateway (a stop "
                                "never goes to the cloud)")
    cloud_timeout_s: float = param(3.0, "a typed command the cloud has not mapped within this "
                                   "is rejected [s] (keep it above the gateway's "
                                   "answer_timeout_s)", min=0.1, max=60.0)
    max_coordinate_m: float = param(100.0, "largest |x|, |y|, |z| of a clicked point [m]",
                                    min=1.0, max=1e6)
    speak: bool = param(False, "also say each command understood with espeak-ng on "
                        "/omni/robot_voice (the text goes to /omni/robot_text either way)")
    robot_voice: str = param("en-us+m3", "espeak-ng voice of the robot (e.g. en-us, en+f3)")
    robot_rate_wpm: int = param(170, "the robot's speaking rate [words per minute]",
                                min=80, max=450)
    confirm_below: float = param(0.0, "voice commands (not stops) under this confidence are "
                                 "asked about ('did you mean ...?') and wait for yes / no "
                                 "(0: never ask; 1: always)", min=0.0, max=1.0, runtime=True)
    confirm_timeout_s: float = param(8.0, "an unanswered question is dropped after this [s]",
                                     min=1.0, max=120.0, runtime=True)
    own_voice_margin_s: float = param(0.5, "after the robot's voice ends, speech that began "
                                      "before this is still its own (delivery and echo) [s]",
                                      min=0.0, max=10.0, runtime=True)
    asr: AsrConfig = field(default_factory=AsrConfig)
    echo: EchoConfig = field(default_factory=EchoConfig)
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)


def _decode_point(msg: PointStamped):
    p = np.array([msg.point.x, msg.point.y, msg.point.z], float)
    require(bool(np.all(np.isfinite(p))), "point", "contains NaN or inf")
    return p


def _point_check(cfg: TeleopConfig):
    limits = cv.InputLimits(max_coordinate_m=cfg.max_coordinate_m)
    return lambda msg: cv.limits.check_point([msg.point.x, msg.point.y, msg.point.z], limits)


def _decode_text(msg: String) -> str:
    text = msg.data.strip()
    require(0 < len(text) <= 500, "data", f"must be 1-500 characters, got {len(text)}")
    return text


class TeleopNode(Node):
    def __init__(self, **kwargs):
        super().__init__("teleop", **kwargs)
        self.cfg = cfg = declare_config(self, TeleopConfig, runtime=True,
                                        on_change=self._on_params)
        self.vad = make_vad(cfg.vad, cfg.sample_rate, cfg.vad_hangover_s,
                            **({} if cfg.vad == "energy" else
                               {"foreground_db": cfg.vad_foreground_db or None}))
        self.recognizer = RecognizerProcess(cfg=cfg.asr, sample_rate=cfg.sample_rate,
                                            retry_warps=tuple(cfg.retry_warps),
                                            retry_min_f0_hz=cfg.retry_min_f0_hz)
        self.pub = self.create_publisher(TeleopCommand, "/omni/teleop", RELIABLE_QOS)
        self.dialogue = Dialogue(cfg.confirm_below, cfg.confirm_timeout_s)
        self.own_voice = OwnVoice(cfg.own_voice_margin_s)
        # only a robot that speaks has its voice to cancel (no work on the audio path otherwise)
        self.echo = EchoCanceller(cfg.echo, cfg.sample_rate) if cfg.echo.enabled and cfg.speak \
            else None
        if cfg.speak:
            try:
                synthesize("okay", cfg.robot_voice, cfg.robot_rate_wpm)
            except SpeechSynthesisError as err:
                self.recognizer.close()
                raise ConfigError(f"parameter 'robot_voice' = {cfg.robot_voice!r}: {err}") from None
        self.say_text = self.create_publisher(String, "/omni/robot_text", RELIABLE_QOS)
        self.say_audio = self.create_publisher(AudioChunk, "/omni/robot_voice", RELIABLE_QOS)
        self.guard = GuardedInputs(self, diagnostics=cfg.diagnostics)
        self.lock = threading.Lock()      # pairing, rate limits, publishing: both threads
        self.limit = RateLimiter(cfg.command_rate_hz, cfg.command_burst)
        self.pairing = PointPairing(cfg.frame_id, cfg.point_window_s, cfg.point_wait_s)
        self.backlog: deque = deque()     # (samples at cfg.sample_rate, stamp [ns])
        self.backlog_samples = 0
        self.wake = threading.Condition()
        self.running = True
        self.worker = threading.Thread(target=self._recognise_loop, name="teleop-asr", daemon=True)
        self.worker.start()
        self.text_backlog: deque = deque()  # (typed text, receive time [ns], stops so far)
        self.words = threading.Condition()
        self.stops = 0                      # stops published (under self.lock)
        self.asker: CloudAsker | None = None
        if cfg.cloud_lexicon and not (cfg.lexicon and default_lexicon().use_embeddings):
            self.ask_pub = self.create_publisher(String, "/omni/cloud/ask", RELIABLE_QOS)
            self.asker = CloudAsker(lambda text: self.ask_pub.publish(String(data=text)),
                                    cfg.cloud_timeout_s, name="teleop",
                                    ready=lambda: self.ask_pub.get_subscription_count() > 0)
            self.create_subscription(String, "/omni/cloud/answer",
                                     lambda msg: self.asker.on_answer(msg.data), RELIABLE_QOS)
            self.cloud_last = ""
            self.guard.extra_statuses = self._cloud_status
            local = "without the sentence extra" if cfg.lexicon else "off"
            self.get_logger().info("typed words outside the vocabulary: mapped by the cloud "
                                   f"(local lexicon {local})")
        elif cfg.cloud_lexicon:
            self.get_logger().info("cloud_lexicon: not needed, the local lexicon has the "
                                   "sentence embedding")
        self.lexicon_worker = threading.Thread(target=self._lexicon_loop, name="teleop-lexicon",
                                               daemon=True)
        self.lexicon_worker.start()
        self.guard.subscribe("audio", AudioChunk, "/audio",
                             lambda m: (cv.audio_chunk_to_numpy(m, as_float=True)[:, 0], m.sample_rate),
                             self._on_audio, qos_for(cfg.qos, depth=AUDIO_QUEUE))
        self.guard.subscribe("command_text", String, "/omni/command_text", _decode_text,
                             self._on_text, RELIABLE_QOS)
        self.guard.subscribe("clicked_point", PointStamped, "/clicked_point", _decode_point,
                             self._on_point, RELIABLE_QOS, check=_point_check(cfg))
        self.create_timer(0.05, self._check_waiting)

    def _on_params(self, changed: dict) -> None:
        """Runtime parameters accepted (already in self.cfg): update what holds copies - the
        point pairing, the confirmation dialogue, the own-voice margin, the rate limit and the
        recogniser's Whisper gate (from its next utterance)."""
        cfg = self.cfg
        with self.lock:
            self.pairing.point_window_s, self.pairing.point_wait_s = (cfg.point_window_s,
                                                                      cfg.point_wait_s)
            self.dialogue.confirm_below, self.dialogue.timeout_s = (cfg.confirm_below,
                                                                    cfg.confirm_timeout_s)
            self.own_voice.margin_ns = int(cfg.own_voice_margin_s * 1e9)
            self.limit.configure(cfg.command_rate_hz, cfg.command_burst)
        if any(name.startswith("asr.") for name in changed):
            self.recognizer.set_gate(cfg.asr.gate())

    def destroy_node(self):
        with self.wake:
            self.running = False
            self.wake.notify()
        with self.words:
            self.words.notify()
        if self.asker is not None:
            self.asker.cancel()
        self.recognizer.close()  # a decode in progress is not waited for
        self.worker.join(timeout=5.0)
        self.lexicon_worker.join(timeout=5.0)
        super().destroy_node()

    def _now(self) -> int:
        return self.get_clock().now().nanoseconds

    # --- inputs ---------------------------------------------------------------------------------
    def _on_point(self, key, point, msg) -> None:
        if msg.header.frame_id not in ("", self.cfg.frame_id):
            self.guard.health.reject(key, self._now(), "header.frame_id",
                                     f"point in {msg.header.frame_id!r}, expected {self.cfg.frame_id!r}")
            self.get_logger().warning(f"ignoring a point in frame {msg.header.frame_id!r}: "
                                      f"click in {self.cfg.frame_id!r}")
            return
        with self.lock:
            for cmd in self.pairing.point(point, self._now()):
                self._publish(cmd)

    def _on_audio(self, key, value, msg) -> None:
        """Queue the chunk for the worker (cheap: at most 1 s of audio, 8-48 kHz)."""
        samples, rate = value
        samples = resample(samples, rate, self.cfg.sample_rate)
        limit = int(self.cfg.max_audio_backlog_s * self.cfg.sample_rate)
        with self.wake:
            self.backlog.append((samples, cv.stamp_to_ns(msg.header.stamp)))
            self.backlog_samples += len(samples)
            while self.backlog_samples > limit and len(self.backlog) > 1:
                old, _ = self.backlog.popleft()
                self.backlog_samples -= len(old)
                self.guard.health.reject("speech", self._now(), "backlog",
                                         f"recogniser more than {self.cfg.max_audio_backlog_s:g} s "
                                         "behind: oldest audio dropped")
            self.wake.notify()

    def _recognise_loop(self) -> None:
        """Worker thread: VAD and recognition of the queued audio, in order."""
        while True:
            with self.wake:
                while self.running and not self.backlog:
                    self.wake.wait()
                if not self.running:
                    return
                samples, stamp_ns = self.backlog.popleft()
                self.backlog_samples -= len(samples)
            try:
                self._recognise(samples, stamp_ns)
            except RecognizerStopped as err:
                if not self.running:
                    return
                self.guard.health.reject("speech", self._now(), "recogniser", str(err))
                self.get_logger().error(f"speech: {err}; restarting the recogniser")
            except InputError as err:  # e.g. a flood of spoken commands
                self.guard.reject("voice_command", self._now(), err)
            except Exception as err:  # a bug: say so, keep listening
                if not self.context.ok():
                    return
                self.guard.health.reject("speech", self._now(), "internal", repr(err))
                self.get_logger().error(f"speech worker: {err!r}")

    def _recognise(self, samples: np.ndarray, stamp_ns: int) -> None:
        if self.echo is None:
            self._detect(samples, stamp_ns)
            return
        chunks = self.echo.push(samples, stamp_ns)
        self._echo_events()
        for x, t_ns in chunks:
            self._detect(x, t_ns)

    def _echo_events(self) -> None:
        """Count and log where the robot's phrases were found in the microphone; one cancelled
        by ``echo.trust_db`` no longer covers speech, another covers where it really was."""
        found, missed = self.echo.take_events()
        for f in found:
            self.guard.health.accept("echo", self._now())
            self.get_logger().info(f"own voice found in the microphone "
                                   f"{(f.start_ns - f.sent_ns) / 1e6:.0f} ms after sending "
                                   f"(correlation {f.correlation:.2f}), {f.erle_db:.0f} dB "
                                   "cancelled")
            with self.lock:
                if f.erle_db >= self.cfg.echo.trust_db:
                    self.own_voice.forget(f.sent_ns)
                else:
                    self.own_voice.heard(f.sent_ns, f.start_ns, f.end_ns)
        for m in missed:
            why = ("the robot's voice was not found in the microphone within echo.max_delay_s = "
                   f"{self.cfg.echo.max_delay_s:g} s (best correlation {m.best_correlation:.2f}, "
                   f"{m.best_delay_s * 1e3:.0f} ms after sending)")
            self.guard.health.reject("echo", self._now(), "not_found", why)
            self.get_logger().info(why)

    def _detect(self, samples: np.ndarray, stamp_ns: int) -> None:
        for utt in self.vad.push(samples, stamp_ns):
            rec = self.recognizer.recognize(utt.samples, reply=self.dialogue.waiting)
            stop = rec.accepted and _is_stop(rec.text)
            with self.lock:
                self.own_voice.rewind(self._now())
                own_until = self.own_voice.until(utt.start_ns, utt.end_ns)
            if own_until is not None and not stop:
                rest = self._after_own_voice(utt, own_until)
                if rest is None:
                    self.guard.health.reject("speech", self._now(), "own_voice",
                                             f"{rec.text!r} overlaps the robot's own voice")
                    self.get_logger().info(f"own voice dropped ({utt.duration_s:.1f} s of "
                                           f"speech): {rec.text!r}")
                    continue
                rec = self.recognizer.recognize(rest, reply=self.dialogue.waiting)
            if not rec.accepted:
                self.guard.health.reject("speech", self._now(), "out_of_grammar", rec.reason)
                self.get_logger().info(f"speech rejected ({rec.reason}): {rec.text!r}")
                continue
            self.guard.health.accept("speech", self._now())
            warp = f", second look, frequency warp {rec.warp:g}" if rec.retried else ""
            self.get_logger().info(f"heard {rec.text!r} (confidence {rec.confidence:.2f}, "
                                   f"{rec.decode_ms:.0f} ms{warp})")
            if rec.text in REPLY_WORDS:
                self._reply(rec.text, "voice")
            else:
                self._command(rec.text, "voice", rec.confidence, utt.end_ns)

    def _after_own_voice(self, utt, own_until_ns: int) -> np.ndarray | None:
        """The samples of ``utt`` after the robot's voice ended (the operator spoke right after
        it, one utterance for the detector), if at least MIN_REST_S of speech is there."""
        if utt.end_ns - own_until_ns < MIN_REST_S * 1e9:
            return None
        start = int((own_until_ns - utt.audio_start_ns) * self.cfg.sample_rate / 1e9)
        return utt.samples[max(start, 0):]

    def _on_text(self, key, text, msg) -> None:
        """A stop, or words all in the vocabulary: parsed here at once. Other words go to the
        lexicon worker (loading the sentence embedding takes seconds, a word ~5 ms): at most
        TEXT_BACKLOG messages wait, older ones are dropped and counted."""
        said = reply_of(text) if self.dialogue.waiting else None
        if said == "yes" or said == "no" and not _is_stop(text):  # typed "no" is a stop too
            self._reply(said, "text")
            return
        if not (self.cfg.lexicon or self.asker is not None) or not needs_lexicon(text):
            self._command(text, "text", 1.0, self._now(), lexicon=None)  # a stop: here, at once
            return
        with self.words:
            self.text_backlog.append((text, self._now(), self.stops))
            while len(self.text_backlog) > TEXT_BACKLOG:
                dropped = self.text_backlog.popleft()[0]
                self.guard.health.reject("text_command", self._now(), "backlog",
                                         f"lexicon busy: {dropped[:40]!r} dropped")
            self.words.notify()

    def _lexicon_loop(self) -> None:
        """Worker thread: typed commands with words outside the vocabulary, in order."""
        while True:
            with self.words:
                while self.running and not self.text_backlog:
                    self.words.wait()
                if not self.running:
                    return
                text, stamp_ns, stops = self.text_backlog.popleft()
            try:
                if self.asker is not None:
                    self._cloud_command(text, stamp_ns, stops)
                else:
                    self._command(text, "text", 1.0, stamp_ns, after_stops=stops)
            except InputError as err:  # a flood of typed commands
                self.guard.reject("text_command", self._now(), err)
            except Exception as err:  # a bug, or the extra broken: say so, keep going
                if not self.context.ok():
                    return
                self.guard.health.reject("text_command", self._now(), "internal", repr(err))
                self.get_logger().error(f"lexicon worker: {err!r}")

    def _cloud_command(self, text: str, stamp_ns: int, stops: int) -> None:
        """(the lexicon worker) Ask the cloud what the unknown words of ``text`` mean, then
        parse it here with those meanings; any failure is a counted rejection, never a motion."""
        answer = self.asker.ask("command", text=text)
        self.cloud_last = answer.status
        if answer.status == CANCELLED:
            self._dropped_by_stop(text)
            return
        why = None
        if not answer.ok:
            why = answer.reason()
        else:
            try:
                lexicon, parsed = check_answer(text, answer.answer)
            except AnswerError as err:
                why = f"unusable cloud answer: {err}"
        if why is not None:
            self.guard.health.reject("text_command", self._now(), "cloud",
                                     f"could not map {text!r}: {why}")
            self.get_logger().warning(f"could not map {text!r}: {why}")
            return
        if parsed is None:
            reason = str(answer.answer.get("reason", ""))[:200] or "no command in these words"
            self.guard.health.reject("text_command", self._now(), "not_a_command",
                                     f"{text!r} is not a command (cloud: {reason})")
            self.get_logger().warning(f"not a command: {text!r} (cloud: {reason})")
            return
        self.get_logger().info(f"cloud mapped {text!r} -> {answer.answer.get('canonical')!r} "
                               f"in {answer.elapsed_s * 1e3:.0f} ms")
        self._command(text, "text", 1.0, stamp_ns, lexicon=lexicon, after_stops=stops)

    def _dropped_by_stop(self, text: str) -> None:
        self.guard.health.reject("text_command", self._now(), "stopped",
                                 f"{text[:40]!r} dropped: a stop came first")
        self.get_logger().info(f"{text!r} dropped: a stop came while it was being mapped")

    def _cloud_status(self) -> list:
        stats = self.asker.stats()
        level = DiagnosticStatus.OK if self.cloud_last in ("", "ok", CANCELLED) \
            else DiagnosticStatus.WARN
        return [DiagnosticStatus(
            level=level, name=f"{self.get_name()}: cloud lexicon", hardware_id=self.get_name(),
            message=f"last answer: {self.cloud_last or 'none yet'}",
            values=[KeyValue(key=k, value=str(v)) for k, v in stats.items()])]

    # --- commands -------------------------------------------------------------------------------
    def _command(self, text: str, source: str, confidence: float, stamp_ns: int,
                 lexicon=DEFAULT, after_stops: int | None = None) -> None:
        """Parse and send a command. ``after_stops``: the stop count when the text came (a
        typed command mapped on the worker): dropped if a stop has been sent since."""
        made = make_command(text, source, confidence, stamp_ns, lexicon)
        if made is None:
            self.guard.health.reject(f"{source}_command", self._now(), "not_a_command",
                                     f"{text!r} is not a command")
            self.get_logger().warning(f"not a command: {text!r}")
            return
        cmd = made[0]
        stop = cmd.intent == "stop"
        if stop:  # nothing typed before it may move the robot after it
            with self.words:
                dropped = list(self.text_backlog)
                self.text_backlog.clear()
            for old in dropped:
                self._dropped_by_stop(old[0])
            if self.asker is not None:
                self.asker.cancel()
        with self.lock:
            if stop:
                self.stops += 1
            elif after_stops is not None and after_stops != self.stops:
                self._dropped_by_stop(text)
                return
            self.limit.require(source, self._now(), exempt=stop)
            if self.dialogue.cancel():  # a stop, or a new command, ends the open question
                self.get_logger().info("question dropped: a new command came")
            if self.dialogue.should_ask(cmd):
                self.get_logger().info(f"'{text}' (confidence {cmd.confidence:.2f} < "
                                       f"{self.cfg.confirm_below:g}): asking")
                self._say(self.dialogue.ask(made, text, self._now()))
                return
            self._go(made)

    def _reply(self, word: str, source: str) -> None:
        """The operator's "yes" / "no" to the open question."""
        with self.lock:
            if not self.dialogue.waiting:
                self.guard.health.reject(f"{source}_command", self._now(), "no_question",
                                         f"{word!r} but no question is open")
                return
            made, phrase = self.dialogue.answer(word, self._now())
            self.get_logger().info(f"answer {word!r} ({source})")
            if made is None:
                self.guard.health.reject(f"{source}_command", self._now(), "not_confirmed",
                                         "the operator said no")
                self._say(phrase)
                return
            self._go(made)

    def _go(self, made) -> None:
        """Pair the command with a point and publish what is ready (under self.lock)."""
        released = self.pairing.command(*made, self._now())
        for cmd in released:
            self._publish(cmd)
        if not released:
            self.get_logger().info(f"'{made[0].raw_text}': waiting up to "
                                   f"{self.cfg.point_wait_s} s for a clicked point")

    def _check_waiting(self) -> None:
        with self.lock:
            self._release_waiting()

    def _release_waiting(self) -> None:
        self.own_voice.rewind(self._now())
        timed_out = self.dialogue.tick(self._now())
        if timed_out:
            self.guard.health.reject("voice_command", self._now(), "not_confirmed",
                                     f"no answer within {self.cfg.confirm_timeout_s:g} s")
            self._say(timed_out)
        released, dropped = self.pairing.tick(self._now())
        for cmd in released:
            self._publish(cmd)
        for cmd in dropped:
            self.guard.health.reject(f"{cmd.source}_command", self._now(), "no_point",
                                     f"'{cmd.raw_text}' needs a clicked point")
            self.get_logger().warning(f"'{cmd.raw_text}': no point clicked within "
                                      f"{self.cfg.point_wait_s} s; dropped")

    def _publish(self, cmd: OperatorCommand) -> None:
        self.pub.publish(cv.command_to_msg(cmd))
        where = f" at {np.round(cmd.point, 3).tolist()}" if cmd.point is not None else ""
        self.get_logger().info(f"command: {cmd.intent} '{cmd.target_description}'{where} "
                               f"({cmd.source}: {cmd.raw_text!r})")
        self._say(describe(cmd))

    def _say(self, phrase: str) -> None:
        """``phrase`` on /omni/robot_text, and spoken on /omni/robot_voice with ``speak``."""
        self.say_text.publish(String(data=phrase))
        if not self.cfg.speak:
            return
        try:
            voice = synthesize(phrase, self.cfg.robot_voice, self.cfg.robot_rate_wpm)
        except SpeechSynthesisError as err:
            self.guard.health.reject("speech", self._now(), "robot_voice", str(err))
            return
        if not len(voice):
            return
        now = self._now()
        self.own_voice.said(now, len(voice) / SAMPLE_RATE)  # callers hold self.lock
        if self.echo is not None:
            self.echo.said(now, resample(voice, SAMPLE_RATE, self.cfg.sample_rate))
        self.say_audio.publish(cv.numpy_to_audio_chunk(voice, SAMPLE_RATE, stamp_ns=now,
                                                       frame_id="robot_speaker"))


def _is_stop(text: str) -> bool:
    parsed = parse_command(text, None) if text else None
    return parsed is not None and parsed.intent == "stop"


def main(args=None) -> int:
    return spin_node(TeleopNode, args)


if __name__ == "__main__":
    sys.exit(main())
