"""Pairing operator commands with clicked points (no ROS; the teleop node feeds it).

A point clicked up to ``point_window_s`` before a command goes with it (one point serves one
command). A command that needs a point (a deictic one - "put it there" - or any place / move)
and has none waits up to ``point_wait_s`` for the next click, then is dropped. Stop and home
never wait: they are released at once and cancel a waiting command. Times are integer ns;
points are (3,) in the teleop frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..types import OperatorCommand
from .commands import DEFAULT, ParsedCommand, parse_command


def make_command(text: str, source: str, confidence: float, stamp_ns: int, lexicon=DEFAULT
                 ) -> tuple[OperatorCommand, ParsedCommand] | None:
    """The command in ``text`` (typed or heard), or None if it is not one (``lexicon``: as
    parse_command's)."""
    parsed = parse_command(text, lexicon)
    if parsed is None:
        return None
    return OperatorCommand(stamp_ns=stamp_ns, source=source, raw_text=text, intent=parsed.intent,
                           target_description=parsed.target_description,
                           confidence=float(confidence) * parsed.confidence), parsed


@dataclass
class PointPairing:
    frame_id: str
    point_window_s: float = 6.0
    point_wait_s: float = 3.0

    def __post_init__(self):
        self.points: list[tuple[int, np.ndarray]] = []            # (receive time, point)
        self.waiting: tuple[OperatorCommand, int] | None = None   # command awaiting a point

    def command(self, cmd: OperatorCommand, parsed: ParsedCommand, now_ns: int) -> list[OperatorCommand]:
        """A new command; returns those to publish now (none while it waits for a point)."""
        if parsed.intent in ("stop", "home"):
            self.waiting = None
            return [cmd]  # fast path: no point needed, nothing to wait for
        point = self._recent_point(now_ns)
        if point is not None:
            cmd.point, cmd.point_frame = point, self.frame_id
            return [cmd]
        if parsed.deictic or parsed.intent in ("place", "move"):
            self.waiting = (cmd, now_ns)
            return []
        return [cmd]

    def point(self, point: np.ndarray, now_ns: int) -> list[OperatorCommand]:
        """A clicked point; returns the waiting command it completes, if any."""
        self.points = (self.points + [(now_ns, np.asarray(point, float))])[-10:]
        return self.tick(now_ns)[0]

    def tick(self, now_ns: int) -> tuple[list[OperatorCommand], list[OperatorCommand]]:
        """(released, dropped): a waiting command that got its point, or that waited too long."""
        if self.waiting is None:
            return [], []
        cmd, since = self.waiting
        point = self._recent_point(now_ns) if self.points else None
        if point is not None:
            cmd.point, cmd.point_frame = point, self.frame_id
            self.waiting = None
            return [cmd], []
        if (now_ns - since) / 1e9 > self.point_wait_s:
            self.waiting = None
            return [], [cmd]
        return [], []

    def _recent_point(self, now_ns: int) -> np.ndarray | None:
        fresh = [p for t, p in self.points if 0 <= (now_ns - t) / 1e9 <= self.point_window_s]
        self.points = []  # a point serves one command
        return fresh[-1] if fresh else None
