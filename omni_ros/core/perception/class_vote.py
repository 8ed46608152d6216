"""Class evidence over time: a perceived object's shape and colour from its recent sightings.

A single camera frame can read an object's class wrong from one view (a short cylinder seen
from above looks like a cube at ~5 px), and in a static cell that view repeats frame after frame
only partly: the object head's answer flickers. :class:`ClassVote` gives each object of a new
frame the (shape, colour) with the largest summed confidence over its sightings in the last
``window_s`` seconds. Sightings are chained back frame by frame: the nearest object of the
previous frame within ``radius_m`` of the current position (base frame, metres), so an object
the arm carries keeps its evidence as long as it moves less than ``radius_m`` between frames.
Positions, sizes and everything else stay the frame's own; only shape, colour, id and
confidence (the winner's summed confidence over the chain's length) change.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace

import numpy as np

from ..types import ObjectEstimate

VOTE_RADIUS_M = 0.03  # an object's centre moves less than this between camera frames
MAX_FRAMES = 64       # a bound on the kept frames whatever the camera rate


class ClassVote:
    """Relabels each frame's objects by the class evidence of their recent sightings (see the
    module doc). ``window_s`` 0: every frame alone (objects returned unchanged)."""

    def __init__(self, window_s: float, radius_m: float = VOTE_RADIUS_M):
        self.window_ns = int(window_s * 1e9)
        self.radius_m = radius_m
        self.frames: deque[tuple[int, list[ObjectEstimate]]] = deque(maxlen=MAX_FRAMES)

    def __call__(self, objects: list[ObjectEstimate], stamp_ns: int) -> list[ObjectEstimate]:
        """The objects of the frame stamped ``stamp_ns`` [ns], relabelled; the frame (as
        perceived, not relabelled: a vote never feeds on votes) joins the history. A frame
        older than the newest kept one starts the history afresh (time went back)."""
        if self.window_ns <= 0:
            return objects
        if self.frames and stamp_ns < self.frames[-1][0]:
            self.frames.clear()
        while self.frames and stamp_ns - self.frames[0][0] > self.window_ns:
            self.frames.popleft()
        voted = [self._relabel(o) for o in objects]
        self.frames.append((stamp_ns, list(objects)))
        return voted

    def _relabel(self, obj: ObjectEstimate) -> ObjectEstimate:
        weight = {(obj.shape, obj.color): obj.confidence}
        at, sightings = obj.position, 1
        for _, frame in reversed(self.frames):
            if not frame:
                break
            dist = [float(np.linalg.norm(o.position - at)) for o in frame]
            j = int(np.argmin(dist))
            if dist[j] > self.radius_m:
                break
            seen = frame[j]
            key = (seen.shape, seen.color)
            weight[key] = weight.get(key, 0.0) + seen.confidence
            at, sightings = seen.position, sightings + 1
        shape, colour = max(weight, key=weight.get)
        if (shape, colour) == (obj.shape, obj.color) and sightings == 1:
            return obj
        return replace(obj, shape=shape, color=colour, id=f"{colour}_{shape}",
                       confidence=float(weight[(shape, colour)] / sightings))
