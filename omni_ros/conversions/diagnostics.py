"""``diagnostic_msgs/DiagnosticArray`` from a node's :class:`~omni_ros.core.health.HealthBook`."""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from ..core.health import NS_PER_S, HealthBook
from .time import make_header


def health_to_diagnostics(book: HealthBook, node_name: str, now_ns: int,
                          stale_after_s: float | None = None) -> DiagnosticArray:
    """One status per input: STALE if silent for ``stale_after_s`` (default: the book's
    ``rates.stale_after_s``); WARN if its rate over the last ``rates.rate_window_s`` seconds is
    below ``rates.rate_warn_below`` of its nominal rate, or if anything was rejected; else OK."""
    rates = book.rates
    stale_after_s = rates.stale_after_s if stale_after_s is None else stale_after_s
    statuses = []
    for s in book.inputs.values():
        age = (now_ns - s.last_ns) / NS_PER_S if s.last_ns is not None else float("inf")
        slow = book.rate_problem(s.name, now_ns) if s.last_ns is not None else None
        if s.last_ns is None or age > stale_after_s:
            level, message = DiagnosticStatus.STALE, "no data" if s.last_ns is None else f"silent {age:.1f} s"
            if s.lost:  # sent, but never arrived whole: say where to look
                message += f" ({s.lost} lost in transport: too big for the link, or a lossy one?)"
        elif slow or s.rejected_total:
            level = DiagnosticStatus.WARN
            message = "; ".join(m for m in (
                slow, s.rejected_total and f"rejected {s.rejected_total}: {s.last_reason}") if m)
        else:
            level, message = DiagnosticStatus.OK, "ok"
        window = s.window_rate_hz(now_ns, rates.rate_window_s)
        nominal = book.nominal_hz(s.name)
        values = {"accepted": s.accepted, "rejected_total": s.rejected_total, "lost": s.lost,
                  "rate_hz": f"{s.rate_hz():.2f}",
                  "window_rate_hz": "nan" if window is None else f"{window:.2f}",
                  "rate_window_s": f"{rates.rate_window_s:g}",
                  "nominal_hz": f"{nominal:g}" if nominal else "",
                  "age_s": f"{age:.3f}",
                  **{f"rejected.{k}": v for k, v in sorted(s.rejected.items())}}
        statuses.append(DiagnosticStatus(
            level=level, name=f"{node_name}: {s.name}", message=message, hardware_id=node_name,
            values=[KeyValue(key=k, value=str(v)) for k, v in values.items()]))
    return DiagnosticArray(header=make_header("", now_ns), status=statuses)
