"""Tasks: pick an object and place it at a point; success checks; random task generation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .scene import MIN_SEPARATION, SPAWN_X, SPAWN_Y, SceneSpec

LIFT_SUCCESS_M = 0.10     # object raised at least this much above its start
PLACE_TOLERANCE_M = 0.02  # final xy within this of the target


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
        if np.linalg.norm(p - start) > 0.08 and all(np.linalg.norm(p - q) >= MIN_SEPARATION
                                                    for q in others):
            break
    else:
        raise RuntimeError(f"seed {seed}: no free place for the object")
    return PickPlaceTask(target.id, (float(p[0]), float(p[1])), f"pick up the {target.label}",
                         "put it here")


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
