"""Per-stream bandwidth caps: a most-messages-per-second gate, image downscaling and cloud
thinning. Wall-clock seconds (what a network link sees), not sim time."""

from __future__ import annotations

import numpy as np


class RateCap:
    """Admits a stream's message when at least 1/rate seconds passed since the last one it
    admitted; rate 0 (or a stream it has no rate for, with ``default`` 0) admits every one.
    Counts what it admitted and skipped per stream (for diagnostics)."""

    def __init__(self, rates_hz: dict[str, float], default: float = 0.0):
        self.rates = dict(rates_hz)
        self.default = default
        self._last: dict[str, float] = {}
        self.admitted: dict[str, int] = {}
        self.skipped: dict[str, int] = {}

    def admit(self, key: str, now_s: float) -> bool:
        rate = self.rates.get(key, self.default)
        last = self._last.get(key)
        # (a small slack: a 10 Hz source capped at 10 Hz keeps every message despite jitter)
        ok = rate <= 0 or last is None or now_s - last >= 0.9 / rate
        if ok:
            self._last[key] = now_s
            self.admitted[key] = self.admitted.get(key, 0) + 1
        else:
            self.skipped[key] = self.skipped.get(key, 0) + 1
        return ok


def downscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Every ``factor``-th pixel in both axes (no filtering: depth stays metric); H x W [x C]."""
    return image if factor <= 1 else np.ascontiguousarray(image[::factor, ::factor])


def thin_points(points: np.ndarray, max_points: int) -> np.ndarray:
    """At most ``max_points`` rows of an N x K array, evenly spaced (0 = all)."""
    n = len(points)
    if max_points <= 0 or n <= max_points:
        return points
    return points[np.linspace(0, n - 1, max_points).astype(np.int64)]
