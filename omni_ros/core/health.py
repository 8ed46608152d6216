"""Per-input health book-keeping for nodes: counts, rates, latencies and rejection reasons.

Pure Python; nodes feed it from their callbacks and publish it on /diagnostics.

Rates are judged over a sliding window (:class:`RateConfig`): the messages an input delivered
in the last ``rate_window_s`` seconds against its nominal rate, so a camera dropping from 15 to
5 Hz is a warning within a couple of seconds, long before it falls silent (:func:`rate_problem`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .config import param
from .errors import InputError

NS_PER_S = 1_000_000_000
MAX_FIELDS = 32  # distinct rejection fields kept per input; more are counted under "other"
MAX_ARRIVALS = 20_000  # receive times kept per input for its windowed rate


@dataclass
class RateConfig:
    """How /diagnostics judges each input's rate and silence (every field settable at run time)."""

    rate_window_s: float = param(3.0, "an input's rate on /diagnostics counts the messages of "
                                 "this last window [s]", min=0.5, max=60.0, runtime=True)
    rate_warn_below: float = param(0.7, "WARN when an input's windowed rate is below this "
                                   "fraction of its nominal rate (0: never)", min=0.0, max=1.0,
                                   runtime=True)
    stale_after_s: float = param(2.0, "an input silent this long is STALE [s]", min=0.1,
                                 max=3600.0, runtime=True)


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
    arrivals: deque = field(default_factory=deque)  # receive times [ns], the rate window's
    covered_ns: int | None = None  # every arrival after this time is in ``arrivals``

    def arrive(self, now_ns: int, window_s: float) -> None:
        """Note one message received at ``now_ns``; forget those older than ``window_s``."""
        if self.arrivals and now_ns < self.arrivals[-1]:  # the clock went back (sim reset)
            self.arrivals.clear()
            self.covered_ns = None
        if self.covered_ns is None:
            self.covered_ns = now_ns - 1
        self.arrivals.append(now_ns)
        cutoff = now_ns - int(window_s * NS_PER_S)
        while self.arrivals and self.arrivals[0] <= cutoff:
            self.arrivals.popleft()
        self.covered_ns = max(self.covered_ns, cutoff)
        if len(self.arrivals) > MAX_ARRIVALS:
            self.covered_ns = self.arrivals.popleft()

    def window_rate_hz(self, now_ns: int, window_s: float) -> float | None:
        """Messages received (good or bad) in the ``window_s`` seconds up to ``now_ns``, per
        second [Hz]; None until the input has been watched for a whole window since its first
        message (or since the clock went back)."""
        start = now_ns - int(window_s * NS_PER_S)
        if self.covered_ns is None or self.covered_ns > start:
            return None
        # one copy, taken in C under the GIL: a node's worker threads may append meanwhile
        times = list(self.arrivals)
        return (bisect_right(times, now_ns) - bisect_right(times, start)) / window_s

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


def rate_problem(stats: InputStats, now_ns: int, nominal_hz: float | None,
                 cfg: RateConfig) -> str | None:
    """Why the windowed rate of ``stats`` is too low against ``nominal_hz`` (the WARN's
    message), or None: fine, no nominal rate, or not watched for a whole window yet."""
    if not nominal_hz or cfg.rate_warn_below <= 0:
        return None
    rate = stats.window_rate_hz(now_ns, cfg.rate_window_s)
    if rate is None or rate >= cfg.rate_warn_below * nominal_hz:
        return None
    return (f"rate {rate:.1f} Hz over the last {cfg.rate_window_s:g} s, below "
            f"{cfg.rate_warn_below:.0%} of nominal {nominal_hz:g} Hz")


class HealthBook:
    """Health of every input of one node.

    ``rates``: how rates and silence are judged (a live config: changes apply at once);
    ``nominal``: each input's nominal rate [Hz], a mapping or an object with one attribute per
    input name (a config dataclass); inputs without one (or 0) are not rate-checked."""

    def __init__(self, names=(), max_latency_samples: int = 10_000,
                 rates: RateConfig | None = None, nominal: Any = None):
        self.inputs: dict[str, InputStats] = {n: InputStats(n) for n in names}
        self._max_lat = max_latency_samples
        self.rates = rates if rates is not None else RateConfig()
        self.nominal = nominal

    def nominal_hz(self, name: str) -> float | None:
        """The nominal rate of input ``name`` [Hz], or None."""
        if isinstance(self.nominal, Mapping):
            return self.nominal.get(name)
        return getattr(self.nominal, name, None) if self.nominal is not None else None

    def rate_problem(self, name: str, now_ns: int) -> str | None:
        """:func:`rate_problem` of input ``name`` against its nominal rate."""
        return rate_problem(self.stats(name), now_ns, self.nominal_hz(name), self.rates)

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
        s.arrive(now_ns, self.rates.rate_window_s)
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

    def configure(self, rate_hz: float | None = None, burst: int | None = None) -> None:
        """New limits from now on (buckets keep their tokens, capped at the new burst)."""
        if rate_hz is not None:
            self.rate_hz = float(rate_hz)
        if burst is not None:
            self.burst = float(burst)
            self._buckets = {k: (min(t, self.burst), n) for k, (t, n) in self._buckets.items()}

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
