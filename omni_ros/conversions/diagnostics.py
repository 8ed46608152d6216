"""``diagnostic_msgs/DiagnosticArray`` from a node's :class:`~omni_ros.core.health.HealthBook`."""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from ..core.health import NS_PER_S, HealthBook
from .time import make_header


def health_to_diagnostics(book: HealthBook, node_name: str, now_ns: int,
                          stale_after_s: float = 2.0) -> DiagnosticArray:
    """One status per input: OK, WARN if anything was rejected, STALE if silent for too long."""
    statuses = []
    for s in book.inputs.values():
        age = (now_ns - s.last_ns) / NS_PER_S if s.last_ns is not None else float("inf")
        if s.last_ns is None or age > stale_after_s:
            level, message = DiagnosticStatus.STALE, "no data" if s.last_ns is None else f"silent {age:.1f} s"
            if s.lost:  # sent, but never arrived whole: say where to look
                message += f" ({s.lost} lost in transport: too big for the link, or a lossy one?)"
        elif s.rejected_total:
            level, message = DiagnosticStatus.WARN, f"rejected {s.rejected_total}: {s.last_reason}"
        else:
            level, message = DiagnosticStatus.OK, "ok"
        values = {"accepted": s.accepted, "rejected_total": s.rejected_total, "lost": s.lost,
                  "rate_hz": f"{s.rate_hz():.2f}", "age_s": f"{age:.3f}",
                  **{f"rejected.{k}": v for k, v in sorted(s.rejected.items())}}
        statuses.append(DiagnosticStatus(
            level=level, name=f"{node_name}: {s.name}", message=message, hardware_id=node_name,
            values=[KeyValue(key=k, value=str(v)) for k, v in values.items()]))
    return DiagnosticArray(header=make_header("", now_ns), status=statuses)
