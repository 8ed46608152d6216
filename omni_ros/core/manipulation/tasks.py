"""The action node's logic without ROS: operator commands + fused scenes -> primitive sequences.

pick  "pick up the red cube" (+ point): wait for perception to ground the target (the scene's
      target_object_id, from the text latent and the point), then open, approach, descend,
      grasp, lift (``omni_ros.core.manipulation.plans``); it fails if the scene says nothing is held after
      the lift.
place "put it here" + point: carry the held object there, set it down, release, go home.
move  "move here" + point: the gripper to ``approach_height`` above the point.
home  back to the home pose.   stop: halt now (a stop primitive), cancel the plan.

Every target is checked against the workspace box before anything moves. While the gripper
moves through free space (approach, move), a wrist force change above ``force_stop_n`` or a
tactile load above ``tactile_stop_n`` stops the arm. A watchdog on perception: while a task is
grounding or executing, no scene for longer than ``scene_timeout_s`` stops it the way "stop"
does, with the reason, and nothing resumes by itself when scenes come back (armed by the first
scene; a clock going back restarts the count). A watchdog on the executor: executors report a
primitive when it starts and when it ends, so a running primitive with no word from its
executor for ``status_timeout_s`` (the executor died, was respawned without it, or hung) fails
the task with the reason and sends a stop, never the next motion. Base frame, metres, newtons;
ns times.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..config import ConfigError, param
from .plans import PlanConfig, pick_plan, place_plan
from .targets import GraspTarget, outside_workspace
from ..types import OperatorCommand, Primitive, PrimitiveStatus, SceneState

FREE_SPACE = ("approach", "move")
LOST_AFTER_SCENES = 15  # idle scenes in a row without a grasp before a held object counts as gone


@dataclass
class ActionConfig:
    workspace_min: list[float] = param([0.2, -0.45, -0.01], "workspace box, lower corner [m]")
    workspace_max: list[float] = param([0.85, 0.45, 0.6], "workspace box, upper corner [m]")
    grounding_timeout_s: float = param(3.0, "give up finding the commanded object after [s]",
                                       min=0.1, max=60.0, runtime=True)
    force_stop_n: float = param(20.0, "stop when the wrist force changes more than this in free "
                                "space [N]", min=1.0, max=500.0, runtime=True)
    tactile_stop_n: float = param(5.0, "stop when the pads feel more than this in free space "
                                  "with the gripper open [N]", min=0.1, max=500.0,
                                  runtime=True)
    max_wrench_force: float = param(0.0, "wrench limit passed to the executor with every "
                                    "primitive [N]; 0 = the executor's default", min=0.0, max=500.0,
                                    runtime=True)
    scene_timeout_s: float = param(1.0, "stop a grounding or executing task when no /omni/scene "
                                   "arrived for this long [s]", min=0.1, max=60.0,
                                   runtime=True)
    status_timeout_s: float = param(30.0, "fail the task (and send a stop) when the executor "
                                    "said nothing of the running primitive for this long [s]: "
                                    "above the longest primitive at the slowest sim rate",
                                    min=0.5, max=600.0, runtime=True)
    plan: PlanConfig = field(default_factory=PlanConfig)

    def check(self) -> None:
        lo, hi = np.asarray(self.workspace_min), np.asarray(self.workspace_max)
        if lo.shape != (3,) or hi.shape != (3,) or not np.all(lo < hi):
            raise ConfigError(f"parameters 'workspace_min' {self.workspace_min} / 'workspace_max' "
                              f"{self.workspace_max}: must be [x, y, z] with min < max")


@dataclass
class TaskStatusData:
    stamp_ns: int = 0
    state: str = "idle"
    command: str = ""
    intent: str = ""
    target_object_id: str = ""
    primitive: str = ""
    step: int = 0
    steps: int = 0
    reason: str = ""


class TaskManager:
    def __init__(self, cfg: ActionConfig = ActionConfig(), frame_id: str = "panda_link0"):
        self.cfg, self.frame_id = cfg, frame_id
        self.status = TaskStatusData()
        self.cmd: OperatorCommand | None = None
        self.command_ns = 0
        self.plan: list[Primitive] = []
        self.index = 0
        self.next_id = 1
        self.grasp: GraspTarget | None = None
        self.pending_grasp: GraspTarget | None = None
        self.held_id = ""
        self.scene: SceneState | None = None
        self.scene_ns: int | None = None  # when the last scene arrived (this clock) [ns]
        self.force0: np.ndarray | None = None
        self.executor_timeouts = 0  # tasks failed by the executor watchdog
        self.heard_ns = 0  # last word from the executor on the running primitive (or its send)
        self.empty_scenes = 0
        self.changed = True

    # --- inputs ---------------------------------------------------------------------------------
    def command(self, cmd: OperatorCommand, now_ns: int) -> list[Primitive]:
        """A new operator command; returns primitives to send now (stop, home)."""
        self.cmd, self.command_ns = cmd, now_ns
        self._set("idle", command=cmd.raw_text, intent=cmd.intent, target_object_id="",
                  primitive="", step=0, steps=0, reason="")
        if cmd.intent == "stop":
            return self._stop("operator said stop", now_ns)
        if self.plan and self.index < len(self.plan):
            self.plan = []  # a new command replaces the running one (its primitive preempts)
        if cmd.intent == "pick":
            if self.grasp is not None:
                return self._reject(f"already holding {self.held_id or 'an object'}: put it down first")
            self._set("grounding")
            return []
        if cmd.intent in ("place", "move") and cmd.point is None:
            return self._reject(f"'{cmd.raw_text}' needs a point: click where")
        if cmd.intent == "place":
            if self.grasp is None:
                return self._reject("nothing is held: pick something up first")
            return self._start(place_plan(self.grasp, cmd.point, self.held_id, self.cfg.plan,
                                          self.frame_id, self.next_id, self.cfg.max_wrench_force),
                               self.held_id, now_ns)
        if cmd.intent == "move":
            p = np.asarray(cmd.point, float) + [0.0, 0.0, self.cfg.plan.approach_height]
            return self._start([self._primitive("move", p, self.cfg.plan.fast_speed, now_ns)], "", now_ns)
        return self._start([self._primitive("home", np.zeros(3), 0.0, now_ns)], "", now_ns)

    def on_scene(self, scene: SceneState, now_ns: int) -> list[Primitive]:
        self.scene, self.scene_ns = scene, now_ns
        idle = self._current() is None
        self.empty_scenes = self.empty_scenes + 1 if idle and not scene.grasping else 0
        if self.grasp is not None and self.empty_scenes >= LOST_AFTER_SCENES:
            self.grasp, self.held_id = None, ""  # dropped, taken away, or the world was reset
        if self.status.state != "grounding":
            return []
        if scene.stamp_ns < self.command_ns or not scene.target_object_id:
            if (now_ns - self.command_ns) / 1e9 > self.cfg.grounding_timeout_s:
                return self._fail(f"no object matches '{self.cmd.target_description}'", now_ns)
            return []
        obj = next((o for o in scene.objects if o.id == scene.target_object_id), None)
        if obj is None:
            return []
        plan, grasp = pick_plan(obj, self.cfg.plan, self.frame_id, self.next_id,
                                self.cfg.max_wrench_force)
        self.pending_grasp = grasp
        return self._start(plan, obj.id, now_ns)

    def on_status(self, st: PrimitiveStatus, now_ns: int) -> list[Primitive]:
        """Progress of the executor; returns the next primitive when one finished."""
        if not self.plan or self.index >= len(self.plan) or st.sequence_id != self.plan[self.index].sequence_id:
            return []
        self.heard_ns = now_ns
        if st.state == "running":
            return []
        p = self.plan[self.index]
        if st.state != "succeeded":
            return self._fail(f"{p.primitive} {st.state}: {st.reason}", now_ns, stop=False)
        if p.primitive == "grasp":
            self.grasp, self.held_id = self.pending_grasp, p.target_id
        elif p.primitive == "release" and self.index > 0:  # not the opening move of a pick
            self.grasp, self.held_id = None, ""
        elif p.primitive == "lift" and self.scene is not None and not self.scene.grasping:
            self.grasp, self.held_id = None, ""
            return self._fail("nothing in the gripper after the lift (touch and force say so)", now_ns)
        self.index += 1
        if self.index >= len(self.plan):
            self.plan = []
            self._set("succeeded", primitive="", reason="")
            return []
        return self._send(now_ns)

    def on_wrench(self, force: np.ndarray, now_ns: int) -> list[Primitive]:
        p = self._current()
        if p is None or p.primitive not in FREE_SPACE:
            self.force0 = None
            return []
        if self.force0 is None:
            self.force0 = np.asarray(force, float)
            return []
        change = float(np.linalg.norm(np.asarray(force, float) - self.force0))
        if change > self.cfg.force_stop_n:
            return self._fail(f"wrist force changed {change:.1f} N (limit {self.cfg.force_stop_n} N) "
                              f"during {p.primitive}", now_ns)
        return []

    def on_tactile(self, total_n: float, now_ns: int) -> list[Primitive]:
        p = self._current()
        if p is None or p.primitive not in FREE_SPACE or self.grasp is not None:
            return []
        if total_n > self.cfg.tactile_stop_n:
            return self._fail(f"the fingers touched something ({total_n:.1f} N) during "
                              f"{p.primitive}", now_ns)
        return []

    def tick(self, now_ns: int) -> list[Primitive]:
        """Time-outs, called periodically: the scene watchdog, then grounding."""
        if self.scene_ns is not None and now_ns < self.scene_ns:
            self.scene_ns = now_ns  # the clock went back (sim reset): count silence from now
        silent_s = None if self.scene_ns is None else (now_ns - self.scene_ns) / 1e9
        if (self.status.state in ("grounding", "executing") and silent_s is not None
                and silent_s > self.cfg.scene_timeout_s):
            what = "stopped the arm" if self._current() is not None else "stopped the task"
            return self._stop(f"perception silent for {silent_s:.1f} s (limit "
                              f"{self.cfg.scene_timeout_s:g} s): {what}", now_ns)
        if self.status.state == "grounding" and (now_ns - self.command_ns) / 1e9 > self.cfg.grounding_timeout_s:
            return self._fail(f"no object matches '{self.cmd.target_description}'", now_ns)
        return self._executor_watchdog(now_ns)

    def _executor_watchdog(self, now_ns: int) -> list[Primitive]:
        p = self._current()
        if p is None:
            return []
        self.heard_ns = min(self.heard_ns, now_ns)  # the clock went back: count from now
        quiet_s = (now_ns - self.heard_ns) / 1e9
        if quiet_s <= self.cfg.status_timeout_s:
            return []
        self.executor_timeouts += 1
        return self._fail(f"no status from the executor for {p.primitive} #{p.sequence_id} in "
                          f"{quiet_s:.1f} s (limit {self.cfg.status_timeout_s:g} s): executor "
                          "gone or hung; sent a stop", now_ns)

    # --- helpers --------------------------------------------------------------------------------
    def _current(self) -> Primitive | None:
        return self.plan[self.index] if self.plan and self.index < len(self.plan) else None

    def _set(self, state: str, **kw) -> None:
        self.status.state = state
        for k, v in kw.items():
            setattr(self.status, k, v)
        self.changed = True

    def _primitive(self, name: str, position, speed: float, now_ns: int) -> Primitive:
        return Primitive(stamp_ns=now_ns, frame_id=self.frame_id, sequence_id=0, primitive=name,
                         position=position, orientation=[1.0, 0.0, 0.0, 0.0], max_speed=speed,
                         gripper_width=self.cfg.plan.open_width if self.grasp is None else 0.0)

    def _outside(self, plan: list[Primitive]) -> str:
        for p in plan:
            if p.primitive in ("home", "stop", "grasp"):
                continue
            why = outside_workspace(p.position, self.cfg.workspace_min, self.cfg.workspace_max)
            if why:
                return f"{p.primitive} {why}"
        return ""

    def _start(self, plan: list[Primitive], target_id: str, now_ns: int) -> list[Primitive]:
        why = self._outside(plan)
        if why:
            return self._reject(why)
        for i, p in enumerate(plan):
            p.sequence_id = self.next_id + i
        self.next_id += len(plan)
        self.plan, self.index = plan, 0
        self._set("executing", target_object_id=target_id, steps=len(plan), reason="")
        return self._send(now_ns)

    def _send(self, now_ns: int) -> list[Primitive]:
        p = self.plan[self.index]
        p.stamp_ns = now_ns
        self.heard_ns = now_ns
        self.force0 = None
        self._set("executing", primitive=p.primitive, step=self.index + 1)
        return [p]

    def _halt(self, now_ns: int) -> list[Primitive]:
        was_moving = bool(self.plan) and self.index < len(self.plan)
        self.plan = []
        if not was_moving:
            return []
        stop = self._primitive("stop", np.zeros(3), 0.0, now_ns)
        stop.sequence_id = self.next_id
        self.next_id += 1
        return [stop]

    def _stop(self, reason: str, now_ns: int) -> list[Primitive]:
        out = self._halt(now_ns)
        if self.grasp is None:
            self.pending_grasp = None
        self._set("stopped", primitive="", reason=reason)
        return out

    def _fail(self, reason: str, now_ns: int, stop: bool = True) -> list[Primitive]:
        out = self._halt(now_ns) if stop else []
        self.plan = []
        self._set("failed", primitive="", reason=reason)
        return out

    def _reject(self, reason: str) -> list[Primitive]:
        self._set("rejected", primitive="", step=0, steps=0, reason=reason)
        return []
