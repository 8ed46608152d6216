"""Voices-and-rooms speech benchmark, split into a tuning half and a held-out half.

Voices, noise recordings and sentences are each split in two (TUNING / HELD_OUT below). Every
threshold of the recogniser is chosen on the tuning half only (:func:`tune` refuses anything
else), and the held-out half is reported with the thresholds the recogniser ships with.

A trial is one sentence spoken by one espeak-ng voice (synthesised anew), put in a microphone
stream (1.5 s before, 0.8 s after: the detector has heard the room first) over the sim microphone's background, plus one noise type at
an SNR relative to the speech's mean power: white, pink (1/f), hum (a motor's mains harmonics
plus a fan's low-passed noise) or babble (other sentences by other voices of the same half,
overlapping, all through the stream). The stream goes through the VAD in 20 ms chunks, as the
sim bridge publishes it, and each utterance through the recogniser. A command is right when
exactly the sentence's command (intent and target, parse_command) is accepted and nothing else;
any command accepted in a non-command stream (near misses sharing words with commands, ordinary
sentences) is a false accept; "stop -> motion" counts spoken stops that produced any accepted
motion command (the safety invariant: must be 0). Decode time is reported per utterance second
on one core.
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass

import numpy as np
from omni_ros_sim.tts import HELD_OUT_VOICES, MORE_TUNING_VOICES, VOICES, VoicePreset

from ..core.speech.audio import SAMPLE_RATE, VoiceActivityDetector
from ..core.speech.commands import parse_command

BACKGROUND_STD = 0.002   # the sim microphone's noise (sim AudioConfig.noise_level)
CHUNK = 320              # 20 ms at 16 kHz
VAD_OPTIONS = {"silero": {"foreground_db": 6.0}, "webrtc": {"foreground_db": 6.0}}  # as teleop's
LEAD_S, TAIL_S = 1.5, 0.8  # room sound before and after the sentence [s]
NOISES = ("white", "pink", "hum", "babble")
SNRS_DB = (20.0, 10.0, 5.0)

# espeak-ng voices (omni_ros_sim.tts): accents (us, gb, scottish, caribbean, rp, welsh), sexes,
# klatt, 120-200 wpm. The first four tuned the pocketsphinx recogniser, so they are on the tuning
# side; the held-out side has the variants a user first tried (m1, m7, f4, f5, klatt).
TUNING_VOICES = VOICES + MORE_TUNING_VOICES

STOPS = ("stop", "halt", "freeze")   # in both halves: the invariant is checked everywhere
TUNING_COMMANDS = ("pick up the red cube", "pick up the blue ball", "grab the green block",
                   "put it down there", "move here", "go home", "take the yellow sphere",
                   "pick up the purple cylinder", "place the orange box there", "lift it")
HELD_OUT_COMMANDS = ("pick up the green cylinder", "grab the red ball", "pick the red cylinder up",
                     "put it here", "go there", "take the blue cube please",
                     "get the orange sphere", "set it down over there", "move to the purple one",
                     "pick up the yellow block")
# near misses share words with commands
TUNING_NEAR = ("pick up the phone", "take a picture", "put the kettle on", "go to sleep",
               "move the car", "pick a number", "put on your coat", "take a break",
               "the red one is mine", "grab a coffee", "set the table", "stop the music now please",
               "get some rest", "home sweet home", "place your order", "lift the mood")
HELD_OUT_NEAR = ("pick up the kids", "take the bus home", "put the blue shirt on", "go away",
                 "move over a bit", "pick your battles", "put it on my tab", "take it easy",
                 "the green light is on", "grab your jacket", "set an alarm", "drop me a line",
                 "get the door", "place the call", "lift the lid", "there is a red car here")
TUNING_ORDINARY = ("what time is it", "the weather is nice today", "hello there how are you",
                   "thank you very much", "can you hear me", "play some music")
HELD_OUT_ORDINARY = ("where are my keys", "good morning everyone", "how old are you",
                     "I am going to the shop", "it is very cold outside", "this is a test")
# babble: other voices reading these, never a sentence of either half's trials
BABBLE_TEXT = ("the meeting starts at nine in the big room", "we should order more paper soon",
               "did you see the game last night it was close", "my sister lives near the river",
               "the train was late again this morning", "lunch is ready in the kitchen")

HALVES = {"tuning": (TUNING_VOICES, TUNING_COMMANDS, TUNING_NEAR, TUNING_ORDINARY),
          "held_out": (HELD_OUT_VOICES, HELD_OUT_COMMANDS, HELD_OUT_NEAR, HELD_OUT_ORDINARY)}
SEEDS = {"tuning": 1000, "held_out": 2000}   # noise recordings differ between the halves


def key(text: str):
    c = parse_command(text, None)
    return None if c is None else (c.intent, c.target_description)


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-power 1/f noise."""
    spec = np.fft.rfft(rng.normal(size=n))
    f = np.arange(len(spec), dtype=float)
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0
    x = np.fft.irfft(spec, n)
    return x / np.sqrt(np.mean(x ** 2))


def hum(n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-power motor hum (mains 50 or 60 Hz and harmonics, random phases) plus fan noise
    (white noise low-passed at ~1 kHz), about equal in power."""
    from scipy.signal import butter, lfilter

    t = np.arange(n) / SAMPLE_RATE
    f0 = rng.choice([50.0, 60.0])
    tone = sum(rng.uniform(0.3, 1.0) / k * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 2 * np.pi))
               for k in range(1, 9))
    b, a = butter(2, rng.uniform(600, 1400) / (SAMPLE_RATE / 2))
    fan = lfilter(b, a, rng.normal(size=n))
    tone, fan = tone / np.sqrt(np.mean(tone ** 2)), fan / np.sqrt(np.mean(fan ** 2))
    x = tone + fan
    return x / np.sqrt(np.mean(x ** 2))


@functools.lru_cache(maxsize=16)
def _talk(v: VoicePreset) -> np.ndarray:
    return np.concatenate([np.concatenate([v.synthesize(s), np.zeros(SAMPLE_RATE // 5)])
                           for s in BABBLE_TEXT])


def babble(n: int, rng: np.random.Generator, voices: list[VoicePreset]) -> np.ndarray:
    """Unit-power background talk: two other voices reading BABBLE_TEXT, each looped over
    the stream from a random point."""
    out = np.zeros(n)
    for v in voices[:2]:
        talk = _talk(v)
        start = int(rng.integers(len(talk)))
        reps = int(np.ceil((n + start) / len(talk)))
        out += np.tile(talk, reps)[start:start + n]
    return out / np.sqrt(np.mean(out ** 2))


def stream(speech: np.ndarray, noise: str | None, snr_db: float | None, rng: np.random.Generator,
           others: list[VoicePreset], lead_s: float = LEAD_S, tail_s: float = TAIL_S) -> np.ndarray:
    """int16 microphone stream: ``lead_s``, the speech, ``tail_s``; the sim microphone's
    background plus ``noise`` at ``snr_db`` (``others``: the babble talkers)."""
    lead, tail = int(lead_s * SAMPLE_RATE), int(tail_s * SAMPLE_RATE)
    x = np.concatenate([np.zeros(lead), speech, np.zeros(tail)])
    x += rng.normal(0.0, BACKGROUND_STD, len(x))
    if noise is not None:
        n = len(x)
        shape = {"white": lambda: rng.normal(size=n), "pink": lambda: pink(n, rng),
                 "hum": lambda: hum(n, rng), "babble": lambda: babble(n, rng, others)}[noise]()
        power = float(np.mean(speech.astype(np.float64) ** 2))
        x += shape * np.sqrt(power / 10 ** (snr_db / 10))
    return np.clip(np.rint(x * 32768), -32768, 32767).astype(np.int16)


@dataclass
class Trial:
    """One stream: its half, voice, condition, sentence and kind (command, stop, near,
    ordinary), and per utterance the recogniser's raw output (``heard``: backend-specific,
    re-decidable) and its decode time per second of utterance."""

    half: str
    voice: str
    noise: str
    snr_db: float | None
    kind: str
    text: str
    heard: list
    decode_rtf: list


def utterances(audio: np.ndarray, vad=None):
    """The utterances ``vad`` (default: the energy detector) cuts out of a stream fed in 20 ms
    chunks, the one in progress at its end included."""
    vad = vad or VoiceActivityDetector()
    for i in range(0, len(audio), CHUNK):
        yield from vad.push(audio[i:i + CHUNK], i * 1_000_000_000 // SAMPLE_RATE)
    last = vad.flush()
    if last is not None:
        yield last


def conditions(quick: bool = False):
    """(noise, SNR) pairs: clean, and every noise at every SNR (quick: 10 dB only)."""
    return [("clean", None)] + [(n, s) for n in NOISES for s in ((10.0,) if quick else SNRS_DB)]


def record(half: str, hear, voices=None, quick: bool = False, seed_offset: int = 0,
           vad: str = "silero") -> list[Trial]:
    """Every trial of ``half`` through detector ``vad`` (a new one per stream) and ``hear``
    (utterance samples -> raw output)."""
    from ..core.speech.vad import make_vad

    all_voices, commands, near, ordinary = HALVES[half]
    voices = list(all_voices if voices is None else voices)
    rng = np.random.default_rng(SEEDS[half] + seed_offset)
    sentences = ([("command", t) for t in commands] + [("stop", t) for t in STOPS]
                 + [("near", t) for t in near] + [("ordinary", t) for t in ordinary])
    trials = []
    for v in voices:
        others = [o for o in all_voices if o != v]
        for noise, snr in conditions(quick):
            for kind, text in sentences:
                talkers = [others[i] for i in rng.permutation(len(others))]
                audio = stream(v.synthesize(text), None if noise == "clean" else noise, snr, rng,
                               talkers)
                heard, rtf = [], []
                for u in utterances(audio, make_vad(vad, **VAD_OPTIONS.get(vad, {}))):
                    t0 = time.perf_counter()
                    heard.append(hear(u.samples))
                    rtf.append((time.perf_counter() - t0) / (len(u.samples) / SAMPLE_RATE))
                trials.append(Trial(half, v.name, noise, snr, kind, text, heard, rtf))
    return trials


def score(trials: list[Trial], decide) -> list[dict]:
    """Per voice x condition: command accuracy, false accepts, stops heard and stops that
    became motions; ``decide(raw) -> (text, accepted)``."""
    cells: dict[tuple, dict] = {}
    for t in trials:
        c = cells.setdefault((t.voice, t.noise, t.snr_db), {
            "voice": t.voice, "noise": t.noise, "snr_db": t.snr_db, "commands": 0, "right": 0,
            "negatives": 0, "false_accepts": 0, "stops": 0, "stops_heard": 0,
            "stop_to_motion": 0, "rtf": []})
        accepted = [key(text) for text, ok in map(decide, t.heard) if ok]
        accepted = [a for a in accepted if a is not None]
        c["rtf"] += t.decode_rtf
        if t.kind in ("command", "stop"):
            c["commands"] += 1
            c["right"] += accepted == [key(t.text)]
        else:
            c["negatives"] += 1
            c["false_accepts"] += bool(accepted)
        if t.kind == "stop":
            c["stops"] += 1
            c["stops_heard"] += ("stop", "") in accepted
            c["stop_to_motion"] += any(a[0] != "stop" for a in accepted)
    out = []
    for c in cells.values():
        rtf = c.pop("rtf")
        c["accuracy"] = c["right"] / max(c["commands"], 1)
        c["false_accept_rate"] = c["false_accepts"] / max(c["negatives"], 1)
        c["decode_rtf_median"] = float(np.median(rtf)) if rtf else float("nan")
        c["decode_rtf_p90"] = float(np.percentile(rtf, 90)) if rtf else float("nan")
        out.append(c)
    return out


def summary(cells: list[dict]) -> dict:
    """Pooled over voices, per condition group: clean, each noise at 10 dB, all noisy cells."""
    def pool(sel):
        sel = list(sel)
        n = sum(c["commands"] for c in sel)
        m = sum(c["negatives"] for c in sel)
        return {"accuracy": sum(c["right"] for c in sel) / max(n, 1),
                "false_accept_rate": sum(c["false_accepts"] for c in sel) / max(m, 1),
                "stop_to_motion": sum(c["stop_to_motion"] for c in sel),
                "stops_heard": sum(c["stops_heard"] for c in sel) / max(sum(c["stops"] for c in sel), 1),
                "decode_rtf_median": float(np.median([c["decode_rtf_median"] for c in sel]))}
    out = {"clean": pool(c for c in cells if c["noise"] == "clean"),
           "noisy": pool(c for c in cells if c["noise"] != "clean")}
    for n in NOISES:
        for s in SNRS_DB:
            sel = [c for c in cells if c["noise"] == n and c["snr_db"] == s]
            if sel:
                out[f"{n} {s:g} dB"] = pool(sel)
    return out


def trials_json(trials: list[Trial]) -> list[dict]:
    return [asdict(t) for t in trials]


# --- backends ----------------------------------------------------------------------------------

GRID = {"margin": (2.0, 4.0, 6.0, 8.0), "extra_words": (1, 2),
        "min_agreement": (0.0, 0.5, 0.75), "min_token_lp": (-1.5, -2.0, -2.5, -3.0, -5.0),
        "stop_margin": (2.0, 4.0, 6.0), "stop_floor": (-7.0, -8.0, -9.0, -10.0),
        "veto_below_stop": (0.0, 2.0, 4.0), "veto_margin": (0.0, 1.0, 2.0, 4.0)}
MAX_FALSE_CLEAN, MAX_FALSE_NOISY = 0.02, 0.05   # the bars, held on the tuning half


def whisper_decider(gate):
    """``raw`` (what WhisperRecognizer.hear gave) -> (text, accepted) under ``gate``."""
    from ..core.speech.whisper import recognition

    def d(raw):
        r = recognition(raw, gate)
        return r.text, r.accepted
    return d


def tune_whisper(trials: list[Trial]) -> dict:
    """The Whisper gate chosen on tuning trials: the best mean of clean and noisy accuracy
    with no spoken stop turned into a motion and false accepts within MAX_FALSE_CLEAN (clean)
    and MAX_FALSE_NOISY (noisy); ties go to the stricter gate. Held-out trials are an error:
    nothing is chosen on them."""
    import itertools

    from ..core.speech.whisper import Gate

    held = {t.half for t in trials} - {"tuning"}
    if held:
        raise ValueError(f"thresholds are chosen on the tuning half only; got {sorted(held)} "
                         "trials")
    best = None
    for m, e, a, t, sm, sf, vb, vm in itertools.product(*GRID.values()):
        gate = Gate(m, e, a, t, sm, sf, sf - vb, veto_margin=vm)
        s = summary(score(trials, whisper_decider(gate)))
        safe = s["clean"]["stop_to_motion"] + s["noisy"]["stop_to_motion"] == 0
        excess = (max(0.0, s["clean"]["false_accept_rate"] - MAX_FALSE_CLEAN)
                  + max(0.0, s["noisy"]["false_accept_rate"] - MAX_FALSE_NOISY))
        ok = safe and excess == 0
        acc = (s["clean"]["accuracy"] + s["noisy"]["accuracy"]) / 2
        # safety, then the false-accept bars (as close as possible), then accuracy; ties go
        # to the stricter gate
        cand = (safe, -round(excess, 6), round(acc, 6), -m, -e, a, t, -sm, sf, -vb, vm)
        if best is None or cand > best[0]:
            best = (cand, {**asdict(gate), "constraints_met": ok, "tuning_accuracy": acc})
    return best[1]


def hearer(backend: str):
    """``hear``: utterance samples -> raw output of ``backend`` (shipped settings)."""
    from ..core.speech.asr import AsrConfig

    cfg = AsrConfig()
    sphinx = whisper = None
    if backend in ("pocketsphinx", "both"):
        from ..core.speech.recognizer import CommandRecognizer
        sphinx = CommandRecognizer()
    if backend in ("whisper", "both"):
        from ..core.speech.whisper import WhisperRecognizer
        whisper = WhisperRecognizer(cfg.model_dir or None, gate=cfg.gate(), threads=cfg.threads,
                                    context=cfg.context)
    if backend == "pocketsphinx":
        return sphinx.recognize
    if backend == "whisper":
        return whisper.hear
    return lambda samples: (whisper.hear(samples), sphinx.recognize(samples))


def decider(backend: str):
    """raw output of ``backend`` -> (text, accepted) with the shipped settings."""
    from ..core.speech.asr import AsrConfig, combine
    from ..core.speech.whisper import recognition

    gate = AsrConfig().gate()
    if backend == "pocketsphinx":
        return lambda r: (r.text, r.accepted)
    if backend == "whisper":
        return whisper_decider(gate)

    def decide_both(raw):
        heard, sphinx = raw
        text, reason, _ = combine(recognition(heard, gate), sphinx)
        return text, not reason
    return decide_both


def run(backend: str = "whisper", quick: bool = False, vad: str = "silero",
        raw: str | None = None) -> dict:
    """Both halves through ``vad`` and ``backend`` (recorded, or loaded from the pickle
    ``raw`` when it exists; saved there otherwise), then :func:`report`."""
    import pickle
    from pathlib import Path

    if raw and Path(raw).exists():
        trials = pickle.loads(Path(raw).read_bytes())
    else:
        hear = hearer(backend)
        trials = {h: record(h, hear, quick=quick, vad=vad) for h in HALVES}
        if raw:
            Path(raw).parent.mkdir(parents=True, exist_ok=True)
            Path(raw).write_bytes(pickle.dumps(trials))
    return report(backend, trials, quick, vad)


def report(backend: str, trials: dict, quick: bool, vad: str) -> dict:
    """For whisper, the gate chosen on the tuning half next to the shipped one; both halves
    scored with the shipped settings (AsrConfig defaults), per voice x condition."""
    from ..core.speech.asr import AsrConfig

    decide = decider(backend)
    out = {"backend": backend, "vad": vad, "vad_options": VAD_OPTIONS.get(vad, {}),
           "quick": quick, "conditions": conditions(quick),
           "voices": {h: [v._asdict() for v in HALVES[h][0]] for h in HALVES}}
    if backend == "whisper":
        out["tuned"] = tune_whisper(trials["tuning"])
        out["shipped"] = asdict(AsrConfig().gate())
    for h in HALVES:
        cells = score(trials[h], decide)
        out[h] = {"cells": cells, "summary": summary(cells)}
    return out


TARGETS = (("clean", "accuracy", 0.95, True), ("white 10 dB", "accuracy", 0.85, True),
           ("pink 10 dB", "accuracy", 0.85, True), ("hum 10 dB", "accuracy", 0.85, True),
           ("babble 10 dB", "accuracy", 0.75, True), ("clean", "false_accept_rate", 0.02, False),
           ("noisy", "false_accept_rate", 0.05, False), ("clean", "decode_rtf_median", 0.3, False))


def markdown(r: dict) -> str:
    snr = lambda s: "clean" if s is None else f"{float(s):g} dB"  # noqa: E731
    held, tun = r["held_out"], r["tuning"]
    lines = [f"## Voices and rooms: {r['backend']} with the {r['vad']} detector", "",
             "Tuning half: voices " + ", ".join(v["name"] for v in r["voices"]["tuning"])
             + "; held-out half: " + ", ".join(f"{v['name']} ({v['voice']}, {v['rate_wpm']} wpm)"
                                                for v in r["voices"]["held_out"])
             + f". Sentences per voice and condition: {len(HELD_OUT_COMMANDS)} commands + "
             f"{len(STOPS)} stops, {len(HELD_OUT_NEAR)} near misses, {len(HELD_OUT_ORDINARY)} "
             "ordinary sentences (each half its own). Noise recordings differ between the halves "
             "(seeds; babble talkers are the half's other voices).", ""]
    if "tuned" in r:
        t, s = r["tuned"], r["shipped"]
        lines += ["Gate chosen on the tuning half (" + ("constraints met" if t["constraints_met"]
                  else "**constraints not met on the tuning half**") + "): "
                  + ", ".join(f"{k} {t[k]:g}" for k in s) + "; shipped: "
                  + ", ".join(f"{k} {v:g}" for k, v in s.items()) + ".", ""]
    lines += ["### Held-out half against the targets", "",
              "| condition | metric | target | held-out | tuning half |", "|---|---|---:|---:|---:|"]
    for cond, metric, bar, higher in TARGETS:
        h = held["summary"].get(cond, {}).get(metric, float("nan"))
        u = tun["summary"].get(cond, {}).get(metric, float("nan"))
        met = h >= bar if higher else h <= bar
        lines.append(f"| {cond} | {metric.replace('_', ' ')} | {'>=' if higher else '<='} {bar:g} "
                     f"| {'' if met else '**'}{h:.3f}{'' if met else '**'} | {u:.3f} |")
    stops = sum(held["summary"][k]["stop_to_motion"] for k in ("clean", "noisy"))
    lines += ["", f"Spoken stops turned into a motion, held-out half: **{stops}** (must be 0); "
              f"tuning half: {sum(tun['summary'][k]['stop_to_motion'] for k in ('clean', 'noisy'))}.",
              "", "### Held-out half, per voice x noise x SNR", "",
              "| voice | noise | SNR | command accuracy | false accepts | stops heard | stop -> motion "
              "| decode / utterance (median) |", "|---|---|---|---:|---:|---:|---:|---:|"]
    for c in sorted(held["cells"], key=lambda c: (c["voice"], NOISES.index(c["noise"])
                                                  if c["noise"] in NOISES else -1, -(c["snr_db"] or 99))):
        lines.append(f"| {c['voice']} | {c['noise']} | {snr(c['snr_db'])} | {c['accuracy']:.0%} "
                     f"| {c['false_accept_rate']:.0%} | {c['stops_heard']}/{c['stops']} "
                     f"| {c['stop_to_motion']} | {c['decode_rtf_median']:.2f} |")
    return "\n".join(lines) + "\n"
