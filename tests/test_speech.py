"""Offline speech: espeak-ng synthesis, the voice-activity detector on a simulated microphone
stream, and the grammar recogniser with its rejection gate (real audio, no mocks)."""

import threading

import numpy as np
import pytest

from omni_ros.core.speech.commands import jsgf_grammar, parse_command
from omni_ros.core.speech.audio import (NS_PER_S, VoiceActivityDetector, estimate_snr_db, median_f0,
                                        onset_to_peak_s, spectral_subtract)
from omni_ros.core.speech.pronunciations import grammar_words, non_rhotic
from omni_ros.core.speech.recognizer import CommandRecognizer
from omni_ros_sim.tts import SAMPLE_RATE, VOICES, SpeechSynthesisError, synthesize, voice_preset

MIC_NOISE = 0.002   # the sim microphone's background noise std (full scale 1)
CHUNK = 320         # 20 ms at 16 kHz, as the sim publishes
TEST_VOICES = ("us_male", "us_male_m3")   # 12/12 on COMMANDS over synthesiser states
COMMANDS = ("pick up the red cube", "put it here", "stop")
OTHER_VOICES = ("gb_female", "us_female_fast")  # weaker: 4-10/12 on "stop" / "put it here"
OUT_OF_GRAMMAR = ("what time is it", "the weather is nice today", "open the door",
                  "I like green apples", "hello there how are you", "turn on the lights",
                  "my name is robot", "how old are you")


def speech_bounds(x):
    idx = np.flatnonzero(np.abs(x) > 0.01 * np.max(np.abs(x)))
    return idx[0], idx[-1] + 1


def rms(x):
    return float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)))


def mic_stream(speech, lead_s=1.0, tail_s=1.0, noise=MIC_NOISE, seed=0, snr_db=None):
    """int16 stream: noise, speech, noise (as the sim microphone publishes it); plus white noise
    at ``snr_db`` relative to the speech's power."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([np.zeros(int(lead_s * SAMPLE_RATE)), speech, np.zeros(int(tail_s * SAMPLE_RATE))])
    x = x + rng.normal(0, noise, len(x))
    if snr_db is not None:
        x += rng.normal(0, np.sqrt(np.mean(np.square(speech, dtype=np.float64)) / 10 ** (snr_db / 10)), len(x))
    return np.clip(np.rint(x * 32768), -32768, 32767).astype(np.int16)


def feed(vad, stream, chunk=CHUNK, t0_ns=0):
    """Push ``stream`` in chunks; [(utterance, time the completing chunk ended [s])]."""
    out = []
    for i in range(0, len(stream), chunk):
        part = stream[i:i + chunk]
        for u in vad.push(part, t0_ns + i * NS_PER_S // SAMPLE_RATE):
            out.append((u, (i + len(part)) / SAMPLE_RATE + t0_ns / NS_PER_S))
    return out


@pytest.fixture(scope="module")
def recognizer():
    return CommandRecognizer()


@pytest.fixture(scope="module")
def audio():
    """Every test utterance, synthesised up front in a fixed order: espeak-ng carries state from
    call to call, so this keeps the audio identical whichever tests run."""
    texts = [(t, v) for v in TEST_VOICES for t in COMMANDS]
    texts += [("pick up the red cube", v) for v in OTHER_VOICES]
    texts += [(t, "us_male") for t in OUT_OF_GRAMMAR + ("go home", "move here", "put it here")]
    texts += [("put it here", "gb_female"), ("pick up the red cube and put it down over there", "us_male")]
    cache = {(t, v): voice_preset(v).synthesize(t) for t, v in texts}
    return lambda text, voice="us_male": cache[text, voice]


# --- synthesis ----------------------------------------------------------------------------------

def test_tts_returns_16khz_float_audio_of_plausible_length(audio):
    x = audio("pick up the red cube")
    assert x.dtype == np.float32 and x.ndim == 1
    assert SAMPLE_RATE == 16000
    seconds = len(x) / SAMPLE_RATE
    assert 0.9 < seconds < 3.0, seconds          # five words at 140 words per minute
    assert 0.01 < rms(x) and float(np.max(np.abs(x))) <= 1.0
    assert len(audio("stop")) < len(x) < len(audio("pick up the red cube and put it down over there"))


def test_tts_voices_differ_and_repeat(audio):
    assert len(VOICES) >= 2 and len({(v.voice, v.rate_wpm) for v in VOICES}) == len(VOICES)
    a, b = audio("put it here", "us_male"), audio("put it here", "gb_female")
    assert abs(len(a) - len(b)) > 0.05 * len(a)          # 140 vs 160 words per minute
    again = voice_preset("us_male").synthesize("put it here")
    assert abs(len(again) - len(a)) < 0.01 * len(a)      # not bit-exact: see tts.py
    assert abs(np.std(again) - np.std(a)) < 0.05 * np.std(a)


def test_tts_is_safe_from_threads(audio):
    texts = ["go home", "stop", "move here", "pick up the blue ball"] * 2
    expected = [len(synthesize(t)) for t in texts]
    got = [None] * len(texts)

    def work(i):
        got[i] = synthesize(texts[i])
    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n, x in zip(expected, got):   # each call got its own, whole utterance
        assert abs(len(x) - n) < 0.03 * n and rms(x) > 0.01


def test_tts_rejects_bad_arguments(audio):
    with pytest.raises(SpeechSynthesisError, match="no voice"):
        synthesize("hello", voice="no-such-voice")
    with pytest.raises(ValueError):
        synthesize("hello", rate_wpm=5)
    with pytest.raises(ValueError, match="known"):
        voice_preset("robot")


# --- voice activity -----------------------------------------------------------------------------

@pytest.mark.parametrize("chunk", [CHUNK, 77, 1000])
def test_vad_finds_one_utterance_with_its_bounds(audio, chunk):
    speech = audio("pick up the red cube")
    s0, s1 = speech_bounds(speech)
    t0_ns = 5 * NS_PER_S
    found = feed(VoiceActivityDetector(), mic_stream(speech), chunk, t0_ns)
    assert len(found) == 1
    utt, emitted_s = found[0]
    start_s, end_s = 5.0 + 1.0 + s0 / SAMPLE_RATE, 5.0 + 1.0 + s1 / SAMPLE_RATE
    assert abs(utt.start_ns / NS_PER_S - start_s) < 0.1
    assert abs(utt.end_ns / NS_PER_S - end_s) < 0.1
    # the utterance is handed over within the 0.2 s hangover (+ one frame, + the chunk)
    assert emitted_s - end_s <= 0.2 + 0.02 + chunk / SAMPLE_RATE + 0.05
    assert utt.samples.dtype == np.float32
    assert abs(len(utt.samples) / SAMPLE_RATE - (emitted_s - utt.audio_start_ns / NS_PER_S)) < 0.1 + chunk / SAMPLE_RATE


def test_vad_accepts_float_chunks(audio):
    stream = mic_stream(audio("go home")).astype(np.float32) / 32768
    assert len(feed(VoiceActivityDetector(), stream)) == 1


@pytest.mark.parametrize("noise", [MIC_NOISE, 0.05])
def test_vad_ignores_stationary_noise(noise):
    stream = mic_stream(np.zeros(0), lead_s=3.0, tail_s=3.0, noise=noise, seed=3)
    assert feed(VoiceActivityDetector(), stream) == []


def test_vad_adapts_to_louder_noise_and_still_finds_speech(audio):
    rng = np.random.default_rng(4)
    speech = audio("move here")
    quiet = rng.normal(0, MIC_NOISE, 2 * SAMPLE_RATE)
    loud = rng.normal(0, 0.01, 6 * SAMPLE_RATE)          # the noise floor steps up 14 dB
    loud[4 * SAMPLE_RATE:4 * SAMPLE_RATE + len(speech)] += speech
    stream = np.concatenate([quiet, loud]).astype(np.float32)
    found = feed(VoiceActivityDetector(), stream)
    # at most one false start at the step; after that only the speech
    later = [u for u, _ in found if u.start_ns > 3 * NS_PER_S]
    assert len(found) <= 2 and len(later) == 1
    assert abs(later[0].start_ns / NS_PER_S - (6.0 + speech_bounds(speech)[0] / SAMPLE_RATE)) < 0.1


# --- recognition --------------------------------------------------------------------------------

@pytest.mark.parametrize("voice", TEST_VOICES)
@pytest.mark.parametrize("text", COMMANDS)
def test_recognizer_gets_commands_right(recognizer, audio, voice, text):
    utts = feed(VoiceActivityDetector(), mic_stream(audio(text, voice)))
    assert len(utts) == 1
    r = recognizer.recognize(utts[0][0].samples)
    assert r.accepted, r
    got, want = parse_command(r.text), parse_command(text)
    assert (got.intent, got.target_description) == (want.intent, want.target_description), r
    assert 0.5 <= r.confidence <= 1.0 and r.decode_ms > 0


@pytest.mark.parametrize("voice", OTHER_VOICES)
def test_recognizer_gets_a_pick_right_in_the_weaker_voices(recognizer, audio, voice):
    r = recognizer.recognize(mic_stream(audio("pick up the red cube", voice), 0.3, 0.3))
    assert r.accepted and parse_command(r.text).target_description == "red cube", r


def test_median_pitch_tells_low_voices_from_high_ones(audio):
    for voice, lo, hi in (("us_male", 80, 130), ("us_male_m3", 80, 130), ("gb_female", 200, 280),
                          ("us_female_fast", 180, 250)):
        f0 = median_f0(mic_stream(audio("pick up the red cube", voice), 0.3, 0.3) / 32768.0)
        assert lo < f0 < hi, (voice, f0)
    noise = np.random.default_rng(0).normal(0, MIC_NOISE, SAMPLE_RATE)
    assert np.isnan(median_f0(noise)) and np.isnan(median_f0(np.zeros(100)))


def test_high_voice_rejected_at_first_is_heard_on_the_second_look(recognizer, audio):
    """gb_female's "yellow cylinder" scores far from the phone loop with the American dictionary
    on the model's own frequency scale (rejected in 3 of 4 takes, measured); the second look
    (non-rhotic pronunciations, warped frequencies) accepts it (4 of 4)."""
    audio("stop")  # the fixture's audio first: espeak-ng carries state from call to call
    voice = voice_preset("gb_female")
    takes = [mic_stream(voice.synthesize("pick up the yellow cylinder"), 0.3, 0.3, seed=k)
             for k in range(3)]
    plain = [CommandRecognizer(retry_warps=()).recognize(x) for x in takes]
    second = [recognizer.recognize(x) for x in takes]
    assert all(not r.retried and np.isnan(r.f0_hz) for r in plain)
    right = [r for r in second
             if r.accepted and parse_command(r.text).target_description == "yellow cylinder"]
    assert len(right) >= 2 and len(right) > sum(r.accepted for r in plain), (plain, second)
    rescued = [(x, r) for x, r in zip(takes, second) if r.retried]
    assert rescued and all(r.accepted and r.f0_hz > 165 for _, r in rescued), second
    # the same audio with the second look limited to higher pitches: rejected
    x, r = rescued[0]
    high_bar = CommandRecognizer(retry_min_f0_hz=r.f0_hz + 1).recognize(x)
    assert not high_bar.accepted and not high_bar.retried
    with pytest.raises(ValueError, match="retry_warps"):
        CommandRecognizer(retry_warps=(3.0,))


def test_non_rhotic_pronunciations():
    assert non_rhotic("P ER P AH L") == "P AH P AH L"              # purple
    assert non_rhotic("S IH L AH N D ER") == "S IH L AH N D AH"    # cylinder
    assert non_rhotic("DH EH R") == "DH EH AH"                     # there
    assert non_rhotic("AO R AH N JH") == "AO R AH N JH"            # orange: a vowel follows
    assert non_rhotic("HH IY R") == "HH IY R"                      # here: kept (vs "sphere")
    words = grammar_words(jsgf_grammar())
    assert {"purple", "cylinder", "there", "stop", "please"} <= set(words)
    assert not {"public", "command", "grammar"} & set(words)


def test_recognizer_rejects_most_out_of_grammar_speech(recognizer, audio):
    results = [recognizer.recognize(mic_stream(audio(t), 0.3, 0.3)) for t in OUT_OF_GRAMMAR]
    accepted = [(t, r.text) for t, r in zip(OUT_OF_GRAMMAR, results) if r.accepted]
    assert len(accepted) <= 2, accepted
    assert all(r.reason and r.confidence < 0.5 for r in results if not r.accepted)
    assert all(not r.retried and not r.f0_hz > 165 for r in results)  # a low voice: no second look


def test_recognizer_is_deterministic_and_takes_int16_and_other_rates(recognizer, audio):
    x = mic_stream(audio("put it here"), 0.3, 0.3)
    a, b = recognizer.recognize(x), recognizer.recognize(x.astype(np.float32) / 32768)
    assert (a.text, a.gap) == (b.text, b.gap) and a.accepted
    rec22 = CommandRecognizer(sample_rate=22050)
    from scipy.signal import resample_poly
    c = rec22.recognize(resample_poly(x.astype(np.float64) / 32768, 441, 320))
    assert c.accepted and parse_command(c.text).intent == "place"


def test_spoken_stop_is_heard_in_noise(recognizer, audio):
    """At 20 dB SNR the grammar search alone misses about half of the stops (measured); the
    recogniser's stop-word check must catch them."""
    heard = []
    for voice in TEST_VOICES:
        for seed in range(3):
            stream = mic_stream(audio("stop", voice), seed=seed, snr_db=20.0)
            rs = [recognizer.recognize(u.samples) for u, _ in feed(VoiceActivityDetector(), stream)]
            heard.append(any(r.accepted and parse_command(r.text).intent == "stop" for r in rs))
    assert sum(heard) >= 5, heard


def test_the_robots_own_impact_sounds_are_not_speech(recognizer, audio):
    """Impacts as the sim microphone makes them (every material, soft to hard) were once heard
    as "halt"; they peak at their onset, speech does not."""
    from omni_ros_sim.scene import MATERIALS
    from omni_ros_sim.sensors.audio import modal_impact

    rng = np.random.default_rng(0)
    for material in MATERIALS.values():
        for amplitude in (0.05, 0.2, 0.5):
            x = mic_stream(np.clip(modal_impact(material, amplitude, SAMPLE_RATE, rng), -1, 1), 0.3, 0.3)
            r = recognizer.recognize(x)
            assert not r.accepted and "percussive" in r.reason, (material, amplitude, r)
    for voice in TEST_VOICES:
        assert onset_to_peak_s(mic_stream(audio("stop", voice), 0.3, 0.3) / 32768.0) >= 0.03


def test_recognizer_handles_empty_short_and_silent_audio(recognizer):
    for x, why in ((np.zeros(0, np.float32), "too short"), (np.zeros(800, np.float32), "too short"),
                   (np.zeros(SAMPLE_RATE, np.float32), "no signal")):
        r = recognizer.recognize(x)
        assert not r.accepted and why in r.reason and r.confidence == 0.0
    noise = np.random.default_rng(0).normal(0, MIC_NOISE, SAMPLE_RATE).astype(np.float32)
    assert not recognizer.recognize(noise).accepted


def test_spoken_stop_is_cut_within_0_3_s_of_its_end_and_decoded_as_stop(recognizer, audio):
    """In stream time (deterministic): the VAD hands "stop" over within 0.3 s of its last
    sample, and it decodes as a stop. The decode time on top (≈ 30 ms idle) is the speech
    bench's figure (`omni-ros bench --suite speech`), not a wall-clock assert here."""
    speech = audio("stop")
    end_s = 1.0 + speech_bounds(speech)[1] / SAMPLE_RATE
    (utt, emitted_s), = feed(VoiceActivityDetector(), mic_stream(speech))
    r = recognizer.recognize(utt.samples)
    assert r.accepted and parse_command(r.text).intent == "stop"
    assert emitted_s - end_s < 0.3, emitted_s - end_s


def test_denoising_lowers_the_noise_and_keeps_the_signal():
    rng = np.random.default_rng(1)
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = 0.3 * np.sin(2 * np.pi * 440 * t) * (t > 0.3) * (t < 0.7)
    noisy = (tone + rng.normal(0, 0.03, len(t))).astype(np.float32)
    assert estimate_snr_db(noisy) < 20 < estimate_snr_db(tone + rng.normal(0, MIC_NOISE, len(t)))
    clean = spectral_subtract(noisy)
    quiet, loud = (t < 0.25) | (t > 0.75), (t > 0.35) & (t < 0.65)
    assert clean.shape == noisy.shape and clean.dtype == np.float32
    assert rms(clean[quiet]) < 0.92 * rms(noisy[quiet])
    assert np.corrcoef(clean[loud], tone[loud])[0, 1] > 0.98


def test_speech_benchmark_cell_and_table():
    from omni_ros.benchmarks import speech

    r = speech.run(voices=("us_male",), snrs_db=(None,), repeats=1)
    (cell,) = r["cells"]
    assert cell["commands"] == len(speech.COMMANDS) and cell["out_of_grammar"] == len(speech.OUT_OF_GRAMMAR)
    assert cell["accuracy"] >= 0.9 and cell["false_accept_rate"] <= 0.2, cell["errors"]
    assert cell["false_accept_rate_without_gate"] >= 0.5        # what the gate is for
    assert 0 < cell["real_time_factor_median"] < 1 and cell["vad_end_latency_s_max"] < 0.3
    assert [s["gap_threshold"] for s in r["gap_sweep"]] == list(speech.GAP_SWEEP)
    table = speech.markdown(r)
    assert "| us_male (en-us, 140 wpm) | clean |" in table and "false accepts" in table


def test_recogniser_process_answers_as_the_recogniser_does_and_survives_its_child(recognizer, audio):
    """The teleop node's recogniser runs in a child process (pocketsphinx holds the GIL): same
    answers; a killed child is started again; a bad parameter fails at start; close() from
    another thread ends a waiting request."""
    from omni_ros.core.speech.asr import AsrConfig
    from omni_ros.core.speech.process import RecognizerProcess, RecognizerStopped

    SPHINX = AsrConfig(backend="pocketsphinx")  # as the fixture's recogniser

    x = mic_stream(audio("pick up the red cube"), 0.3, 0.3)
    here = recognizer.recognize(x)
    with RecognizerProcess(cfg=SPHINX) as rec:
        there = rec.recognize(x)
        assert (there.text, there.accepted, there.gap) == (here.text, here.accepted, here.gap)
        rec._proc.kill()
        rec._proc.wait()
        assert rec.recognize(x).text == here.text and rec.restarts == 1
    with pytest.raises(RecognizerStopped):
        rec.recognize(x)
    with pytest.raises(ValueError):
        RecognizerProcess(cfg=SPHINX, retry_warps=(3.0,))

    rec = RecognizerProcess(cfg=SPHINX)
    long_noise = np.random.default_rng(0).normal(0, 0.3, 16000 * 9).astype(np.float32)
    errors = []
    worker = threading.Thread(target=lambda: errors.append(_stopped(rec, long_noise, RecognizerStopped)))
    worker.start()
    rec.close()
    worker.join(60)
    assert not worker.is_alive() and errors in ([True], [False])
    assert rec._proc.poll() is not None


def _stopped(rec, x, stopped_error) -> bool:
    """True if the request was cut short by close(), False if it finished first."""
    try:
        rec.recognize(x)
        return False
    except stopped_error:
        return True
