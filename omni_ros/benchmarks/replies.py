"""Answers to the robot's "did you mean ...?": spoken yes / no / stop while a question is open,
on the voices bench's two halves (its voices, its noise recordings and the same microphone
stream, VAD and Whisper path: :mod:`.voices`).

A trial is one word ("yes", "yeah", "no", or a stop word) by one voice in one condition (clean,
and every noise at 10 and 5 dB). Each utterance the detector cuts out is decided as teleop does
while a question is open (``whisper.recognition(..., reply=True)``). Right: exactly the word's
answer ("yeah" is "yes"; a stop word is a stop) and nothing else. "stop -> yes" counts spoken
stops that produced a "yes" (it would release the held motion: must be 0); "-> motion" counts
any motion command accepted. ``yes_margin`` (how far a "yes" that could be a stop must score
above the stop word) is chosen on the tuning half only (:func:`tune` refuses held-out trials).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from . import voices

WORDS = {"yes": "yes", "yeah": "yes", "no": "no", "stop": "stop", "halt": "stop", "freeze": "stop"}
CONDITIONS = [("clean", None)] + [(n, s) for n in voices.NOISES for s in (10.0, 5.0)]
YES_MARGINS = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, math.inf)
SEEDS = {"tuning": 3000, "held_out": 4000}


@dataclass
class Trial:
    half: str
    voice: str
    noise: str
    snr_db: float | None
    word: str
    heard: list  # what WhisperRecognizer.hear gave, per utterance


def record(half: str, hear, voice_names: tuple[str, ...] | None = None) -> list[Trial]:
    """Every word x voice x condition of ``half`` through the detector and ``hear``."""
    from ..core.speech.vad import make_vad

    all_voices = voices.HALVES[half][0]
    rng = np.random.default_rng(SEEDS[half])
    trials = []
    for v in all_voices:
        if voice_names is not None and v.name not in voice_names:
            continue
        others = [o for o in all_voices if o != v]
        for noise, snr in CONDITIONS:
            for word in WORDS:
                talkers = [others[i] for i in rng.permutation(len(others))]
                audio = voices.stream(v.synthesize(word), None if noise == "clean" else noise,
                                      snr, rng, talkers)
                vad = make_vad("silero", **voices.VAD_OPTIONS["silero"])
                heard = [hear(u.samples) for u in voices.utterances(audio, vad)]
                trials.append(Trial(half, v.name, noise, snr, word, heard))
    return trials


def outcome(trial: Trial, gate) -> list[str]:
    """What teleop would do with each utterance of ``trial``: "yes", "no", "stop", "motion"."""
    from ..core.speech.commands import parse_command
    from ..core.speech.whisper import recognition

    out = []
    for raw in trial.heard:
        r = recognition(raw, gate, reply=True)
        if r.accepted:
            out.append(r.text if r.text in ("yes", "no") else
                       "stop" if parse_command(r.text, None).intent == "stop" else "motion")
    return out


def score(trials: list[Trial], gate) -> dict:
    """Per condition (pooled over voices) and "all": answers right per kind, stop -> yes,
    anything -> motion."""
    cells: dict[str, dict] = {}
    for t in trials:
        got = outcome(t, gate)
        want = WORDS[t.word]
        for name in (t.noise if t.snr_db is None else f"{t.noise} {t.snr_db:g} dB", "all"):
            c = cells.setdefault(name, {k: 0 for k in ("yes", "yes_right", "no", "no_right",
                                                       "stop", "stop_right", "stop_to_yes",
                                                       "to_motion")})
            c[want] += 1
            c[f"{want}_right"] += got == [want]
            c["stop_to_yes"] += want == "stop" and "yes" in got
            c["to_motion"] += "motion" in got
    return cells


def tune(trials: list[Trial]) -> dict:
    """``yes_margin`` chosen on tuning trials: no spoken stop heard as "yes", then the most
    "yes" answers heard; ties go to the larger (stricter) margin."""
    from ..core.speech.whisper import Gate

    held = {t.half for t in trials} - {"tuning"}
    if held:
        raise ValueError(f"thresholds are chosen on the tuning half only; got {sorted(held)} "
                         "trials")
    best = None
    for m in YES_MARGINS:
        s = score(trials, Gate(yes_margin=m))["all"]
        cand = (s["stop_to_yes"] == 0, s["yes_right"], m)
        if best is None or cand > best[0]:
            best = (cand, {"yes_margin": m, "stop_to_yes": s["stop_to_yes"],
                           "tuning_yes_right": s["yes_right"], "tuning_yes": s["yes"]})
    return best[1]


def run(progress=print) -> dict:
    from ..core.speech.asr import AsrConfig
    from ..core.speech.whisper import WhisperRecognizer

    cfg = AsrConfig()
    rec = WhisperRecognizer(cfg.model_dir or None, gate=cfg.gate(), threads=cfg.threads,
                            context=cfg.context)
    trials = {}
    for half in ("tuning", "held_out"):
        trials[half] = record(half, rec.hear)
        progress(f"replies: {half}: {len(trials[half])} trials")
    tuned = tune(trials["tuning"])
    shipped = cfg.gate()
    return {"tuned": tuned, "shipped": {"yes_margin": shipped.yes_margin},
            "halves": {h: score(t, shipped) for h, t in trials.items()},
            "trials": {h: [asdict(t) | {"heard": len(t.heard)} for t in ts]
                       for h, ts in trials.items()}}


def markdown(result: dict) -> str:
    t = result["tuned"]
    lines = [f"`yes_margin` chosen on the tuning half: {t['yes_margin']:g} "
             f"(tuning: {t['tuning_yes_right']}/{t['tuning_yes']} yes heard, "
             f"{t['stop_to_yes']} stops heard as yes); shipped: "
             f"{result['shipped']['yes_margin']:g}.", ""]
    for half, cells in result["halves"].items():
        lines += [f"**{half.replace('_', '-')} half** (6 voices; yes+yeah, no, stop+halt+freeze):", "",
                  "| condition | yes heard | no heard | stop heard | stop → yes | → motion |",
                  "|---|---:|---:|---:|---:|---:|"]
        for name, c in sorted(cells.items(), key=lambda kv: kv[0] == "all"):  # "all" last
            lines.append(f"| {name} | {c['yes_right']}/{c['yes']} | {c['no_right']}/{c['no']} | "
                         f"{c['stop_right']}/{c['stop']} | {c['stop_to_yes']} | {c['to_motion']} |")
        lines.append("")
    return "\n".join(lines)
