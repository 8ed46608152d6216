"""Per-input health book-keeping for nodes: counts, rates, latencies and rejection reasons.

Pure Python; nodes feed it from their callbacks and publish it on /diagnostics.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .errors import InputError

NS_PER_S = 1_000_000_000
MAX_FIELDS = 32  # distinct rejection fields kept per input; more are counted under "other"


@dataclass
class InputStats:
    """What one input (topic) delivered. Times are receive-clock nanoseconds."""

    name: str
    received: int = 0
    accepted: int = 0
    lost: int = 0  # messages the middleware reported lost before delivery (never received)
    rejected: Counter = field(default_factory=Counter)
    last_reason: str = ""
    bytes: int = 0
    first_ns: int | None = None
    last_ns: int | None = None
    latencies_s: list = field(default_factory=list)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def rate_hz(self) -> float:
        """Mean rate of received messages (good or bad) between the first and the last [Hz]."""
        if self.received < 2 or self.last_ns == self.first_ns:
            return 0.0
        return (self.received - 1) * NS_PER_S / (self.last_ns - self.first_ns)

    def latency_ms(self, q: float = 50.0) -> float:
        """Percentile ``q`` of stamp -> receive latency of accepted messages [ms]; NaN if none."""
        return float(np.percentile(self.latencies_s, q) * 1e3) if self.latencies_s else float("nan")


class HealthBook:
    """Health of every input of one node."""

    def __init__(self, names=(), max_latency_samples: int = 10_000):
        self.inputs: dict[str, InputStats] = {n: InputStats(n) for n in names}
        self._max_lat = max_latency_samples

    def stats(self, name: str) -> InputStats:
        """The stats of input ``name``, created empty on first use."""
        if name not in self.inputs:
            self.inputs[name] = InputStats(name)
        return self.inputs[name]

    def _receive(self, name: str, now_ns: int) -> InputStats:
        s = self.stats(name)
        s.received += 1
        s.first_ns = now_ns if s.first_ns is None else s.first_ns
        s.last_ns = now_ns
        return s

    def accept(self, name: str, now_ns: int, stamp_ns: int | None = None, nbytes: int = 0) -> None:
        s = self._receive(name, now_ns)
        s.accepted += 1
        s.bytes += nbytes
        if stamp_ns and len(s.latencies_s) < self._max_lat:
            s.latencies_s.append((now_ns - stamp_ns) / NS_PER_S)

    def lose(self, name: str, count: int) -> None:
        """Count ``count`` messages of input ``name`` that never arrived whole: the middleware
        reported them lost (e.g. a huge best-effort message some of whose fragments were
        dropped, or one overwritten before it was taken)."""
        self.stats(name).lost += max(0, int(count))

    def reject(self, name: str, now_ns: int, field: str, reason: str) -> None:
        s = self._receive(name, now_ns)
        if field not in s.rejected and len(s.rejected) >= MAX_FIELDS:
            field = "other"  # hostile input must not grow the book (pads[0] ... pads[99999])
        s.rejected[field] += 1
        s.last_reason = reason[:500]


class RateLimiter:
    """A token bucket per source: on average at most ``rate_hz`` events per second, in bursts
    of up to ``burst``. At most ``max_sources`` buckets are kept (further sources share one), so
    a flood of made-up source names cannot grow it. Times are integer nanoseconds."""

    def __init__(self, rate_hz: float, burst: int, max_sources: int = 16,
                 what: str = "commands", params: str = "command_rate_hz, command_burst"):
        self.rate_hz, self.burst, self.max_sources = float(rate_hz), float(burst), max_sources
        self.what, self.params = what, params  # for the rejection's text
        self._buckets: dict[str, tuple[float, int]] = {}  # source -> (tokens, last update [ns])

    def allow(self, source: str, now_ns: int) -> bool:
        """True (and one token spent) if ``source`` may pass an event at ``now_ns``."""
        if source not in self._buckets and len(self._buckets) >= self.max_sources:
            source = "other"
        tokens, last = self._buckets.get(source, (self.burst, now_ns))
        tokens = min(self.burst, tokens + max(0, now_ns - last) / NS_PER_S * self.rate_hz)
        ok = tokens >= 1.0
        self._buckets[source] = (tokens - 1.0 if ok else tokens, now_ns)
        return ok

    def require(self, source: str, now_ns: int, exempt: bool = False) -> None:
        """Spend a token of ``source`` or raise InputError("rate", ...); ``exempt`` events (a
        stop) always pass and spend nothing."""
        if not exempt and not self.allow(source, now_ns):
            raise InputError("rate", f"more than {self.rate_hz:g} {self.what}/s from {source!r} "
                             f"({self.params})")
