"""Which voice-activity detector cuts the microphone stream (``vad`` parameter): frame
classifiers for :class:`.audio.VoiceActivityDetector`.

    vad = make_vad("silero")                   # or "energy", "webrtc"
    for utt in vad.push(chunk, stamp_ns): ...

``energy`` compares each 20 ms frame's energy with an adaptive noise floor (no model; fooled by
non-stationary noise: under pink noise or background talk it may never end an utterance).
``webrtc`` is WebRTC's GMM speech detector (package ``webrtcvad-wheels``; 20 ms frames,
``aggressiveness`` 0-3). ``silero`` is the Silero VAD network (package ``silero-vad``, its
TorchScript model from the wheel; 32 ms frames), which tells speech from most noise. A
classifier gives each frame a speech probability; an utterance starts at ``threshold`` and
continues while frames stay above ``threshold`` - HYSTERESIS.
"""

from __future__ import annotations

import numpy as np

from ..config import ConfigError
from .audio import SAMPLE_RATE, VoiceActivityDetector

VADS = ("energy", "webrtc", "silero")
HYSTERESIS = 0.15


class WebrtcFrames:
    """WebRTC VAD on 20 ms frames of 16 kHz audio: 1.0 (speech) or 0.0."""

    frame_s = 0.02
    threshold = 0.5

    def __init__(self, aggressiveness: int = 2):
        try:
            import webrtcvad
        except ImportError:
            raise ConfigError("vad 'webrtc' needs the package webrtcvad-wheels: pip install "
                              "webrtcvad-wheels") from None
        if aggressiveness not in (0, 1, 2, 3):
            raise ConfigError(f"vad aggressiveness {aggressiveness} must be 0, 1, 2 or 3")
        self.vad = webrtcvad.Vad(aggressiveness)

    def __call__(self, frame: np.ndarray) -> float:
        pcm = (np.clip(frame, -1, 1) * 32767).astype("<i2").tobytes()
        return float(self.vad.is_speech(pcm, SAMPLE_RATE))


class SileroFrames:
    """Silero VAD (TorchScript, one thread) on 32 ms frames of 16 kHz audio: speech
    probability. Stateful: frames must come in stream order."""

    frame_s = 0.032
    threshold = 0.5

    def __init__(self):
        try:
            import torch
            from silero_vad import load_silero_vad
        except ImportError:
            raise ConfigError("vad 'silero' needs the packages silero-vad and torch: pip "
                              "install silero-vad") from None
        self.torch = torch
        self.model = load_silero_vad()

    def __call__(self, frame: np.ndarray) -> float:
        with self.torch.inference_mode():
            return float(self.model(self.torch.as_tensor(frame, dtype=self.torch.float32),
                                    SAMPLE_RATE))


def make_vad(kind: str = "energy", sample_rate: int = SAMPLE_RATE, hangover_s: float = 0.2,
             **kwargs) -> VoiceActivityDetector:
    """A detector of ``kind`` (VADS) on a stream at ``sample_rate`` [Hz] (16 kHz for webrtc and
    silero); ``kwargs`` go to :class:`.audio.VoiceActivityDetector`."""
    if kind not in VADS:
        raise ConfigError(f"parameter 'vad' = {kind!r}: must be one of {', '.join(VADS)}")
    if kind == "energy":
        return VoiceActivityDetector(sample_rate=sample_rate, hangover_s=hangover_s, **kwargs)
    if sample_rate != SAMPLE_RATE:
        raise ConfigError(f"vad {kind!r} needs sample_rate {SAMPLE_RATE} Hz, got {sample_rate}")
    frames = WebrtcFrames() if kind == "webrtc" else SileroFrames()
    return VoiceActivityDetector(sample_rate=sample_rate, hangover_s=max(hangover_s, frames.frame_s),
                                 frame_s=frames.frame_s, classifier=frames, **kwargs)
