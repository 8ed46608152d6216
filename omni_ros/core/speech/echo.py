"""Echo cancelling: the robot's own voice taken out of its microphone before voice activity
detection, so the operator is heard while the robot talks (a stop said over it included).

teleop knows exactly what the robot said: the waveform it published and when (its clock).
The loudspeaker-to-microphone path is modelled as an unknown delay (publishing, playback
buffers, sound travel; found per phrase) followed by a short FIR filter (level and colouring,
``taps`` samples at the stream's rate). For each phrase the microphone stream from
``min_delay_s`` to ``max_delay_s`` after sending is searched for the phrase's opening
``probe_s`` (from its first loud sample) by normalised cross-correlation; where that peaks at
``min_correlation`` or more the phrase is *found*: the FIR is fitted by least squares on up to
``fit_s`` of it, and the phrase through the FIR is subtracted from every microphone sample it
covers. ``erle_db`` (echo return loss enhancement on the fitted stretch, residual vs. raw) says
how much of it went. Not found by ``max_delay_s``: nothing is subtracted (no loudspeaker path,
muted, or drowned) and the phrase is counted as missed.

While a phrase is looked for, microphone samples from where it could start are held back
(at most ``max_delay_s`` + ``probe_s`` after sending; in the sim it is found ``probe_s`` after
its voice starts), so the detector never sees an uncancelled onset. Times are the node's clock
[ns]; chunks whose stamps are within ``jitter_s`` of where the previous one ended are taken as
contiguous (driver stamp jitter), a bigger jump restarts the stream (a clock going back, a sim
reset, drops phrases sent after it).

Limits: a room's reverberation (hundreds of ms) is longer than the FIR, so in a real cell part
of the echo remains; teleop's own-voice filter still drops non-stop speech in a phrase that was
not cancelled by ``trust_db``. A full adaptive canceller (WebRTC AEC3) fed with the phrase at
the delay found here is the step for real rooms.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from scipy.signal import correlate

from ..config import param

NS_PER_S = 1_000_000_000
CONFIRM_S = 0.05  # a peak is taken once positions this far past it were tested too [s]


@dataclass
class EchoConfig:
    """Parameters of :class:`EchoCanceller` (teleop declares them as ``echo.*``)."""
    enabled: bool = param(True, "take the robot's own voice (/omni/robot_voice) out of the "
                          "microphone before voice-activity detection")
    min_delay_s: float = param(-0.05, "earliest the robot's voice can be in the microphone after "
                               "sending (< 0: clocks may differ) [s]", min=-1.0, max=0.0)
    max_delay_s: float = param(1.0, "latest it can start after sending; microphone audio is held "
                               "at most this + probe_s while a phrase is looked for [s]",
                               min=0.05, max=5.0)
    probe_s: float = param(0.3, "length of a phrase's opening searched for [s]", min=0.05, max=2.0)
    fit_s: float = param(1.0, "stretch the loudspeaker-to-microphone filter is fitted on [s]",
                         min=0.1, max=10.0)
    taps: int = param(32, "length of that filter [samples]", min=1, max=1024)
    min_correlation: float = param(0.5, "normalised cross-correlation at which a phrase counts "
                                   "as found", min=0.1, max=1.0)
    trust_db: float = param(20.0, "a phrase cancelled by at least this much [dB] is gone from the "
                            "microphone: speech over it is the operator's (else the own-voice "
                            "filter drops non-stop speech over it)", min=0.0, max=100.0)


@dataclass
class Found:
    """One phrase located in the microphone stream."""
    sent_ns: int
    start_ns: int       # where the phrase's first sample is in the microphone stream
    end_ns: int         # where its last sample is
    correlation: float  # normalised cross-correlation of the probe at the peak
    erle_db: float      # echo removed on the fitted stretch [dB]


@dataclass
class Missed:
    """One phrase not found within ``max_delay_s``."""
    sent_ns: int
    best_correlation: float  # the highest normalised cross-correlation seen
    best_delay_s: float      # where it was, after sending


class _Phrase:
    def __init__(self, sent_ns: int, voice: np.ndarray):
        self.sent_ns, self.voice = sent_ns, voice
        loud = np.flatnonzero(np.abs(voice) >= 0.05 * (np.max(np.abs(voice)) if len(voice) else 0))
        self.lead = int(loud[0]) if len(loud) else 0
        self.start: int | None = None   # stream index of voice[0], once found
        self.best = (0.0, 0)            # best correlation so far and its delay [samples]
        self.echo: np.ndarray | None = None  # voice through the fitted FIR, from start - taps // 2


class EchoCanceller:
    """Subtracts the robot's phrases (:meth:`said`) from the microphone stream (:meth:`push`).
    :meth:`said` may be called from another thread than :meth:`push`."""

    def __init__(self, cfg: EchoConfig | None = None, sample_rate: int = 16000,
                 jitter_s: float = 0.1, keep: int = 8):
        self.cfg = cfg or EchoConfig()
        self.sr = int(sample_rate)
        self.jitter_ns = int(jitter_s * NS_PER_S)
        self.keep = keep
        self.lock = threading.Lock()
        self.new: list[_Phrase] = []       # said, not yet seen by push (guarded by lock)
        self.phrases: list[_Phrase] = []   # looked for or being subtracted (push only)
        self.origin_ns: int | None = None  # stream index 0 is at this time
        self.base = 0                      # stream index of buf[0]
        self.buf = np.zeros(0)
        self.out = 0                       # stream index up to which samples were released
        self.found: list[Found] = []       # since the last take_events()
        self.missed: list[Missed] = []     # phrases not found

    # --- inputs -------------------------------------------------------------------------------
    def said(self, sent_ns: int, voice: np.ndarray) -> None:
        """The robot sent ``voice`` (float, full scale 1, at the stream's rate) at ``sent_ns``."""
        with self.lock:
            self.new.append(_Phrase(int(sent_ns), np.asarray(voice, float).reshape(-1)))
            del self.new[:-self.keep]

    def push(self, samples: np.ndarray, stamp_ns: int) -> list[tuple[np.ndarray, int]]:
        """A microphone chunk (float, stamp of its first sample) in; the chunks now ready for the
        detector out, echo subtracted: [(samples, stamp of the first [ns])]."""
        samples = np.asarray(samples, float).reshape(-1)
        out = []
        if self.origin_ns is not None and abs(stamp_ns - self._time(self.base + len(self.buf))) \
                > self.jitter_ns:
            out += self._release(self.base + len(self.buf))  # the old stream, as cleaned as it is
            went_back = stamp_ns < self._time(self.base + len(self.buf))
            self.phrases = [p for p in self.phrases if not (went_back and p.sent_ns > stamp_ns)]
            starts = [None if p.start is None else self._time(p.start) for p in self.phrases]
            self.origin_ns, self.base, self.out, self.buf = int(stamp_ns), 0, 0, np.zeros(0)
            for p, t_ns in zip(self.phrases, starts):  # found phrases keep their time
                p.start = None if t_ns is None else self._index(t_ns)
        if self.origin_ns is None:
            self.origin_ns, self.base, self.out, self.buf = int(stamp_ns), 0, 0, np.zeros(0)
        with self.lock:
            self.phrases += self.new
            self.new = []
        del self.phrases[:-self.keep]  # bounded even if the stream's clock never reaches them
        self.buf = np.concatenate([self.buf, samples])
        for p in list(self.phrases):
            if p.start is None:
                self._look_for(p)
        looking = [p for p in self.phrases if p.start is None]
        hold = min([self._index(p.sent_ns + self._ns(self.cfg.min_delay_s)) for p in looking],
                   default=self.base + len(self.buf))
        out += self._release(max(min(hold, self.base + len(self.buf)), self.out))
        self.phrases = [p for p in self.phrases if p.start is None
                        or p.start - self.cfg.taps // 2 + len(p.echo) > self.out]
        keep_from = max(self.base, min([self.out] + [self._index(p.sent_ns + self._ns(
            self.cfg.min_delay_s)) for p in looking]))
        self.buf = self.buf[keep_from - self.base:]
        self.base = keep_from
        return out

    def take_events(self) -> tuple[list[Found], list[Missed]]:
        """Phrases found and missed since the last call."""
        found, missed = self.found, self.missed
        self.found, self.missed = [], []
        return found, missed

    # --- inside -------------------------------------------------------------------------------
    def _ns(self, seconds: float) -> int:
        return int(round(seconds * NS_PER_S))

    def _index(self, t_ns: int) -> int:
        return (t_ns - self.origin_ns) * self.sr // NS_PER_S

    def _time(self, index: int) -> int:
        return self.origin_ns + index * NS_PER_S // self.sr

    def _look_for(self, p: _Phrase) -> None:
        c, sr = self.cfg, self.sr
        probe = p.voice[p.lead:p.lead + int(c.probe_s * sr)]
        lo = max(self._index(p.sent_ns + self._ns(c.min_delay_s)), self.base - p.lead)
        hi = self._index(p.sent_ns + self._ns(c.max_delay_s))
        end = self.base + len(self.buf)
        last = min(hi, end - p.lead - len(probe))  # the last start position testable now
        if len(probe) == 0 or not np.any(probe):
            self.phrases.remove(p)
            return
        if last >= lo:
            seg = self.buf[lo + p.lead - self.base:last + p.lead + len(probe) - self.base]
            cross = correlate(seg, probe, mode="valid", method="fft")
            energy = np.concatenate([[0.0], np.cumsum(seg ** 2)])
            window = energy[len(probe):] - energy[:-len(probe)]
            ncc = cross / np.sqrt(np.maximum(window, 1e-12) * float(probe @ probe))
            k = int(np.argmax(ncc))
            if ncc[k] > p.best[0]:
                p.best = (float(ncc[k]), lo + k - self._index(p.sent_ns))
            settled = last - (lo + k) >= CONFIRM_S * self.sr or last >= hi  # a later, truer
            if ncc[k] >= c.min_correlation and settled:  # peak (a pitch period on) had its chance
                self._fit(p, lo + k, float(ncc[k]))
                return
        if last >= hi or hi < self.base:
            self.missed.append(Missed(p.sent_ns, p.best[0], p.best[1] / self.sr))
            self.phrases.remove(p)

    def _fit(self, p: _Phrase, start: int, correlation: float) -> None:
        """FIR by least squares on the phrase's stretch that is in the buffer (from its lead)."""
        half, taps = self.cfg.taps // 2, self.cfg.taps
        a = start + p.lead
        b = min(self.base + len(self.buf), start + len(p.voice), a + int(self.cfg.fit_s * self.sr))
        y = self.buf[a - self.base:b - self.base]
        padded = np.concatenate([np.zeros(taps), p.voice, np.zeros(taps)])
        # column k: the voice delayed by k - half samples, over stream indices a..b
        cols = [padded[taps + p.lead - (k - half):taps + p.lead - (k - half) + len(y)]
                for k in range(taps)]
        x = np.stack(cols, axis=1)
        h = np.linalg.lstsq(x, y, rcond=None)[0]
        residual = y - x @ h
        erle = 10 * np.log10(max(float(y @ y), 1e-20) / max(float(residual @ residual), 1e-20))
        p.start, p.echo = start, np.convolve(p.voice, h)
        self.found.append(Found(p.sent_ns, self._time(start), self._time(start + len(p.voice)),
                                correlation, float(erle)))

    def _release(self, upto: int) -> list[tuple[np.ndarray, int]]:
        """Samples out..upto, every found phrase subtracted."""
        if upto <= self.out:
            return []
        x = self.buf[self.out - self.base:upto - self.base].copy()
        for p in self.phrases:
            if p.start is None:
                continue
            e0 = p.start - self.cfg.taps // 2  # stream index of p.echo[0]
            lo, hi = max(self.out, e0), min(upto, e0 + len(p.echo))
            if lo < hi:
                x[lo - self.out:hi - self.out] -= p.echo[lo - e0:hi - e0]
        chunk = [(x, self._time(self.out))]
        self.out = upto
        return chunk
