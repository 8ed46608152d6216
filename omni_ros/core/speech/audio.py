"""Audio utilities of the speech front end: sample conversion and resampling, a
voice-activity detector that cuts a microphone stream into utterances (by frame energy, or by a
frame classifier of :mod:`.vad`), and the signal measures the
recogniser gates on (SNR estimate, spectral subtraction, onset sharpness, median pitch).

Samples are mono; float32 at full scale 1 or int16. Times are integer nanoseconds; durations in
seconds; rates in Hz.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from math import gcd

import numpy as np
from scipy.signal import resample_poly

NS_PER_S = 1_000_000_000
SAMPLE_RATE = 16000  # the acoustic model's rate [Hz]
FRAME_RATE_HZ = 100  # decoder frames per second [Hz]
FOREGROUND_RELEASE_DB = 6.0  # a started utterance continues this much below foreground_db
LOOP_FILLERS = frozenset({"SIL", "+SPN+", "+NSN+"})  # non-speech units of the phone loop



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
    or at ``max_utterance_s`` [s]; shorter than ``min_speech_s`` [s] of speech is dropped.

    With a ``classifier`` (:mod:`.vad`: a callable frame -> speech probability with attributes
    ``threshold`` and ``frame_s``) a frame is speech by it instead: at ``threshold`` to start,
    above ``threshold`` - 0.15 to continue (and above ``min_level_db`` in both cases); with
    ``foreground_db`` also that much above the median frame energy of the last
    ``noise_window_s`` to start (FOREGROUND_RELEASE_DB less to continue): the operator speaks
    louder than the talk around (background speech is speech to any classifier)."""

    def __init__(self, sample_rate: int = SAMPLE_RATE, frame_s: float = 0.02, threshold_db: float = 8.0,
                 hangover_s: float = 0.2, min_speech_s: float = 0.15, max_utterance_s: float = 4.0,
                 pre_roll_s: float = 0.2, noise_window_s: float = 3.0, min_level_db: float = -60.0,
                 release_db: float = 1.5, classifier=None, foreground_db: float | None = None):
        if not (0 < frame_s <= 0.1 and hangover_s >= frame_s and max_utterance_s > min_speech_s >= 0):
            raise ValueError("need 0 < frame_s <= 0.1 s, hangover_s >= frame_s and "
                             "max_utterance_s > min_speech_s >= 0")
        self.rate = int(sample_rate)
        self.classifier, self.foreground_db = classifier, foreground_db
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
        if self.classifier is None:
            margin = self.release_db if self.in_speech else self.threshold_db
            speech = level > floor + margin and level > self.min_level_db
        else:
            p = self.classifier(frame)
            speech = level > self.min_level_db and \
                p >= self.classifier.threshold - (0.15 if self.in_speech else 0.0)
            if speech and self.foreground_db is not None:  # louder than the room's talk
                margin = self.foreground_db - (FOREGROUND_RELEASE_DB if self.in_speech else 0.0)
                speech = level > float(np.median(self.energies)) + margin
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

    def flush(self) -> Utterance | None:
        """End the stream: the utterance in progress, if any (e.g. speech to the very end)."""
        return self._finish() if self.in_speech else None

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


def onset_to_peak_s(x: np.ndarray, rate: int = SAMPLE_RATE, frame_s: float = 0.01) -> float:
    """Time [s] from the first ``frame_s`` frame within 20 dB of the loudest one to the loudest:
    an impact peaks at once (0 s: a struck object rings down), speech builds up over its first
    consonant (>= 0.03 s in every synthetic command and stop word measured)."""
    frame = max(1, int(frame_s * rate))
    n = len(x) // frame
    if n < 1:
        return 0.0
    e = 10 * np.log10(np.mean(np.asarray(x[:n * frame], np.float64).reshape(n, frame) ** 2, axis=1)
                      + 1e-12)
    peak = int(np.argmax(e))
    return (peak - int(np.argmax(e > e[peak] - 20.0))) * frame / rate


def median_f0(x: np.ndarray, rate: int = SAMPLE_RATE, fmin_hz: float = 70.0, fmax_hz: float = 400.0,
              frame_s: float = 0.04, min_correlation: float = 0.5) -> float:
    """Median pitch [Hz] of the voiced frames of an utterance (NaN if none): per ``frame_s``
    frame (half overlapping) the lag of the highest normalised autocorrelation between
    1/``fmax_hz`` and 1/``fmin_hz``; voiced = within 10 dB of the loud frames and that peak above
    ``min_correlation``. Adult male voices are typically 85-155 Hz, female 165-255 Hz."""
    n = int(frame_s * rate)
    hop = n // 2
    m = (len(x) - n) // hop + 1
    if m < 1:
        return float("nan")
    frames = np.asarray(x, np.float64)[np.arange(n)[None, :] + hop * np.arange(m)[:, None]]
    frames -= frames.mean(axis=1, keepdims=True)
    energy = np.sum(frames ** 2, axis=1)
    ac = np.fft.irfft(np.abs(np.fft.rfft(frames, 2 * n, axis=1)) ** 2, axis=1)[:, :n]
    ac = ac / np.maximum(ac[:, :1], 1e-12) * n / (n - np.arange(n))  # unbiased, 1 at lag 0
    lo, hi = int(rate / fmax_hz), int(rate / fmin_hz)
    lag = lo + np.argmax(ac[:, lo:hi], axis=1)
    voiced = (energy > 0.1 * np.percentile(energy, 90)) & (ac[np.arange(m), lag] > min_correlation)
    return float(np.median(rate / lag[voiced])) if voiced.any() else float("nan")
