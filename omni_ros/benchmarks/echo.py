"""Talking over the robot: the operator speaks while the robot's own voice is in the microphone,
with and without echo cancelling (:mod:`omni_ros.core.speech.echo`), through teleop's speech
path (the Silero detector, Whisper tiny.en, the shipped gate).

The robot says one of its phrases (espeak-ng, its default voice) into the microphone at a
loudspeaker gain (0.5: as the sim plays it; 1.0: louder than the operator) ``DELAY_S`` after
sending; a held-out voice of the voices bench says a stop word or a command ``AT_S`` into it.
"raw": the microphone as it is (the own-voice filter would then drop everything but a stop);
"cancelled": through :class:`.EchoCanceller`. Right: the stop heard as a stop (a stop said
over the robot must stop the arm), the command heard as itself, and the robot alone heard as
nothing. No parameter of the canceller was chosen on these trials (its defaults were set
before the bench), so every voice here is held out.
"""

from __future__ import annotations

import numpy as np

NS = 1_000_000_000
SR = 16000
CHUNK = 1600
PHRASES = ("okay, picking up the purple cylinder", "did you mean: pick up the red sphere?",
           "okay, going home")
GAINS = (0.5, 1.0)
AT_S = (0.3, 0.9)       # the operator starts this long after the robot's voice does [s]
DELAY_S = 0.15          # sending -> the robot's voice in the microphone [s]
STOPS = ("stop", "halt", "freeze")
COMMANDS = ("grab the red ball", "go there")


def _mic(robot: np.ndarray, gain: float, operator: np.ndarray | None, at_s: float,
         rng: np.random.Generator) -> np.ndarray:
    start = int((0.5 + DELAY_S) * SR)
    n = start + max(len(robot), int(at_s * SR) + (0 if operator is None else len(operator))) + SR
    x = rng.standard_normal(n) * 0.002
    x[start:start + len(robot)] += gain * robot
    if operator is not None:
        a = start + int(at_s * SR)
        x[a:a + len(operator)] += operator
    return np.rint(np.clip(x, -1, 1) * 32767) / 32768


def heard(rec, audio: np.ndarray) -> list[str]:
    """What teleop's detector + ``rec`` accept in ``audio`` (16 kHz float)."""
    from ..core.speech.vad import make_vad
    from .voices import VAD_OPTIONS

    vad = make_vad("silero", SR, 0.2, **VAD_OPTIONS["silero"])
    out = []
    for i in range(0, len(audio), CHUNK):
        for u in vad.push(audio[i:i + CHUNK].astype(np.float32), i * NS // SR):
            r = rec.recognize(u.samples)
            if r.accepted:
                out.append(r.text)
    last = vad.flush()
    if last is not None:
        r = rec.recognize(last.samples)
        if r.accepted:
            out.append(r.text)
    return out


def _cancelled(audio: np.ndarray, robot: np.ndarray):
    from ..core.speech.echo import EchoCanceller

    ec = EchoCanceller(sample_rate=SR)
    out = []
    for i in range(0, len(audio), CHUNK):
        if i == SR // 2:
            ec.said(NS // 2, robot)
        out += [x for x, _ in ec.push(audio[i:i + CHUNK], i * NS // SR)]
    found, _ = ec.take_events()
    return np.concatenate(out), (found[0].erle_db if found else None)


def run() -> dict:
    from omni_ros_sim.tts import HELD_OUT_VOICES

    from ..core.speech.asr import AsrConfig, make_recognizer
    from ..core.speech.tts import synthesize
    from .voices import key

    rec = make_recognizer(AsrConfig(backend="whisper"))
    rng = np.random.default_rng(7000)
    robot = {p: synthesize(p, "en-us+m3", 170).astype(float) for p in PHRASES}
    rows = {(kind, g): {"raw": 0, "cancelled": 0, "trials": 0, "raw_motion": 0,
                        "cancelled_motion": 0, "erle": []}
            for kind in ("stop", "command", "robot alone") for g in GAINS}
    for gain in GAINS:
        for phrase, voice in robot.items():
            cases = [("robot alone", None, None, 0.0)]
            cases += [("stop", v, w, at) for v in HELD_OUT_VOICES for w in STOPS for at in AT_S]
            cases += [("command", v, c, AT_S[1]) for v in HELD_OUT_VOICES for c in COMMANDS]
            for kind, v, words, at in cases:
                audio = _mic(voice, gain, None if v is None else v.synthesize(words), at, rng)
                clean, erle = _cancelled(audio, voice)
                row = rows[(kind, gain)]
                row["trials"] += 1
                if erle is not None:
                    row["erle"].append(erle)
                for name, x in (("raw", audio), ("cancelled", clean)):
                    got = [key(h) for h in heard(rec, x)]
                    want = [] if v is None else [key("stop" if kind == "stop" else words)]
                    row[name] += got == want
                    row[f"{name}_motion"] += kind != "command" and any(
                        g is not None and g[0] != "stop" for g in got)
    out = []
    for (kind, gain), r in rows.items():
        out.append({"kind": kind, "gain": gain, "trials": r["trials"], "raw": r["raw"],
                    "cancelled": r["cancelled"], "raw_motion": r["raw_motion"],
                    "cancelled_motion": r["cancelled_motion"],
                    "erle_db_median": float(np.median(r["erle"])) if r["erle"] else None,
                    "found": len(r["erle"])})
    return {"voices": [v.name for v in HELD_OUT_VOICES], "phrases": list(PHRASES),
            "delay_s": DELAY_S, "at_s": list(AT_S), "rows": out}


def markdown(r: dict) -> str:
    lines = [f"Held-out voices ({', '.join(r['voices'])}) talking over the robot's phrases "
             f"({'; '.join(repr(p) for p in r['phrases'])}), its voice {r['delay_s']:g} s after "
             f"sending, the operator {' / '.join(f'{a:g}' for a in r['at_s'])} s into it.",
             "Right: a stop heard as a stop, a command as itself, the robot alone as nothing. "
             "'-> motion': a motion command accepted where none was said.", "",
             "| said over the robot | robot's voice gain | right, raw | right, cancelled | "
             "-> motion raw / cancelled | phrases found | echo removed (median) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for row in r["rows"]:
        n = row["trials"]
        erle = "" if row["erle_db_median"] is None else f"{row['erle_db_median']:.0f} dB"
        lines.append(f"| {row['kind']} | {row['gain']:g} | {row['raw']}/{n} | "
                     f"**{row['cancelled']}/{n}** | {row['raw_motion']} / "
                     f"{row['cancelled_motion']} | {row['found']}/{n} | {erle} |")
    return "\n".join(lines) + "\n"
