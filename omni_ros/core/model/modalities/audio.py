"""Audio modality: log-mel spectrogram (scipy STFT + a mel filter bank) and a 1-D conv net.

Input: the newest ``window_s`` of int16 samples (B, samples) of a 16 kHz mono microphone, as
20 ms ``AudioChunk``s arrive (50 Hz).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from scipy.signal import stft
from torch import nn

from ...config import param
from . import register
from .windows import Samples, Stream


@dataclass
class AudioModalityConfig:
    sample_rate: int = param(16000, "sample rate [Hz]", min=8000, max=48000)
    window_s: float = param(0.25, "newest audio per encoding [s]", min=0.02, max=5.0)
    frame_s: float = param(0.025, "STFT window [s]", min=0.005, max=0.1)
    hop_s: float = param(0.010, "STFT hop [s]", min=0.002, max=0.05)
    mels: int = param(32, "mel bands", min=8, max=128)
    fmin_hz: float = param(60.0, "lowest mel band edge [Hz]", min=0.0, max=1000.0)
    fmax_hz: float = param(7600.0, "highest mel band edge [Hz]", min=1000.0, max=24000.0)
    feature_dim: int = param(96, "feature width", min=8, max=1024)


def _hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)


def _mel_to_hz(m):
    return 700.0 * (10 ** (np.asarray(m) / 2595.0) - 1.0)


@functools.lru_cache(maxsize=8)
def mel_filterbank(sample_rate: int, n_fft: int, mels: int, fmin: float, fmax: float) -> np.ndarray:
    """(mels, n_fft // 2 + 1) triangular filters, equally spaced on the mel scale."""
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs - lower) / (centre - lower)
    down = (upper - freqs) / (upper - centre)
    return np.maximum(0.0, np.minimum(up, down)).astype(np.float32)


def log_mel(samples: np.ndarray, cfg: AudioModalityConfig) -> np.ndarray:
    """(B, mels, frames) log-mel energies of int16 (B, n) audio."""
    x = np.asarray(samples, np.float32) / 32768.0
    nper = int(round(cfg.frame_s * cfg.sample_rate))
    hop = int(round(cfg.hop_s * cfg.sample_rate))
    _, _, z = stft(x, fs=cfg.sample_rate, nperseg=nper, noverlap=nper - hop, boundary=None,
                   padded=False, axis=-1)
    power = np.abs(z) ** 2
    fb = mel_filterbank(cfg.sample_rate, nper, cfg.mels, cfg.fmin_hz, cfg.fmax_hz)
    return np.log(np.einsum("mf,bft->bmt", fb, power) + 1e-8).astype(np.float32)


def preprocess(batch: dict, cfg: AudioModalityConfig) -> dict:
    return {"log_mel": torch.as_tensor((log_mel(batch["audio"], cfg) + 12.0) / 4.0)}


STREAMS = (Stream("audio", "/audio", "omni_ros_msgs/msg/AudioChunk", "microphone_link", "audio:16000"),)


def window(cfg: AudioModalityConfig) -> Samples:
    return Samples("audio", int(round(cfg.window_s * cfg.sample_rate)))


@register("audio", AudioModalityConfig, preprocess, streams=STREAMS, window=window, max_age_s=0.2)
class AudioEncoder(nn.Module):
    cacheable = True

    def __init__(self, cfg: AudioModalityConfig):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(cfg.mels, 64, 3, padding=1), nn.GELU(), nn.MaxPool1d(2),
            nn.Conv1d(64, 64, 3, padding=1), nn.GELU())
        self.out = nn.Sequential(nn.Linear(128, cfg.feature_dim), nn.GELU())
        self.output_shape = {"feature": (cfg.feature_dim,)}

    def forward(self, inputs: dict) -> dict:
        h = self.net(inputs["log_mel"])
        return {"feature": self.out(torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1))}
