"""The fleet's object memory: where any robot last saw an object, across robots and episodes.

Fed with every scene a robot sends up (objects in that robot's base frame, REP 103, metres) and
asked by description ("red cube"): the newest sighting of each matching object per robot,
newest first. Plain Python; the cloud process owns one.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass


@dataclass
class Sighting:
    robot: str
    object_id: str
    shape: str
    color: str
    position: list[float]     # [m] in the robot's base frame
    frame_id: str
    stamp_s: float            # the scene's stamp [s] (the robot's clock)
    received_s: float         # when the cloud got it [s, its wall clock]


class FleetMemory:
    """Thread-safe (Zenoh callbacks run on its threads). Keeps at most ``max_objects`` per robot
    (the oldest sightings are forgotten first) and ``max_robots`` robots."""

    def __init__(self, max_objects: int = 512, max_robots: int = 256):
        self.max_objects, self.max_robots = max_objects, max_robots
        self._lock = threading.Lock()
        self._seen: dict[str, dict[str, Sighting]] = {}
        self.scenes = 0

    def add_scene(self, robot: str, frame_id: str, stamp_s: float, objects, now_s: float) -> None:
        """``objects``: (id, shape, colour, position) of one scene's objects."""
        with self._lock:
            self.scenes += 1
            if robot not in self._seen and len(self._seen) >= self.max_robots:
                return
            mine = self._seen.setdefault(robot, {})
            for oid, shape, color, position in objects:
                mine.pop(oid, None)   # re-insert: dict order = oldest first
                mine[oid] = Sighting(robot, oid, shape, color, [float(v) for v in position],
                                     frame_id, stamp_s, now_s)
            while len(mine) > self.max_objects:
                mine.pop(next(iter(mine)))

    def find(self, description: str = "", robot: str = "") -> list[dict]:
        """Sightings whose shape and colour fit every word of ``description`` (empty: all), of
        ``robot`` (empty: every robot), newest first."""
        words = description.lower().split()
        with self._lock:
            found = [s for r, objs in self._seen.items() if not robot or r == robot
                     for s in objs.values()
                     if all(w in (s.shape, s.color) for w in words)]
        return [asdict(s) for s in sorted(found, key=lambda s: -s.received_s)]

    def robots(self) -> list[str]:
        with self._lock:
            return sorted(self._seen)
