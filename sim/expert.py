"""Scripted expert: plans pick-and-place primitive sequences and runs episodes.

Plans come from ``omni_ros.core.manipulation.plans`` (top-down grasps with the gripper yaw aligned to a cube
face, yaw 0 for round objects, approached from 12 cm above, grip force limited to 15 N). ``pick_place_plan`` needs only the objects' poses and sizes, so the same planner drives
the world directly (``EpisodeRunner``) and, over ROS, from /sim/ground_truth (the demo driver).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from omni_ros.core.manipulation import plans
from omni_ros.core.types import ObjectEstimate, Primitive

from .robot import MAX_WIDTH
from .tasks import PickPlaceTask, TaskProgress
from .world import Reading, World

SETTLE_S = 0.3           # wait after the last primitive before judging [s]


def pick_place_plan(objects: list[ObjectEstimate], task: PickPlaceTask,
                    frame_id: str = "panda_link0") -> list[Primitive]:
    """The primitive sequence for ``task`` given the objects' current poses and sizes
    (``omni_ros.core.manipulation.plans``, the action node's planner)."""
    obj = next(o for o in objects if o.id == task.object_id)
    return plans.pick_place_plan(obj, task.place_xy, plans.PlanConfig(open_width=MAX_WIDTH), frame_id)


@dataclass
class EpisodeResult:
    success: bool
    lifted: bool
    placed: bool
    place_error_m: float
    duration_s: float
    failure: str = ""
    statuses: list = field(default_factory=list)


class EpisodeRunner:
    """Runs ``task`` with the scripted expert one physics step at a time (``step``), so a caller
    can interleave other work (publishing, recording). ``result`` is set when it is done."""

    def __init__(self, world: World, task: PickPlaceTask, timeout_s: float = 25.0):
        self.world, self.task = world, task
        self.plan = pick_place_plan(world.ground_truth().objects, task)
        self.progress = TaskProgress(task, start_z=float(world.object_position(task.object_id)[2]))
        self.statuses: list = []
        self.failure = ""
        self.t0 = world.t_ns
        self.deadline = world.step_index + int(timeout_s * world.cfg.physics_hz)
        self.settle_steps = int(SETTLE_S * world.cfg.physics_hz)
        self.next_index = 0
        self.result: EpisodeResult | None = None

    def _issue_next(self) -> None:
        if self.statuses and self.statuses[-1].state != "succeeded":
            last = self.statuses[-1]
            self.failure = f"{last.primitive} {last.state}: {last.reason}"
        elif self.next_index < len(self.plan):
            p = self.plan[self.next_index]
            p.stamp_ns = self.world.t_ns
            self.next_index += 1
            self.statuses += self.world.command(p)
            if self.statuses[-1].state == "rejected":
                self._issue_next()

    def step(self) -> list[Reading]:
        w = self.world
        if self.result is not None:
            return w.step()
        if not w.busy and not self.failure and self.next_index <= len(self.plan):
            self._issue_next()
            if not w.busy and not self.failure:
                self.next_index = len(self.plan) + 1  # plan finished: settle
        if w.step_index >= self.deadline and w.busy:
            self.failure = "timeout"
        readings = w.step()
        self.statuses += [r.data for r in readings if r.key == "action_status"]
        self.progress.update(w.object_position(self.task.object_id))
        if (self.failure or self.next_index > len(self.plan)) and not w.busy:
            self.settle_steps -= 1
            if self.settle_steps <= 0:
                self._finish()
        return readings

    def _finish(self) -> None:
        w = self.world
        held = w.ground_truth().held_object_id == self.task.object_id
        placed, err = self.progress.placed(w.object_position(self.task.object_id), held)
        success = not self.failure and self.progress.lifted and placed
        failure = self.failure
        if not failure and not success:
            failure = "not lifted" if not self.progress.lifted else f"placed {err * 100:.1f} cm off"
        self.result = EpisodeResult(success, self.progress.lifted, placed, err,
                                    (w.t_ns - self.t0) / 1e9, failure, self.statuses)


def run_episode(world: World, task: PickPlaceTask, on_readings=None,
                timeout_s: float = 25.0) -> EpisodeResult:
    """Run ``task`` to the end; ``on_readings(list[Reading])`` sees every step's readings."""
    runner = EpisodeRunner(world, task, timeout_s)
    while runner.result is None:
        readings = runner.step()
        if on_readings:
            on_readings(readings)
    return runner.result
