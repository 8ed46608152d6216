"""Offline speech: an energy voice-activity detector that cuts the microphone stream into
utterances, and a grammar-constrained recogniser (pocketsphinx) with a rejection gate.

    vad = VoiceActivityDetector()
    rec = CommandRecognizer()
    for utt in vad.push(chunk, stamp_ns):       # int16 or float chunks, any length
        r = rec.recognize(utt.samples)
        if r.accepted:
            cmd = parse_command(r.text)

The recogniser decodes with a JSGF grammar of the command language (commands.jsgf_grammar()),
which forces ANY audio into some command. The gate therefore rescores the hypothesis: it
force-aligns the recognised words and compares that acoustic score with a free phone loop over
the same audio. Speech that is not a command fits the phone loop much better than any command
(a large score gap per speech frame), or leaves much of itself outside the command's words, so
it is rejected; so are hypotheses that are not complete commands. Noisy utterances (estimated
SNR under 20 dB) are denoised first. omni_ros.benchmarks.speech measures all of it per voice
and noise level. Times are integer nanoseconds; durations in seconds; rates in Hz.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from math import gcd

import numpy as np
from scipy.signal import resample_poly

from .commands import VERBS, jsgf_grammar, parse_command

NS_PER_S = 1_000_000_000
SAMPLE_RATE = 16000  # the acoustic model's rate [Hz]
FRAME_RATE_HZ = 100  # decoder frames per second [Hz]
_LOOP_FILLERS = frozenset({"SIL", "+SPN+", "+NSN+"})  # non-speech units of the phone loop
_NAN2 = (float("nan"), float("nan"))


def as_float(samples: np.ndarray) -> np.ndarray:
    """float32 mono samples at full scale 1 (int16 is divided by 32768)."""
    x = np.asarray(samples).reshape(-1)
    if x.dtype == np.int16:
        return x.astype(np.float32) / 32768.0
    return x.astype(np.float32)


def resample(samples: np.ndarray, rate: int, to_rate: int = SAMPLE_RATE) -> np.ndarray:
    """``samples`` at ``rate`` [Hz] resampled to ``to_rate`` [Hz] (polyphase)."""
    x = as_float(samples)
    if int(rate) == int(to_rate):
        return x
    g = gcd(int(rate), int(to_rate))
    return resample_poly(x, int(to_rate) // g, int(rate) // g).astype(np.float32)


# --- voice activity ---------------------------------------------------------------------------

@dataclass
class Utterance:
    """One stretch of speech. ``start_ns`` / ``end_ns``: first and last detected speech (end of
    its last frame); ``samples`` (float32 at the detector's rate) start ``pre_roll_s`` before
    ``start_ns`` at ``audio_start_ns`` and run on through the hangover silence."""

    samples: np.ndarray
    start_ns: int
    end_ns: int
    audio_start_ns: int

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / NS_PER_S


class VoiceActivityDetector:
    """Frame-energy speech detector over a stream of chunks, with an adaptive noise floor.

    A frame (``frame_s`` [s]) starts speech when its energy is ``threshold_db`` above the noise
    floor (the 10th percentile of the frame energies of the last ``noise_window_s`` [s], so it
    follows stationary background noise of any level) and above ``min_level_db`` [dBFS]; once
    in speech, frames ``release_db`` above the floor still count (hysteresis: weak consonants in
    noise do not split words). An utterance ends after ``hangover_s`` [s] without speech frames
    or at ``max_utterance_s`` [s]; shorter than ``min_speech_s`` [s] of speech is dropped."""

    def __init__(self, sample_rate: int = SAMPLE_RATE, frame_s: float = 0.02, threshold_db: float = 8.0,
                 hangover_s: float = 0.2, min_speech_s: float = 0.15, max_utterance_s: float = 4.0,
                 pre_roll_s: float = 0.2, noise_window_s: float = 3.0, min_level_db: float = -60.0,
                 release_db: float = 1.5):
        if not (0 < frame_s <= 0.1 and hangover_s >= frame_s and max_utterance_s > min_speech_s >= 0):
            raise ValueError("need 0 < frame_s <= 0.1 s, hangover_s >= frame_s and "
                             "max_utterance_s > min_speech_s >= 0")
        self.rate = int(sample_rate)
        self.frame = max(1, int(round(frame_s * sample_rate)))
        self.threshold_db, self.release_db, self.min_level_db = threshold_db, release_db, min_level_db
        self.hangover = max(1, int(round(hangover_s / frame_s)))
        self.min_speech = int(round(min_speech_s / frame_s))
        self.max_frames = int(round(max_utterance_s / frame_s))
        self.pre_roll = int(round(pre_roll_s / frame_s))
        self.energies: deque[float] = deque(maxlen=max(10, int(round(noise_window_s / frame_s))))
        self.recent: deque[np.ndarray] = deque(maxlen=self.pre_roll)  # frames before speech
        self.pending = np.zeros(0, np.float32)  # samples not yet a full frame
        self.pending_ns: int | None = None      # stamp of pending[0]
        self._reset()

    def _reset(self) -> None:
        self.frames: list[np.ndarray] = []      # frames of the current utterance (incl. pre-roll)
        self.audio_start_ns = self.start_ns = self.last_speech_ns = 0
        self.speech_frames = self.silent_run = 0
        self.in_speech = False

    @property
    def noise_floor_db(self) -> float:
        """Current noise floor [dBFS] (-inf before the first frame)."""
        return float(np.percentile(self.energies, 10)) if self.energies else -np.inf

    def _ns(self, samples: int) -> int:
        return samples * NS_PER_S // self.rate

    def push(self, samples: np.ndarray, stamp_ns: int) -> list[Utterance]:
        """Feed a chunk (int16, or float at full scale 1) whose first sample was taken at
        ``stamp_ns``; return the utterances it completed (usually none)."""
        x = as_float(samples)
        if self.pending.size == 0:
            self.pending_ns = int(stamp_ns)
        buf = np.concatenate([self.pending, x])
        out, n = [], len(buf) // self.frame
        for i in range(n):
            frame_ns = self.pending_ns + self._ns(i * self.frame)
            utt = self._frame(buf[i * self.frame:(i + 1) * self.frame], frame_ns)
            if utt is not None:
                out.append(utt)
        self.pending = buf[n * self.frame:]
        self.pending_ns = self.pending_ns + self._ns(n * self.frame)
        return out

    def _frame(self, frame: np.ndarray, stamp_ns: int) -> Utterance | None:
        level = 10 * np.log10(float(np.mean(frame.astype(np.float64) ** 2)) + 1e-12)
        floor = self.noise_floor_db if self.energies else level
        self.energies.append(level)
        margin = self.release_db if self.in_speech else self.threshold_db
        speech = level > floor + margin and level > self.min_level_db
        if not self.in_speech:
            if not speech:
                self.recent.append(frame)
                return None
            self.in_speech = True
            self.frames = list(self.recent)
            self.recent.clear()
            self.start_ns = stamp_ns
            self.audio_start_ns = stamp_ns - self._ns(len(self.frames) * self.frame)
        self.frames.append(frame)
        if speech:
            self.speech_frames += 1
            self.silent_run = 0
            self.last_speech_ns = stamp_ns + self._ns(self.frame)
        else:
            self.silent_run += 1
        if self.silent_run >= self.hangover or len(self.frames) >= self.max_frames + self.pre_roll:
            return self._finish()
        return None

    def _finish(self) -> Utterance | None:
        utt = None
        if self.speech_frames >= self.min_speech:
            utt = Utterance(np.concatenate(self.frames), self.start_ns, self.last_speech_ns,
                            self.audio_start_ns)
        self._reset()
        return utt


# --- noise -------------------------------------------------------------------------------------

def estimate_snr_db(x: np.ndarray, frame: int = 320) -> float:
    """Rough SNR [dB] of an utterance with some silence in it (the VAD's pre-roll and
    hangover): 90th minus 10th percentile of its 20 ms frame energies."""
    n = len(x) // frame
    if n < 5:
        return float("inf")
    frames = x[:n * frame].astype(np.float64).reshape(n, frame)
    e = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
    return float(np.percentile(e, 90) - np.percentile(e, 10))


def spectral_subtract(x: np.ndarray, over: float = 1.0, floor: float = 0.1,
                      nperseg: int = 512) -> np.ndarray:
    """Stationary noise removal by power spectral subtraction: subtract ``over`` x the 20th
    percentile of each frequency bin's power over the utterance, about a fifth of the mean
    noise power (subtracting more cost recognition accuracy), keeping a gain of at least
    ``floor``. For white-ish background noise at low SNR."""
    from scipy.signal import istft, stft

    _, _, spec = stft(x.astype(np.float64), nperseg=nperseg, noverlap=nperseg * 3 // 4)
    power = np.abs(spec) ** 2
    noise = np.percentile(power, 20, axis=1, keepdims=True)
    gain = np.sqrt(np.maximum(1.0 - over * noise / np.maximum(power, 1e-20), floor ** 2))
    _, y = istft(spec * gain, nperseg=nperseg, noverlap=nperseg * 3 // 4)
    return y[:len(x)].astype(np.float32)


# --- recognition ------------------------------------------------------------------------------

@dataclass
class Recognition:
    """A recogniser decision. ``text``: the best grammar hypothesis ("" if none); ``accepted``:
    it passed the rejection gate; ``confidence`` in [0, 1] (0.5 at the gate's thresholds);
    ``reason``: why it was rejected ("" if accepted); ``decode_ms``: wall time of all passes;
    ``gap``: phone-loop minus forced-alignment score per speech frame; ``coverage``: frames
    of the hypothesis' words per speech frame (NaN where the gate did not get that far)."""

    text: str
    accepted: bool
    confidence: float
    reason: str
    decode_ms: float
    gap: float = float("nan")
    coverage: float = float("nan")
    snr_db: float = float("nan")  # estimated; below the recogniser's denoise_below_db it denoised


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-np.clip(x, -50, 50))))


def _is_word(token: str) -> bool:
    """A dictionary word of the hypothesis, not silence or a filler ("<sil>", "[NOISE]", "+SPN+")."""
    return token[:1].isalpha()


class CommandRecognizer:
    """pocketsphinx 5 (its bundled en-US acoustic model) constrained by a JSGF grammar, plus a
    rejection gate over three passes on the same audio: the grammar search; a free phone loop
    (the best any phone sequence fits); a forced alignment of the grammar hypothesis. Accepted
    when the hypothesis is a complete command, its alignment is at most ``gap_threshold``
    worse per speech frame than the phone loop (score units: the decoder's log base 1.0001,
    after its internal scaling), and its words span at least ``min_coverage`` of the speech
    frames (speech forced into a short command leaves much of itself to silence and fillers).
    Stop commands pass a looser gate (``stop_gap_factor`` x the gap, no coverage): a needless
    halt is cheap, an ignored one is not. For the same reason a rejected utterance of at most
    STOP_MAX_SPEECH_S of speech is force-aligned to each stop word too, and is a stop if one
    fits (in noise the grammar search loses many spoken stops to short commands such as "go
    it"; measured over 4 voices: 14/24 -> 23/24 stops heard at 20 dB SNR, 3/24 -> 13/24 at
    10 dB, no false stops on short commands). Audio whose estimated SNR is below
    ``denoise_below_db`` [dB] (None: never) is denoised first (spectral subtraction).
    Thresholds are measured on synthetic commands vs out-of-grammar sentences
    (omni_ros.benchmarks.speech). Not thread-safe: one decoder per thread."""

    MIN_AUDIO_S = 0.1   # shorter audio is not decoded [s]
    MAX_AUDIO_S = 10.0  # longer audio is not decoded [s]
    STOP_MAX_SPEECH_S = 0.6  # rejected utterances up to this much speech are checked for a stop [s]
    STOP_RESCUE_MIN_CONF = 0.6  # ... and accepted as one only with this gate confidence

    def __init__(self, grammar: str | None = None, sample_rate: int = SAMPLE_RATE,
                 gap_threshold: float = 6.0, min_coverage: float = 0.8,
                 stop_gap_factor: float = 2.0, denoise_below_db: float | None = 20.0, seed: int = 1):
        import pocketsphinx  # deferred: only the recogniser needs it

        pocketsphinx.set_loglevel("FATAL")
        self.rate = int(sample_rate)
        self.gap_threshold, self.min_coverage = float(gap_threshold), float(min_coverage)
        self.stop_gap_factor = float(stop_gap_factor)
        self.denoise_below_db = denoise_below_db
        self.grammar = grammar if grammar is not None else jsgf_grammar()
        # dither (robust to digital silence) with a fixed seed, reset per pass: reproducible
        self.decoder = pocketsphinx.Decoder(jsgf=None, lm=None, dither=True, seed=seed,
                                            loglevel="FATAL", samprate=SAMPLE_RATE)
        self.decoder.add_jsgf_string("command", self.grammar)
        self.decoder.add_allphone_file("phone_loop", None)
        self.logmath = self.decoder.get_logmath()

    def _decode(self, pcm: bytes, search: str | None = None, align: str | None = None):
        """(hypothesis text, path score [log units] or None, segments) of one pass. The feature
        extractor is reset first, so every pass sees the same dither noise: results depend on
        the audio only, not on what was decoded before."""
        d = self.decoder
        d.reinit_feat()
        if align is not None:
            d.set_align_text(align)
        else:
            d.activate_search(search)
        d.start_utt()
        d.process_raw(pcm, full_utt=True)
        d.end_utt()
        hyp = d.hyp()
        if hyp is None or hyp.score <= 0:
            return "", None, []
        return hyp.hypstr, self.logmath.log(hyp.score), list(d.seg() or [])

    def gate(self, intent: str, gap: float, coverage: float,
             gap_threshold: float | None = None) -> tuple[float, str]:
        """(confidence, rejection reason or "") of a complete command with score ``gap`` and
        ``coverage``; ``gap_threshold`` overrides the recogniser's (for threshold sweeps)."""
        thr = self.gap_threshold if gap_threshold is None else gap_threshold
        min_cov = self.min_coverage
        if intent == "stop":
            thr, min_cov = thr * self.stop_gap_factor, 0.0
        conf = min(_sigmoid((thr - gap) / 2.0), _sigmoid((coverage - min_cov) / 0.05))
        if gap > thr:
            return conf, (f"out of grammar: alignment {gap:.1f} per frame worse than a phone "
                          f"loop (> {thr:g})")
        if coverage < min_cov:
            return conf, (f"out of grammar: the command's words span {coverage:.0%} of the "
                          f"speech (< {min_cov:.0%})")
        return conf, ""

    def recognize(self, samples: np.ndarray) -> Recognition:
        """Decode one utterance (float or int16 samples at ``sample_rate``)."""
        t0 = time.perf_counter()
        snr = float("nan")

        def result(text, reason="", conf=0.0, gap=float("nan"), coverage=float("nan")):
            return Recognition(text, not reason, float(conf), reason,
                               (time.perf_counter() - t0) * 1e3, gap, coverage, snr)

        x = resample(samples, self.rate)
        if len(x) < self.MIN_AUDIO_S * SAMPLE_RATE:
            return result("", f"audio too short (< {self.MIN_AUDIO_S} s)")
        if len(x) > self.MAX_AUDIO_S * SAMPLE_RATE:
            return result("", f"audio too long (> {self.MAX_AUDIO_S} s)")
        if not np.all(np.isfinite(x)) or float(np.max(np.abs(x))) < 1e-4:
            return result("", "no signal")
        snr = estimate_snr_db(x)
        if self.denoise_below_db is not None and snr < self.denoise_below_db:
            x = spectral_subtract(x)
        pcm = (np.clip(x, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        text, _, _ = self._decode(pcm, "command")
        _, loop, phones = self._decode(pcm, "phone_loop")
        speech = sum(s.end_frame - s.start_frame + 1 for s in phones if s.word not in _LOOP_FILLERS)
        if loop is None or speech == 0:
            return result(text, "no speech in the phone loop")
        command = parse_command(text) if text else None
        if command is None:
            reason, conf, gap, coverage = "no complete command in the grammar hypothesis", 0.0, *_NAN2
        else:
            gap, coverage = self._fit(pcm, text, loop, speech)
            conf, reason = (0.0, "hypothesis cannot be aligned to the audio") if np.isnan(gap) else \
                self.gate(command.intent, gap, coverage)
        if reason and speech <= self.STOP_MAX_SPEECH_S * FRAME_RATE_HZ:
            stop = self._stop_word(pcm, loop, speech)
            if stop is not None:
                word, stop_gap, stop_cov = stop
                conf, _ = self.gate("stop", stop_gap, stop_cov)
                return result(word, "", conf, stop_gap, stop_cov)
        return result(text, reason, conf, gap, coverage)

    def _fit(self, pcm: bytes, text: str, loop: float, speech: int) -> tuple[float, float]:
        """(score gap per speech frame, coverage) of ``text`` force-aligned to the audio, against
        the phone loop's score ``loop`` over ``speech`` frames; NaNs if it cannot be aligned."""
        try:
            _, aligned, words = self._decode(pcm, align=text)
        except RuntimeError:
            return _NAN2
        if aligned is None:
            return _NAN2
        covered = sum(s.end_frame - s.start_frame + 1 for s in words if _is_word(s.word))
        return (loop - aligned) / speech, covered / speech

    def _stop_word(self, pcm: bytes, loop: float, speech: int):
        """(word, gap, coverage) of the best-fitting stop word if it passes the stop gate, else
        None. For short utterances the grammar search did not accept: it loses some spoken
        stops to other short commands in noise, which forced alignment of the word still fits."""
        fits = [(word, *self._fit(pcm, word, loop, speech)) for word in VERBS["stop"]]
        fits = [f for f in fits if not np.isnan(f[1])]
        if not fits:
            return None
        best = min(fits, key=lambda f: f[1])
        conf, reason = self.gate("stop", best[1], best[2])
        # A clear margin: the robot's own impact sounds can force-align to a short word.
        return best if not reason and conf >= self.STOP_RESCUE_MIN_CONF else None
