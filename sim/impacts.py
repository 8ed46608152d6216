"""Impacts a robot really hears, staged before a randomised episode's task: an object dropped
from a few cm, set down hard, knocked over, or slid across the table.

The placing impacts of a pick-and-place are gentle (the gripper lowers the object to rest), so
most sound within 2-3x of the background noise and audio alone cannot tell the material. A
randomised cell (``RandomizeConfig.impact_count``) therefore opens with a few of these events,
``IMPACT_GAP_S`` apart; the world's contact detection turns each into an impact (loudness from the
impulse) and a slide into a scrape for as long as the object moves (``World._scrape``). The
scripted expert starts once every object has settled again.

Frames (REP 103): the robot base, x forward, y left, z up; metres, seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import RandomizeConfig
from .scene import SceneSpec, cell_rng

KINDS = ("drop", "set_down", "knock", "slide")
FIRST_S = 0.3          # first event after the episode start [s]
IMPACT_GAP_S = 0.7     # between events: the previous one has rung out [s]
SETTLE_S = 0.6         # after the last event, before the task starts [s]
KNOCK_TILT_RAD = np.radians(55.0)  # a knocked cube starts tipped past its balance point (45 deg)


@dataclass(frozen=True)
class Disturbance:
    """One staged event on object ``object_id`` at ``t_s`` after the episode start.

    drop: raised by ``height_m`` and released at rest; set_down: raised by ``height_m`` and
    released moving down at ``speed_m_s``; knock (cubes): tipped past its edge towards
    ``heading_rad`` so that it falls onto a side; slide (cubes, cylinders): pushed along the table
    towards ``heading_rad`` at ``speed_m_s``."""

    t_s: float
    kind: str
    object_id: str
    height_m: float = 0.0
    speed_m_s: float = 0.0
    heading_rad: float = 0.0


def kinds_for(shape: str) -> tuple[str, ...]:
    """The events that leave ``shape`` graspable: spheres and cylinders would roll away once
    knocked over, spheres once pushed."""
    return {"cube": KINDS, "cylinder": ("drop", "set_down", "slide")}.get(shape, ("drop", "set_down"))


def random_disturbances(seed: int, scene: SceneSpec, r: RandomizeConfig) -> tuple[Disturbance, ...]:
    """Episode ``seed``'s staged events: ``r.impact_count`` of them (drawn), each on a random
    object with a random kind it allows; heights 2-8 cm, set-down speeds 0.3-0.8 m/s, slide
    speeds 0.25-0.5 m/s (a few cm of travel on the table's friction)."""
    rng = cell_rng(seed, "impacts")
    lo, hi = r.impact_count
    n = int(rng.integers(lo, hi + 1)) if scene.objects else 0
    out = []
    for i in range(n):
        obj = scene.objects[int(rng.integers(len(scene.objects)))]
        kinds = kinds_for(obj.shape)
        kind = kinds[int(rng.integers(len(kinds)))]
        out.append(Disturbance(
            t_s=FIRST_S + i * IMPACT_GAP_S, kind=kind, object_id=obj.id,
            height_m=float(rng.uniform(0.02, 0.08)) if kind in ("drop", "set_down") else 0.0,
            speed_m_s=float(rng.uniform(0.3, 0.8) if kind == "set_down"
                            else rng.uniform(0.25, 0.5) if kind == "slide" else 0.0),
            heading_rad=float(rng.uniform(-np.pi, np.pi))))
    return tuple(out)


def prelude_s(events) -> float:
    """How long the staged part of an episode lasts [s] (0 without events)."""
    return events[-1].t_s + SETTLE_S if events else 0.0


def start_pose(kind: str, position, size: float, height_m: float, heading_rad: float):
    """(position, quaternion xyzw) an object of edge/diameter ``size`` [m] resting at ``position``
    is moved to when a ``kind`` event starts."""
    p = np.array(position, float)
    if kind in ("drop", "set_down"):
        return p + [0.0, 0.0, height_m], (0.0, 0.0, 0.0, 1.0)
    if kind == "knock":
        # rotate about the bottom edge on the heading side, by KNOCK_TILT_RAD
        d = np.array([np.cos(heading_rad), np.sin(heading_rad), 0.0])
        axis = np.cross([0.0, 0.0, 1.0], d)
        edge = p + d * size / 2 - [0.0, 0.0, size / 2]
        c, s = np.cos(KNOCK_TILT_RAD), np.sin(KNOCK_TILT_RAD)
        r = p - edge                                   # Rodrigues: rotate r about axis
        r = r * c + np.cross(axis, r) * s + axis * (axis @ r) * (1 - c)
        q = (*(axis * np.sin(KNOCK_TILT_RAD / 2)), np.cos(KNOCK_TILT_RAD / 2))
        return edge + r + [0.0, 0.0, 0.002], q
    return p, None


class Prelude:
    """Steps ``world`` through staged ``events`` (each started at its ``t_s`` after now), then
    SETTLE_S more; ``done`` once that is over (at once without events)."""

    def __init__(self, world, events):
        self.world, self.events = world, list(events)
        hz = world.cfg.physics_hz
        self.start = world.step_index
        self.end = self.start + int(round(prelude_s(events) * hz))
        self.due = [(self.start + int(round(e.t_s * hz)), e) for e in events]

    @property
    def done(self) -> bool:
        return self.world.step_index >= self.end

    def step(self):
        """Start the events due now, step the world; its readings."""
        while self.due and self.due[0][0] <= self.world.step_index:
            self.world.disturb(self.due.pop(0)[1])
        return self.world.step()
