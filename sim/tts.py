"""The sim's operator voices: named espeak-ng presets (accent, sex, variant, rate, pitch) for
tests, the demo and the speech benchmarks; synthesis itself is :mod:`omni_ros.core.speech.tts`.
Not human voices: report results per voice preset.

    audio = VOICES[1].synthesize("stop")                # float32, 16 kHz, full scale 1
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from omni_ros.core.speech.tts import SAMPLE_RATE, SpeechSynthesisError, synthesize

__all__ = ["SAMPLE_RATE", "SpeechSynthesisError", "synthesize", "VoicePreset", "VOICES",
           "MORE_TUNING_VOICES", "HELD_OUT_VOICES", "voice_preset"]


class VoicePreset(NamedTuple):
    """A named voice setting: espeak-ng ``voice``, speaking rate [words per minute], pitch [0..100]."""

    name: str
    voice: str
    rate_wpm: int
    pitch: int

    def synthesize(self, text: str) -> np.ndarray:
        """``text`` in this voice: float32 at 16 kHz."""
        return synthesize(text, self.voice, self.rate_wpm, self.pitch)


# Clearly different voices (accent, sex, timbre variant, rate, pitch), for per-voice results.
VOICES = (VoicePreset("us_male", "en-us", 140, 45),
          VoicePreset("us_male_m3", "en-us+m3", 160, 40),
          VoicePreset("gb_female", "en+f3", 160, 65),
          VoicePreset("us_female_fast", "en-us+f2", 175, 60))


# More voices for the voices bench (omni_ros.benchmarks.voices), which tunes on VOICES plus
# MORE_TUNING_VOICES and reports HELD_OUT_VOICES: the variants a user first tried (m1, m7, f4,
# f5, klatt) and a Welsh accent, 120-200 wpm.
MORE_TUNING_VOICES = (VoicePreset("scottish_m2", "en-gb-scotland+m2", 130, 45),
                      VoicePreset("caribbean_f1", "en-029+f1", 190, 55))
HELD_OUT_VOICES = (VoicePreset("us_m1", "en-us+m1", 150, 50),
                   VoicePreset("us_m7_slow", "en-us+m7", 120, 40),
                   VoicePreset("gb_f4", "en+f4", 165, 60),
                   VoicePreset("rp_f5_fast", "en-gb-x-rp+f5", 200, 70),
                   VoicePreset("us_klatt", "en-us+klatt", 145, 50),
                   VoicePreset("welsh_m4", "en-gb-x-gbcwmd+m4", 170, 35))


def voice_preset(name: str) -> VoicePreset:
    """The preset called ``name`` of VOICES, MORE_TUNING_VOICES or HELD_OUT_VOICES (ValueError
    lists the known names)."""
    known = VOICES + MORE_TUNING_VOICES + HELD_OUT_VOICES
    for v in known:
        if v.name == name:
            return v
    raise ValueError(f"unknown voice preset {name!r}; known: {[v.name for v in known]}")
