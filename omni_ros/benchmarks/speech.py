"""Speech benchmark: the teleop voice path (VAD -> grammar recogniser -> rejection gate ->
command parser) on synthetic speech, per voice preset and noise level, never as one number.

Each sentence is synthesised (espeak-ng), placed in a microphone stream (0.5 s before, 0.6 s
after) with the simulated microphone's background (Gaussian, std 0.002 full scale) plus white
noise at the given SNR (relative to the mean power of the synthesised speech), quantised to
int16 and fed to a fresh VAD in 20 ms chunks, as the sim bridge publishes it. A command counts
as right when exactly one command is accepted and its intent and target equal those of the
sentence (parse_command); a false accept is any accepted command in an out-of-grammar stream.
Decode time is reported as a ratio to the utterance's duration (real-time factor).
"""

from __future__ import annotations

import numpy as np
from omni_ros_sim.tts import VOICES, voice_preset

from ..core.labels import COLOURS, SHAPES
from ..core.speech.audio import SAMPLE_RATE, VoiceActivityDetector
from ..core.speech.commands import parse_command
from ..core.speech.recognizer import CommandRecognizer
from .voices import BACKGROUND_STD, stream

CHUNK = 320              # 20 ms at 16 kHz
SNRS_DB = (None, 20.0, 10.0)  # None: clean speech over the background only
GAP_SWEEP = (4.0, 6.0, 8.0, 10.0, 12.0, 16.0)

COMMANDS = tuple(f"pick up the {c} {s}" for c in COLOURS for s in SHAPES) + (
    "put it here", "put it there", "put it down there", "place the red cube there", "drop it",
    "move here", "go there", "go home", "stop", "halt", "grab the blue ball", "pick up this one",
    "take the green block", "lift the yellow sphere")
OUT_OF_GRAMMAR = (
    "what time is it", "the weather is nice today", "open the door", "I like green apples",
    "hello there how are you", "turn on the lights", "where is my phone", "thank you very much",
    "can you hear me", "this is a test", "play some music", "it is very cold outside",
    "my name is robot", "I am going to the shop", "please close the window", "how old are you",
    "the red car is fast", "put the kettle on", "where are my keys", "good morning everyone")


def _key(text: str):
    c = parse_command(text)
    return None if c is None else (c.intent, c.target_description)


def _speech_bounds(x: np.ndarray) -> tuple[int, int]:
    """First and last sample of the synthesised speech (above -40 dB of its peak)."""
    idx = np.flatnonzero(np.abs(x) > 0.01 * np.max(np.abs(x)))
    return int(idx[0]), int(idx[-1]) + 1


def _stream(speech: np.ndarray, snr_db: float | None, rng: np.random.Generator) -> np.ndarray:
    """int16 microphone stream: 0.5 s background, speech, 0.6 s; white noise at ``snr_db``."""
    return stream(speech, None if snr_db is None else "white", snr_db, rng, [], 0.5, 0.6)


def _trial(rec: CommandRecognizer, speech: np.ndarray, snr_db, rng) -> dict:
    """One stream through VAD and recogniser: every utterance's recognition, VAD timings [s]."""
    lead = int(0.5 * SAMPLE_RATE)
    s0, s1 = _speech_bounds(speech)
    audio = _stream(speech, snr_db, rng)
    vad = VoiceActivityDetector()
    ns = 1_000_000_000
    utts = []
    for i in range(0, len(audio), CHUNK):
        for u in vad.push(audio[i:i + CHUNK], i * ns // SAMPLE_RATE):
            emitted_s = (i + CHUNK) / SAMPLE_RATE  # the chunk that completed it has arrived
            utts.append((u, rec.recognize(u.samples), emitted_s))
    true_end = (lead + s1) / SAMPLE_RATE
    return {"recognitions": [r for _, r, _ in utts],
            "start_error_s": [u.start_ns / ns - (lead + s0) / SAMPLE_RATE for u, _, _ in utts],
            "end_error_s": [u.end_ns / ns - true_end for u, _, _ in utts],
            "end_latency_s": [t - true_end for _, _, t in utts],
            "utterance_s": [len(u.samples) / SAMPLE_RATE for u, _, _ in utts]}


def _median(values, absolute: bool = False) -> float:
    v = np.abs(values) if absolute else np.asarray(values)
    return float(np.median(v)) if len(v) else float("nan")


def _cell(rec: CommandRecognizer, commands: list, oog: list, snr_db, rng) -> tuple[dict, list]:
    """One voice x SNR cell over (text, speech) pairs: its statistics, and (kind, reference,
    [(key, gap, coverage)]) per stream for the threshold sweep."""
    right = raw_right = false_acc = raw_false = second_right = second_false = 0
    decode_ms, rtf, latency, start_err, end_err, errors, sweep = [], [], [], [], [], [], []
    for kind, table in (("command", commands), ("oog", oog)):
        for text, speech in table:
            t = _trial(rec, speech, snr_db, rng)
            recs, ref = t["recognitions"], _key(text)
            decode_ms += [r.decode_ms for r in recs]
            rtf += [r.decode_ms / 1e3 / d for r, d in zip(recs, t["utterance_s"])]
            sweep.append((kind, ref, [(_key(r.text), r.gap, r.coverage) for r in recs]))
            accepted = [_key(r.text) for r in recs if r.accepted]
            ungated = [k for k in (_key(r.text) for r in recs) if k is not None]
            second = any(r.accepted and r.retried for r in recs)
            if kind == "oog":
                false_acc += bool(accepted)
                raw_false += bool(ungated)
                second_false += second
                continue
            latency += t["end_latency_s"]
            start_err += t["start_error_s"]
            end_err += t["end_error_s"]
            right += accepted == [ref]
            second_right += second and accepted == [ref]
            raw_right += ungated == [ref]
            if accepted != [ref]:
                errors.append(f"{text!r} -> " + (" | ".join(
                    repr(r.text) + ("" if r.accepted else f" (rejected: {r.reason})") for r in recs)
                    or "no utterance"))
    n_cmd, n_oog = len(commands), len(oog)
    return {"snr_db": snr_db, "commands": n_cmd, "out_of_grammar": n_oog,
            "accuracy": right / n_cmd, "accuracy_without_gate": raw_right / n_cmd,
            "false_accept_rate": false_acc / n_oog, "false_accept_rate_without_gate": raw_false / n_oog,
            "right_after_retry": second_right / n_cmd, "false_after_retry": second_false / n_oog,
            "decode_ms_median": _median(decode_ms), "real_time_factor_median": _median(rtf),
            "vad_end_latency_s_median": _median(latency),
            "vad_end_latency_s_max": float(np.max(latency)) if latency else float("nan"),
            "vad_start_error_s_median": _median(start_err, absolute=True),
            "vad_end_error_s_median": _median(end_err, absolute=True), "errors": errors}, sweep


def run(voices: tuple[str, ...] | None = None, snrs_db=SNRS_DB, repeats: int = 2,
        seed: int = 0) -> dict:
    """Accuracy, false accepts, decode time and VAD timing per voice preset x SNR; every
    sentence ``repeats`` times per cell (synthesised anew: espeak-ng varies a little from call
    to call; and with fresh noise)."""
    presets = [voice_preset(v) for v in voices] if voices else list(VOICES)
    rec = CommandRecognizer()
    rng = np.random.default_rng(seed)
    cells, sweep = [], []
    for preset in presets:
        commands = [(t, preset.synthesize(t)) for _ in range(repeats) for t in COMMANDS]
        oog = [(t, preset.synthesize(t)) for _ in range(repeats) for t in OUT_OF_GRAMMAR]
        for snr in snrs_db:
            cell, rows = _cell(rec, commands, oog, snr, rng)
            cells.append({"voice": preset.name, "espeak_voice": preset.voice,
                          "rate_wpm": preset.rate_wpm, **cell})
            sweep += rows
    return {"voices": [p._asdict() for p in presets], "snrs_db": list(snrs_db), "repeats": repeats,
            "gap_threshold": rec.gap_threshold, "min_coverage": rec.min_coverage,
            "denoise_below_db": rec.denoise_below_db, "retry_warps": [w for w, _ in rec.retry],
            "retry_min_f0_hz": rec.retry_min_f0_hz, "retry_gap_threshold": rec.retry_gap_threshold,
            "agree_gap_threshold": rec.agree_gap_threshold,
            "cells": cells, "gap_sweep": _sweep(rec, sweep)}


def _sweep(rec: CommandRecognizer, raw: list) -> list[dict]:
    """Accuracy and false-accept rate over all cells if the gate's gap threshold were each of
    GAP_SWEEP (the same recordings re-gated; the threshold is chosen from this table)."""
    rows = []
    for thr in GAP_SWEEP:
        right = n_cmd = fa = n_oog = 0
        for kind, ref, recs in raw:
            acc = [k for k, gap, cov in recs
                   if k is not None and np.isfinite(gap) and not rec.gate(k[0], gap, cov, thr)[1]]
            if kind == "command":
                n_cmd += 1
                right += acc == [ref]
            else:
                n_oog += 1
                fa += bool(acc)
        rows.append({"gap_threshold": thr, "accuracy": right / max(n_cmd, 1),
                     "false_accept_rate": fa / max(n_oog, 1)})
    return rows


def markdown(r: dict) -> str:
    snr = lambda s: "clean" if s is None else f"{s:g} dB"  # noqa: E731
    c0 = r["cells"][0]
    lines = ["## Speech (VAD -> pocketsphinx grammar -> rejection gate -> parser)", "",
             "Synthetic espeak-ng voices over the sim microphone's background noise "
             f"(std {BACKGROUND_STD} full scale) plus white noise at the SNR shown; "
             f"{c0['commands']} command and {c0['out_of_grammar']} out-of-grammar utterances per "
             f"cell ({len(COMMANDS)} and {len(OUT_OF_GRAMMAR)} sentences, {r['repeats']} takes each), "
             "each streamed through the VAD in 20 ms chunks. Synthetic voices are not people: "
             "read the cells, not an average.", "",
             "| voice | SNR | command accuracy | of it on the second look | without gate | false accepts "
             "| of it on the second look | without gate | decode ms (median) | decode / utterance duration |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in r["cells"]:
        lines.append(f"| {c['voice']} ({c['espeak_voice']}, {c['rate_wpm']} wpm) | {snr(c['snr_db'])} "
                     f"| {c['accuracy']:.0%} | {c['right_after_retry']:.0%} "
                     f"| {c['accuracy_without_gate']:.0%} "
                     f"| {c['false_accept_rate']:.0%} | {c['false_after_retry']:.0%} "
                     f"| {c['false_accept_rate_without_gate']:.0%} "
                     f"| {c['decode_ms_median']:.0f} | {c['real_time_factor_median']:.3f} |")
    lines += ["", f"Rejection gate: score gap per speech frame (phone loop minus forced alignment) "
              f"<= {r['gap_threshold']:g} and the command's words spanning >= {r['min_coverage']:.0%} "
              f"of the speech (stop: twice the gap, any span); audio under an estimated "
              f"{r['denoise_below_db']:g} dB SNR is denoised first. Second look: a rejected "
              f"utterance with a median pitch above {r['retry_min_f0_hz']:g} Hz is decoded again "
              "with non-rhotic pronunciations added and the frequencies warped by "
              f"{', '.join(f'{w:g}' for w in r['retry_warps'])} (VTLN), accepted under a gap of "
              f"{r['retry_gap_threshold']:g}, or when all decoders heard the same command within "
              f"{r['agree_gap_threshold']:g}. The same recordings re-gated at other gap thresholds "
              "(all cells; second-look results at the same threshold):", "",
              "| gap threshold | command accuracy | false accepts |", "|---:|---:|---:|"]
    for s in r["gap_sweep"]:
        lines.append(f"| {s['gap_threshold']:g} | {s['accuracy']:.0%} | {s['false_accept_rate']:.0%} |")
    lines += ["", "VAD on the command streams: |start error| and |end error| against the synthesised "
              "speech, and end latency = time the utterance reaches the recogniser minus the end of "
              "the speech (hangover 0.2 s). A spoken \"stop\" takes this plus its decode time.", "",
              "| voice | SNR | start error s (median) | end error s (median) | end latency s (median / max) |",
              "|---|---|---:|---:|---:|"]
    for c in r["cells"]:
        lines.append(f"| {c['voice']} | {snr(c['snr_db'])} | {c['vad_start_error_s_median']:.3f} "
                     f"| {c['vad_end_error_s_median']:.3f} "
                     f"| {c['vad_end_latency_s_median']:.2f} / {c['vad_end_latency_s_max']:.2f} |")
    return "\n".join(lines) + "\n"
