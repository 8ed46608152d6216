"""The synchronous baseline: the ApproximateTime policy of ROS message_filters (its Python
``ApproximateTimeSynchronizer``), re-implemented without ROS so the perception node can run it
side by side with the asynchronous pipeline.

Every input keeps a queue of its latest ``queue_size`` messages keyed by stamp. When a message
arrives, each other input is searched for messages within ``slop`` of its stamp; if every input
has one, the combination closest to the new message whose whole spread is below ``slop`` is
emitted (one message per input) and those messages leave their queues. While any input is
silent nothing is ever emitted.
"""

from __future__ import annotations

import itertools
from typing import Any


class ApproximateTimeSync:
    def __init__(self, inputs: list[str], slop_s: float, queue_size: int = 10):
        if slop_s <= 0:
            raise ValueError(f"slop must be > 0 s, got {slop_s}")
        self.inputs = list(inputs)
        self.slop_ns = int(slop_s * 1e9)
        self.queue_size = queue_size
        self.queues: dict[str, dict[int, Any]] = {k: {} for k in self.inputs}

    def add(self, key: str, stamp_ns: int, value: Any) -> dict[str, tuple[int, Any]] | None:
        """Queue one message; returns {input: (stamp_ns, value)} when it completes a set."""
        q = self.queues[key]
        q[stamp_ns] = value
        while len(q) > self.queue_size:
            del q[min(q)]
        candidates = []
        for other in self.inputs:
            if other == key:
                candidates.append([stamp_ns])
                continue
            near = sorted((s for s in self.queues[other] if abs(s - stamp_ns) <= self.slop_ns),
                          key=lambda s: abs(s - stamp_ns))
            if not near:
                return None
            candidates.append(near)
        for combo in itertools.product(*candidates):
            if max(combo) - min(combo) < self.slop_ns:
                out = {k: (s, self.queues[k].pop(s)) for k, s in zip(self.inputs, combo)}
                return out
        return None
