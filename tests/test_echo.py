"""Echo cancelling (omni_ros.core.speech.echo): the robot's own phrase found in the microphone
stream at whatever delay it arrives, subtracted, nothing lost or reordered; a stop said over
the robot's voice is heard."""

from __future__ import annotations

import numpy as np
import pytest

from omni_ros.core.speech.echo import EchoCanceller, EchoConfig
from omni_ros.core.speech.tts import synthesize

SR = 16000
CHUNK = 1600  # the sim's 0.1 s microphone chunks
NS = 1_000_000_000


def _phrase():
    return synthesize("did you mean: pick up the red sphere?", "en-us+m3", 170).astype(float)


def _stream(voice, delay_s, gain=0.5, sent_s=0.5, tail_s=1.0, seed=0):
    """Microphone samples (int16-quantised, sim noise) with ``voice`` played ``delay_s`` after
    ``sent_s``; the echo alone, too."""
    rng = np.random.default_rng(seed)
    start = int((sent_s + delay_s) * SR)
    n = start + len(voice) + int(tail_s * SR)
    echo = np.zeros(n)
    echo[start:start + len(voice)] = gain * voice
    mic = np.rint((rng.standard_normal(n) * 0.002 + echo) * 32768) / 32768
    return mic, echo


def _run(ec, mic, said=None, t0_ns=0):
    """Push ``mic`` in chunks (the phrase said at ``said`` = (sample index, voice)); the output
    joined, its stamps, and the most samples ever held back."""
    out, stamps, held = [], [], 0
    for i in range(0, len(mic), CHUNK):
        if said is not None and i == said[0]:
            ec.said(t0_ns + said[0] * NS // SR, said[1])
        for x, t in ec.push(mic[i:i + CHUNK], t0_ns + i * NS // SR):
            stamps.append((t, len(x)))
            out.append(x)
        held = max(held, min(i + CHUNK, len(mic)) - sum(len(x) for x in out))
    return (np.concatenate(out) if out else np.zeros(0)), stamps, held


@pytest.mark.parametrize("delay_s", [0.0, 0.04, 0.3, 0.9])
def test_the_phrase_is_found_at_its_delay_and_cancelled(delay_s):
    voice = _phrase()
    mic, echo = _stream(voice, delay_s)
    ec = EchoCanceller(EchoConfig(), SR)
    out, stamps, held = _run(ec, mic, said=(SR // 2, voice))
    found, missed = ec.take_events()
    assert missed == [] and len(found) == 1
    f = found[0]
    assert f.start_ns - f.sent_ns == pytest.approx(delay_s * NS, abs=NS / SR)
    assert f.correlation > 0.99 and f.erle_db > 20
    # nothing lost or reordered: contiguous chunks covering every sample but the last held ones
    assert len(out) == len(mic) - held or len(out) == len(mic)
    assert all(t == a[0] + a[1] * NS // SR for a, (t, _) in zip(stamps, stamps[1:]))
    noise = mic - echo
    seg = slice(int((0.5 + delay_s) * SR), int((0.5 + delay_s) * SR) + len(voice))
    residual = out[seg] - noise[seg]
    erle = 10 * np.log10(np.sum(echo[seg] ** 2) / np.sum(residual ** 2))
    assert erle > 40, erle  # the sim's path is a delay and a gain: all but quantisation goes
    # held back at most while the phrase was looked for (its delay + the probe + a chunk)
    assert held <= (delay_s + EchoConfig().probe_s + 0.05) * SR + 2 * CHUNK


def test_a_phrase_never_heard_is_missed_and_nothing_is_held_after():
    voice = _phrase()
    rng = np.random.default_rng(1)
    mic = rng.standard_normal(5 * SR) * 0.002
    ec = EchoCanceller(EchoConfig(max_delay_s=1.0), SR)
    out, _, held = _run(ec, mic, said=(SR // 2, voice))
    found, missed = ec.take_events()
    assert found == [] and [m.sent_ns for m in missed] == [SR // 2 * NS // SR]
    assert missed[0].best_correlation < 0.2
    assert np.array_equal(out, mic)  # untouched, all of it released
    assert held <= (1.0 + EchoConfig().probe_s + 0.1) * SR + CHUNK
    assert len(ec.buf) <= CHUNK  # memory does not grow


def test_the_clock_going_back_restarts_the_stream_and_forgets_later_phrases():
    voice = _phrase()
    ec = EchoCanceller(EchoConfig(), SR)
    quiet = np.zeros(CHUNK)
    ec.push(quiet, 10 * NS)
    ec.said(10 * NS + NS // 10, voice)
    ec.push(quiet, 10 * NS + NS // 10)
    got = ec.push(quiet, 0)  # a sim reset: time 0 again
    assert got[-1][1] == 0 and len(got[-1][0]) == CHUNK  # the new stream, at once
    assert sum(len(x) for x, _ in got) == 2 * CHUNK  # and the old one's held chunk, not lost
    assert ec.phrases == []
    # and the next stream works from its own origin
    mic, _ = _stream(voice, 0.1, sent_s=0.5)
    _run(ec, mic, said=(SR // 2, voice), t0_ns=CHUNK * NS // SR)
    found, _ = ec.take_events()
    assert len(found) == 1


def test_operator_speech_over_the_robot_is_kept():
    """The operator talks over the robot: what comes out is the operator's speech (the robot's
    voice gone), correlation with the operator's waveform near 1."""
    from omni_ros_sim.tts import voice_preset

    voice = _phrase()
    mic, echo = _stream(voice, 0.2)
    op = voice_preset("us_male").synthesize("pick up the blue cube")
    at = int(1.2 * SR)
    mic[at:at + len(op)] += op
    ec = EchoCanceller(EchoConfig(), SR)
    out, _, _ = _run(ec, np.concatenate([mic, np.zeros(2 * SR)]), said=(SR // 2, voice))
    got = out[at:at + len(op)]
    assert np.corrcoef(got, op)[0, 1] > 0.97
    assert ec.take_events()[0][0].erle_db > 10


@pytest.mark.slow
def test_a_stop_said_over_the_robots_voice_is_heard():
    """The safety case: "stop" said 0.3, 0.8 or 1.3 s into the robot's "okay, picking up the
    purple cylinder" (three voices, the robot's voice as loud as the sim plays it) is decoded as
    a stop, and as nothing else, once the echo is cancelled; without cancelling most are not
    (measured 1 of 12 with four voices)."""
    from omni_ros.benchmarks.echo import heard
    from omni_ros.core.speech.asr import AsrConfig, make_recognizer
    from omni_ros_sim.tts import VOICES

    rec = make_recognizer(AsrConfig(backend="whisper"))
    voice = synthesize("okay, picking up the purple cylinder", "en-us+m3", 170).astype(float)
    raw = cancelled = 0
    for v in VOICES[:3]:
        for at_s in (0.3, 0.8, 1.3):
            mic, _ = _stream(voice, 0.15)
            stop = v.synthesize("stop")
            at = int((0.65 + at_s) * SR)
            mic[at:at + len(stop)] += stop
            mic = np.concatenate([mic, np.zeros(SR)])
            out, _, _ = _run(EchoCanceller(EchoConfig(), SR), mic, said=(SR // 2, voice))
            assert heard(rec, out) == ["stop"], (v.name, at_s)
            cancelled += 1
            raw += heard(rec, mic) == ["stop"]
    assert raw < cancelled / 2, raw


def test_phrases_on_another_clock_do_not_pile_up():
    """A microphone stamped by another clock (the phrases' times never come): audio flows on
    unheld, and at most ``keep`` phrases are remembered."""
    ec = EchoCanceller(EchoConfig(), SR, keep=8)
    voice = _phrase()
    for i in range(100):
        ec.said(10**15 + i * NS, voice)  # far in the stream's future
        got = ec.push(np.zeros(CHUNK), i * CHUNK * NS // SR)
        assert sum(len(x) for x, _ in got) == CHUNK
    assert len(ec.phrases) <= 8 and len(ec.buf) <= CHUNK


def test_a_gap_in_the_stream_keeps_the_found_phrase_in_place():
    """Half a second of microphone audio lost (a dropped backlog) after the phrase was found:
    the stream restarts at the next chunk and the phrase is still subtracted where it is."""
    voice = _phrase()
    mic, echo = _stream(voice, 0.1)
    ec = EchoCanceller(EchoConfig(), SR)
    lost = range(int(1.5 * SR), int(2.0 * SR))  # whole chunks
    out = {}
    for i in range(0, len(mic), CHUNK):
        if i == SR // 2:
            ec.said(NS // 2, voice)
        if i in lost:
            continue
        for x, t in ec.push(mic[i:i + CHUNK], i * NS // SR):
            for j in range(len(x)):
                out[t * SR // NS + j] = x[j]
    assert len(ec.take_events()[0]) == 1
    after = np.arange(int(2.0 * SR), int(0.6 * SR) + len(voice))  # the phrase after the gap
    residual = np.array([out[k] for k in after]) - (mic - echo)[after]
    # 39.7-41.6 dB measured (espeak-ng's output depends on what it said before in the
    # process); a phrase subtracted a few samples off its place leaves far more
    assert 10 * np.log10(np.sum(echo[after] ** 2) / np.sum(residual ** 2)) > 35
