"""Tasks: pick an object and place it at a point; success checks; random task generation; the
random cell of an episode (camera, lighting, scene and task) for dataset generation.

Frames (REP 103): the robot base, x forward, y left, z up; metres.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from .config import SimConfig
from .impacts import Disturbance, random_disturbances
from .scene import (GRASP_MAX_SIZE, MIN_SEPARATION, PLACE_TRIES, SPAWN_X, SPAWN_Y, SceneSpec,
                    cell_rng, clear_of, random_cell_scene, random_scene)
from .sensors.camera import random_camera

LIFT_SUCCESS_M = 0.10     # object raised at least this much above its start
PLACE_TOLERANCE_M = 0.02  # final xy within this of the target
MIN_MOVE_M = 0.08         # a place point is farther than this from the object's start


@dataclass
class PickPlaceTask:
    object_id: str
    place_xy: tuple[float, float]
    pick_command: str     # e.g. "pick up the red cube"
    place_command: str    # e.g. "put it here" (with place_xy as the clicked point)

    @property
    def command(self) -> str:
        return f"{self.pick_command} and {self.place_command}"


def random_task(scene: SceneSpec, seed: int) -> PickPlaceTask:
    """Pick a random object; place it on a free spot at least MIN_SEPARATION from every other."""
    rng = np.random.default_rng([seed, 7])
    target = scene.objects[int(rng.integers(len(scene.objects)))]
    others = [np.array(o.position) for o in scene.objects if o.id != target.id]
    start = np.array(target.position)
    for _ in range(2000):
        p = np.array([rng.uniform(*SPAWN_X), rng.uniform(*SPAWN_Y)])
        if np.linalg.norm(p - start) > MIN_MOVE_M and all(np.linalg.norm(p - q) >= MIN_SEPARATION
                                                          for q in others):
            break
    else:
        raise RuntimeError(f"seed {seed}: no free place for the object")
    return PickPlaceTask(target.id, (float(p[0]), float(p[1])), f"pick up the {target.label}",
                         "put it here")


def random_cell_task(scene: SceneSpec, seed: int) -> PickPlaceTask | None:
    """A random task in a randomised cell's scene: pick an object of size <= GRASP_MAX_SIZE; place
    it farther than MIN_MOVE_M from its start, its footprint clear of every other object and
    distractor (scene.clear_of). None if there is no such object or place."""
    rng = cell_rng(seed, "task")
    graspable = [o for o in scene.objects if o.size <= GRASP_MAX_SIZE]
    if not graspable:
        return None
    target = graspable[int(rng.integers(len(graspable)))]
    others = [o for o in scene.objects if o.id != target.id] + scene.distractors
    start = np.array(target.position)
    for _ in range(PLACE_TRIES):
        p = np.array([rng.uniform(*SPAWN_X), rng.uniform(*SPAWN_Y)])
        if np.linalg.norm(p - start) > MIN_MOVE_M and clear_of(p, target.footprint_radius, others):
            return PickPlaceTask(target.id, (float(p[0]), float(p[1])),
                                 f"pick up the {target.label}", "put it here")
    return None


class Cell(NamedTuple):
    """One episode's robot cell: the sim config (camera mount, optics, lighting), scene and task."""

    cfg: SimConfig
    scene: SceneSpec
    task: PickPlaceTask
    events: tuple[Disturbance, ...] = ()   # staged impacts before the task (omni_ros_sim.impacts)


def random_cell(seed: int, cfg: SimConfig) -> Cell:
    """The cell of episode ``seed``. With ``cfg.randomize.enabled``: ``cfg`` with a random camera
    (sensors.camera.random_camera), a random_cell_scene and a random_cell_task, all drawn from
    cell_rng streams, and a few staged impacts (impacts.random_disturbances); where the scene leaves no place for the task, distractors and then the last
    objects are left out until it does (the first object always fits). Else ``cfg``,
    ``random_scene(seed)`` and its ``random_task``."""
    r = cfg.randomize
    if not r.enabled:
        scene = random_scene(seed)
        return Cell(cfg, scene, random_task(scene, seed))
    scene = random_cell_scene(seed, r)
    while (task := random_cell_task(scene, seed)) is None:
        (scene.distractors or scene.objects).pop()
    noise = float(cell_rng(seed, "audio").uniform(*r.audio_noise_level))
    return Cell(replace(cfg, camera=random_camera(seed, cfg.camera, r),
                        audio=replace(cfg.audio, noise_level=noise)), scene, task,
                random_disturbances(seed, scene, r))


@dataclass
class TaskProgress:
    """Tracks the success conditions while an episode runs."""

    task: PickPlaceTask
    start_z: float
    max_rise: float = 0.0

    def update(self, object_position: np.ndarray) -> None:
        self.max_rise = max(self.max_rise, float(object_position[2]) - self.start_z)

    @property
    def lifted(self) -> bool:
        return self.max_rise >= LIFT_SUCCESS_M

    def placed(self, object_position: np.ndarray, held: bool) -> tuple[bool, float]:
        """(success, xy error [m]): resting near the target, back at table height, released."""
        err = float(np.linalg.norm(object_position[:2] - np.array(self.task.place_xy)))
        resting = abs(float(object_position[2]) - self.start_z) < 0.01
        return (err <= PLACE_TOLERANCE_M and resting and not held), err
