"""The grammar-constrained command recogniser (pocketsphinx) with a rejection gate; utterances
come from the voice-activity detector in :mod:`.audio`.

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
from dataclasses import dataclass

import numpy as np

from .audio import (FRAME_RATE_HZ, LOOP_FILLERS, SAMPLE_RATE, estimate_snr_db, median_f0,
                    onset_to_peak_s, resample, spectral_subtract)
from .commands import VERBS, jsgf_grammar, parse_command
from .pronunciations import add_pronunciations, grammar_words, non_rhotic

_NAN2 = (float("nan"), float("nan"))
REPLY_WORDS = ("yes", "no")  # answers to the robot's "did you mean ...?" (pronounced like this)


@dataclass
class Recognition:
    """A recogniser decision. ``text``: the best grammar hypothesis ("" if none); ``accepted``:
    it passed the rejection gate; ``confidence`` in [0, 1] (0.5 at the gate's thresholds);
    ``reason``: why it was rejected ("" if accepted); ``decode_ms``: wall time of all passes;
    ``gap``: phone-loop minus forced-alignment score per speech frame; ``coverage``: frames
    of the hypothesis' words per speech frame (NaN where the gate did not get that far);
    ``warp``: the frequency warp of the decoder that produced it (1 = unwarped; the largest
    warp when several decoders agreed); ``f0_hz``: the utterance's median pitch where it was
    measured (NaN otherwise); ``retried``: accepted on the second look."""

    text: str
    accepted: bool
    confidence: float
    reason: str
    decode_ms: float
    gap: float = float("nan")
    coverage: float = float("nan")
    snr_db: float = float("nan")  # estimated; below the recogniser's denoise_below_db it denoised
    warp: float = 1.0
    f0_hz: float = float("nan")
    retried: bool = False  # accepted by the second look (retry decoders) after a rejection


@dataclass
class _Passes:
    """What one decoder made of an utterance: grammar hypothesis, gate result, speech frames."""

    text: str
    reason: str
    confidence: float = 0.0
    gap: float = float("nan")
    coverage: float = float("nan")
    speech: int = 0                 # speech frames of the phone loop
    loop: float = float("nan")      # the phone loop's score [log units]


MIN_AUDIO_S = 0.1   # shorter audio is not decoded [s]
MAX_AUDIO_S = 10.0  # longer audio is not decoded [s]
MIN_ONSET_S = 0.02  # audio that peaks sooner after its onset is an impact, not speech [s]


def screen(x: np.ndarray) -> str:
    """Why an utterance (float samples at SAMPLE_RATE) is not decoded at all, or "": too short
    or long, no signal, or percussive (it peaks within MIN_ONSET_S of its onset: the robot's
    own impacts, a struck object rings down at once, were once force-aligned to "halt")."""
    if len(x) < MIN_AUDIO_S * SAMPLE_RATE:
        return f"audio too short (< {MIN_AUDIO_S} s)"
    if len(x) > MAX_AUDIO_S * SAMPLE_RATE:
        return f"audio too long (> {MAX_AUDIO_S} s)"
    if not np.all(np.isfinite(x)) or float(np.max(np.abs(x))) < 1e-4:
        return "no signal"
    if onset_to_peak_s(x) < MIN_ONSET_S:
        return f"percussive sound (peaks within {MIN_ONSET_S} s of its onset), not speech"
    return ""


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
    ``denoise_below_db`` [dB] (None: never) is denoised first (spectral subtraction). Audio that
    peaks within MIN_ONSET_S of its onset is not decoded: the robot's own impacts (a struck
    object rings down at once) were force-aligned to "halt" and stopped a task (live bench).

    Voices the model fits poorly: the acoustic model and dictionary are American, and fit high
    voices (higher formants) and non-rhotic accents worse, so their correct commands can score
    far from the phone loop and be rejected. A rejected utterance whose median pitch is above
    ``retry_min_f0_hz`` [Hz] gets a second look by decoders that also know every grammar word's
    non-rhotic pronunciation (non_rhotic(): "purple" P AH P AH L) and whose filterbank
    frequencies are warped by each of ``retry_warps`` (1 = unwarped; vocal tract length
    normalisation, pocketsphinx's inverse-linear warp). It is accepted from the first whose
    passes clear the stricter ``retry_gap_threshold`` (a second chance must not double the
    false accepts), or else when every retry decoder (at least two) heard the same command,
    each within ``agree_gap_threshold`` (speech forced into the grammar rarely becomes
    the same command on every frequency scale). Low voices never take this path, and the first
    decoder keeps the plain American dictionary, so they are decoded exactly as without it.
    Thresholds are measured on synthetic commands vs out-of-grammar sentences
    (omni_ros.benchmarks.speech). Not thread-safe: one recogniser per thread."""

    STOP_MAX_SPEECH_S = 0.6  # rejected utterances up to this much speech are checked for a stop [s]
    STOP_RESCUE_MIN_CONF = 0.6  # ... and accepted as one only with this gate confidence
    def __init__(self, grammar: str | None = None, sample_rate: int = SAMPLE_RATE,
                 gap_threshold: float = 6.0, min_coverage: float = 0.8,
                 stop_gap_factor: float = 2.0, denoise_below_db: float | None = 20.0,
                 retry_warps: tuple[float, ...] = (1.0, 1.2, 1.4), retry_min_f0_hz: float = 165.0,
                 retry_gap_threshold: float = 4.0, agree_gap_threshold: float = 8.0,
                 seed: int = 1):
        import pocketsphinx  # deferred: only the recogniser needs it

        pocketsphinx.set_loglevel("FATAL")
        if any(not 0.5 <= w <= 2.0 for w in retry_warps):
            raise ValueError(f"retry_warps {tuple(retry_warps)} must each be in [0.5, 2.0]")
        self.rate = int(sample_rate)
        self.gap_threshold, self.min_coverage = float(gap_threshold), float(min_coverage)
        self.stop_gap_factor = float(stop_gap_factor)
        self.denoise_below_db = denoise_below_db
        self.retry_min_f0_hz = float(retry_min_f0_hz)
        self.retry_gap_threshold = float(retry_gap_threshold)
        self.agree_gap_threshold = float(agree_gap_threshold)
        self.grammar = grammar if grammar is not None else jsgf_grammar()

        words = grammar_words(self.grammar)

        def decoder(warp: float | None):
            # dither (robust to digital silence) with a fixed seed, reset per pass: reproducible
            d = pocketsphinx.Decoder(jsgf=None, lm=None, dither=True, seed=seed, loglevel="FATAL",
                                     samprate=SAMPLE_RATE,
                                     **({} if warp is None else {"warp_params": str(warp)}))
            if warp is not None:  # a retry decoder
                add_pronunciations(d, words, non_rhotic)
            d.add_jsgf_string("command", self.grammar)
            d.add_allphone_file("phone_loop", None)
            return d

        self.decoder = decoder(None)
        self.retry = [(float(w), decoder(w)) for w in retry_warps]
        self.logmath = self.decoder.get_logmath()

    def _decode(self, pcm: bytes, search: str | None = None, align: str | None = None,
                decoder=None):
        """(hypothesis text, path score [log units] or None, segments) of one pass of
        ``decoder`` (default: the unwarped one). The feature extractor is reset first, so every
        pass sees the same dither noise: results depend on the audio only, not on what was
        decoded before."""
        d = decoder or self.decoder
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

    def recognize(self, samples: np.ndarray, reply: bool = False) -> Recognition:
        """Decode one utterance (float or int16 samples at ``sample_rate``). ``reply``: the
        robot asked a yes / no question, so a short utterance may also be "yes" or "no"
        (:meth:`_reply`; a stop still wins)."""
        t0 = time.perf_counter()
        snr = f0 = float("nan")

        def result(p: _Passes, warp: float = 1.0, retried: bool = False) -> Recognition:
            return Recognition(p.text, not p.reason, float(p.confidence), p.reason,
                               (time.perf_counter() - t0) * 1e3, p.gap, p.coverage, snr, warp, f0,
                               retried)

        x = resample(samples, self.rate)
        reason = screen(x)
        if reason:
            return result(_Passes("", reason))
        snr = estimate_snr_db(x)
        if self.denoise_below_db is not None and snr < self.denoise_below_db:
            x = spectral_subtract(x)
        pcm = (np.clip(x, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        first = self._passes(pcm, self.decoder)
        if reply and 0 < first.speech <= self.STOP_MAX_SPEECH_S * FRAME_RATE_HZ:
            answer = self._reply(pcm, first)
            if answer is not None:
                return result(answer)
        if not first.reason or not first.speech:
            return result(first)
        if first.speech <= self.STOP_MAX_SPEECH_S * FRAME_RATE_HZ:
            stop = self._stop_word(pcm, first)
            if stop is not None:
                return result(stop)
        if self.retry:
            f0 = median_f0(x)
            if f0 > self.retry_min_f0_hz:  # NaN (nothing voiced) is not
                tries = [first]
                for warp, decoder in self.retry:
                    tries.append(self._passes(pcm, decoder, self.retry_gap_threshold))
                    if not tries[-1].reason:
                        return result(tries[-1], warp, retried=True)
                agreed = self._agreement(tries[1:]) if len(tries) > 2 else None
                if agreed is not None:
                    return result(agreed, self.retry[-1][0], retried=True)
        return result(first)

    def _agreement(self, tries: list[_Passes]) -> _Passes | None:
        """The command every decoder heard (the same intent and target), if each of them fits
        it within ``agree_gap_threshold``; else None."""
        keys, conf = set(), 1.0
        for t in tries:
            command = parse_command(t.text) if t.text and not np.isnan(t.gap) else None
            if command is None:
                return None
            c, reason = self.gate(command.intent, t.gap, t.coverage, self.agree_gap_threshold)
            if reason:
                return None
            keys.add((command.intent, command.target_description))
            conf = min(conf, c)
        if len(keys) != 1:
            return None
        return _Passes(tries[0].text, "", conf, max(t.gap for t in tries),
                       min(t.coverage for t in tries), tries[0].speech, tries[0].loop)

    def _passes(self, pcm: bytes, decoder, gap_threshold: float | None = None) -> _Passes:
        """Grammar search, phone loop and gate (``gap_threshold``: default the recogniser's) of
        one decoder over the utterance."""
        text, _, _ = self._decode(pcm, "command", decoder=decoder)
        _, loop, phones = self._decode(pcm, "phone_loop", decoder=decoder)
        speech = sum(s.end_frame - s.start_frame + 1 for s in phones if s.word not in LOOP_FILLERS)
        if loop is None or speech == 0:
            return _Passes(text, "no speech in the phone loop")
        command = parse_command(text) if text else None
        if command is None:
            return _Passes(text, "no complete command in the grammar hypothesis", speech=speech,
                           loop=loop)
        gap, coverage = self._fit(pcm, text, loop, speech, decoder)
        if np.isnan(gap):
            return _Passes(text, "hypothesis cannot be aligned to the audio", speech=speech,
                           loop=loop)
        conf, reason = self.gate(command.intent, gap, coverage, gap_threshold)
        return _Passes(text, reason, conf, gap, coverage, speech, loop)

    def _fit(self, pcm: bytes, text: str, loop: float, speech: int,
             decoder=None) -> tuple[float, float]:
        """(score gap per speech frame, coverage) of ``text`` force-aligned to the audio, against
        the phone loop's score ``loop`` over ``speech`` frames; NaNs if it cannot be aligned."""
        try:
            _, aligned, words = self._decode(pcm, align=text, decoder=decoder)
        except RuntimeError:
            return _NAN2
        if aligned is None:
            return _NAN2
        covered = sum(s.end_frame - s.start_frame + 1 for s in words if _is_word(s.word))
        return (loop - aligned) / speech, covered / speech

    def _reply(self, pcm: bytes, first: _Passes) -> _Passes | None:
        """For a short utterance while a yes / no question is open: a stop if the grammar
        search heard one or a stop word fits (:meth:`_stop_word`); else "yes" or "no" if the
        better-fitting of the two passes the command gate and fits better than the grammar's
        accepted command (if any); else None (decode as usual)."""
        if not first.reason:
            command = parse_command(first.text)
            if command is not None and command.intent == "stop":
                return first
        elif (stop := self._stop_word(pcm, first)) is not None:
            return stop
        answer = self._stop_word(pcm, first, REPLY_WORDS, "reply")
        if answer is None or not (first.reason or answer.gap < first.gap):
            return None
        return answer

    def _stop_word(self, pcm: bytes, first: _Passes, words=VERBS["stop"],
                   intent: str = "stop") -> _Passes | None:
        """The best-fitting stop word if it passes the stop gate, else None. For short
        utterances the grammar search did not accept (``first``): it loses some spoken stops to
        other short commands in noise, which forced alignment of the word still fits.
        ``words`` / ``intent``: other single words, judged by that intent's gate."""
        fits = [(word, *self._fit(pcm, word, first.loop, first.speech)) for word in words]
        fits = [f for f in fits if not np.isnan(f[1])]
        if not fits:
            return None
        word, gap, coverage = min(fits, key=lambda f: f[1])
        conf, reason = self.gate(intent, gap, coverage)
        # A clear margin: the robot's own impact sounds can force-align to a short word.
        if reason or conf < self.STOP_RESCUE_MIN_CONF:
            return None
        return _Passes(word, "", conf, gap, coverage, first.speech, first.loop)
