"""Microphone: impact sounds by modal synthesis, background noise, and injected audio.

Each impact adds a decaying sum of the material's modes (frequency, amplitude) with amplitude
``impact_gain`` x impulse [N*s], starting at the impact's sample. Output: chunks of int16 mono
samples (full scale 32768), stamped with the time of their first sample.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import resample_poly

from ..config import AudioConfig
from ..scene import Material

NS_PER_S = 1_000_000_000
TAIL_S = 0.4  # synthesised length of one impact [s]


def modal_impact(material: Material, amplitude: float, sample_rate: int,
                 rng: np.random.Generator) -> np.ndarray:
    """One impact sound (float, full scale 1) of ``material``."""
    n = int(TAIL_S * sample_rate)
    t = np.arange(n) / sample_rate
    wave = np.zeros(n)
    for freq, rel in material.modes:
        if freq < sample_rate / 2:
            wave += rel * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
    wave *= np.exp(-material.decay * t)
    click = int(0.002 * sample_rate)  # 2 ms contact click
    wave[:click] += 0.3 * rng.standard_normal(click) * np.linspace(1, 0, click)
    return amplitude * wave


class Microphone:
    def __init__(self, cfg: AudioConfig, rng: np.random.Generator):
        self.cfg, self.rng = cfg, rng
        self.chunk = int(round(cfg.chunk_s * cfg.sample_rate))
        self.next_sample = 0                     # index of the first sample of the next chunk
        self.sources: list[tuple[int, np.ndarray]] = []  # (start sample, float waveform)

    def _sample_at(self, t_ns: int) -> int:
        return t_ns * self.cfg.sample_rate // NS_PER_S

    def add_impact(self, t_ns: int, material: Material, impulse: float) -> None:
        amp = self.cfg.impact_gain * impulse
        self.sources.append((self._sample_at(t_ns),
                             modal_impact(material, amp, self.cfg.sample_rate, self.rng)))

    def add_scrape(self, t_ns: int, material: Material, amplitude: float, duration_s: float) -> None:
        """``duration_s`` of an object scraping along a surface from ``t_ns``: the material's modes,
        phase-continuous across calls, under a random (rough-surface) envelope, plus broadband
        friction noise; ``amplitude`` (full scale 1) from the sliding speed."""
        sr = self.cfg.sample_rate
        start = self._sample_at(t_ns)
        t = (start + np.arange(max(1, int(round(duration_s * sr))))) / sr
        wave = sum(rel * np.sin(2 * np.pi * f * t) for f, rel in material.modes if f < sr / 2)
        wave = wave * self.rng.uniform(0.2, 1.0, len(t)) + 0.3 * self.rng.standard_normal(len(t))
        self.sources.append((start, amplitude * wave))

    def inject(self, t_ns: int, samples: np.ndarray, sample_rate: int) -> None:
        """Play ``samples`` (float, full scale 1) into the microphone from time ``t_ns``."""
        x = np.asarray(samples, float).reshape(-1)
        if sample_rate != self.cfg.sample_rate:
            g = np.gcd(int(sample_rate), self.cfg.sample_rate)
            x = resample_poly(x, self.cfg.sample_rate // g, int(sample_rate) // g)
        self.sources.append((self._sample_at(t_ns), x))

    def read(self, now_ns: int) -> list[tuple[int, np.ndarray]]:
        """Every chunk completed by ``now_ns``: [(stamp of first sample [ns], int16 samples)]."""
        out = []
        sr = self.cfg.sample_rate
        while self._sample_at(now_ns) >= self.next_sample + self.chunk:
            a, b = self.next_sample, self.next_sample + self.chunk
            x = self.rng.standard_normal(self.chunk) * self.cfg.noise_level
            for start, wave in self.sources:
                lo, hi = max(a, start), min(b, start + len(wave))
                if lo < hi:
                    x[lo - a:hi - a] += wave[lo - start:hi - start]
            self.sources = [(s, w) for s, w in self.sources if s + len(w) > b]
            pcm = np.clip(np.rint(x * 32768.0), -32768, 32767).astype(np.int16)
            out.append((a * NS_PER_S // sr, pcm))
            self.next_sample = b
        return out
