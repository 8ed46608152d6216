"""The action node's watchdog on perception, without ROS (TaskManager.tick): a task that is
grounding or executing stops when no scene arrived for longer than ``scene_timeout_s``, says why,
and does not resume when scenes come back. The live version (perception SIGKILLed mid-task):
tests/test_supervision.py."""

import numpy as np
import pytest

from omni_ros.core.config import ConfigError, validate
from omni_ros.core.manipulation.tasks import ActionConfig, TaskManager
from omni_ros.core.types import ObjectEstimate, OperatorCommand, PrimitiveStatus, SceneState

S = 1_000_000_000  # ns per second


def _scene(t_ns, target=""):
    cube = ObjectEstimate("red_cube", "cube", "red", position=[0.5, 0.0, 0.025],
                          size=[0.05, 0.05, 0.05])
    return SceneState(stamp_ns=t_ns, frame_id="panda_link0", objects=[cube],
                      target_object_id=target)


def _cmd(t_ns, intent, point=None, text="pick up the red cube"):
    return OperatorCommand(t_ns, "voice", text, intent, "red cube",
                           None if point is None else np.asarray(point, float), "panda_link0")


def _executing(timeout_s=1.0):
    """A pick under way (its first primitive sent) at t = 10 s, scenes until then."""
    tm = TaskManager(ActionConfig(scene_timeout_s=timeout_s))
    tm.on_scene(_scene(9 * S), 9 * S)
    tm.command(_cmd(10 * S, "pick"), 10 * S)
    prims = tm.on_scene(_scene(10 * S, "red_cube"), 10 * S)
    assert tm.status.state == "executing" and prims
    return tm, prims


def test_silent_perception_stops_a_moving_arm_with_the_reason():
    tm, prims = _executing()
    assert tm.tick(int(10.9 * S)) == [] and tm.status.state == "executing"  # 0.9 s: fine
    out = tm.tick(int(11.2 * S))
    assert [p.primitive for p in out] == ["stop"]
    assert out[0].sequence_id > prims[0].sequence_id           # a new, later primitive
    assert tm.status.state == "stopped"
    assert tm.status.reason == "perception silent for 1.2 s (limit 1 s): stopped the arm"
    assert tm.status.intent == "pick" and tm.changed


def test_after_the_stop_nothing_resumes_by_itself():
    tm, prims = _executing()
    tm.tick(12 * S)
    assert tm.status.state == "stopped"
    # Perception is back, the old primitive reports: nothing moves, the status stays.
    assert tm.on_scene(_scene(13 * S, "red_cube"), 13 * S) == []
    p = prims[0]
    assert tm.on_status(PrimitiveStatus(13 * S, p.sequence_id, p.primitive, "succeeded"),
                        13 * S) == []
    assert tm.tick(20 * S) == [] and tm.status.state == "stopped"
    # A new command works again once scenes flow.
    out = tm.command(_cmd(21 * S, "home", text="go home"), 21 * S)
    assert [p.primitive for p in out] == ["home"] and tm.status.state == "executing"


def test_scenes_arriving_keep_the_task_going():
    tm, _ = _executing(timeout_s=0.5)
    for t in np.arange(10.2, 14.0, 0.4):   # a scene every 0.4 s, a tick right after each
        tm.on_scene(_scene(int(t * S)), int(t * S))
        assert tm.tick(int((t + 0.3) * S)) == []
    assert tm.status.state == "executing"


def test_grounding_with_silent_perception_stops_the_task_without_a_motion():
    tm = TaskManager(ActionConfig(scene_timeout_s=1.0, grounding_timeout_s=5.0))
    tm.on_scene(_scene(0), 0)
    tm.command(_cmd(S, "pick"), S)
    assert tm.status.state == "grounding"
    assert tm.tick(int(0.9 * S)) == [] and tm.status.state == "grounding"
    assert tm.tick(int(1.5 * S)) == []     # nothing was moving: no stop primitive to send
    assert tm.status.state == "stopped"
    assert tm.status.reason == "perception silent for 1.5 s (limit 1 s): stopped the task"


def test_idle_or_finished_tasks_and_no_scene_yet_are_not_watched():
    tm = TaskManager(ActionConfig(scene_timeout_s=1.0))
    assert tm.tick(100 * S) == [] and tm.status.state == "idle"
    # Before the first scene the watchdog is not armed: a pick waits for grounding as before.
    tm.command(_cmd(100 * S, "pick"), 100 * S)
    tm.tick(int(101.5 * S))
    assert tm.status.state == "grounding"
    tm.tick(104 * S)
    assert tm.status.state == "failed" and "no object matches" in tm.status.reason
    # Succeeded tasks stay succeeded however long perception is silent.
    tm.on_scene(_scene(105 * S), 105 * S)
    out = tm.command(_cmd(105 * S, "home", text="go home"), 105 * S)
    tm.on_status(PrimitiveStatus(106 * S, out[0].sequence_id, "home", "succeeded"), 106 * S)
    assert tm.status.state == "succeeded"
    assert tm.tick(200 * S) == [] and tm.status.state == "succeeded"


def test_a_clock_going_back_restarts_the_count():
    tm, _ = _executing()
    assert tm.tick(2 * S) == []                # the sim was reset: its clock went back
    assert tm.tick(int(2.9 * S)) == [] and tm.status.state == "executing"
    assert [p.primitive for p in tm.tick(int(3.1 * S))] == ["stop"]
    assert tm.status.reason.startswith("perception silent for 1.1 s")


@pytest.mark.parametrize("value", [0.0, 0.05, 61.0, float("nan")])
def test_scene_timeout_is_validated(value):
    with pytest.raises(ConfigError, match="scene_timeout_s"):
        validate(ActionConfig(scene_timeout_s=value))


# --- the executor watchdog: a primitive its executor never reports on -----------------------------
def _executing_with_scenes(status_timeout_s=5.0):
    """A pick under way at t = 10 s with perception alive throughout (scene_timeout_s large)."""
    tm = TaskManager(ActionConfig(scene_timeout_s=60.0, status_timeout_s=status_timeout_s))
    tm.on_scene(_scene(9 * S), 9 * S)
    tm.command(_cmd(10 * S, "pick"), 10 * S)
    prims = tm.on_scene(_scene(10 * S, "red_cube"), 10 * S)
    assert tm.status.state == "executing" and prims
    return tm, prims[0]


def test_a_primitive_whose_executor_went_silent_fails_the_task_with_a_stop():
    tm, p = _executing_with_scenes()
    assert tm.tick(int(14.9 * S)) == [] and tm.status.state == "executing"
    out = tm.tick(int(15.2 * S))
    assert [q.primitive for q in out] == ["stop"] and out[0].sequence_id > p.sequence_id
    assert tm.status.state == "failed" and tm.executor_timeouts == 1
    assert tm.status.reason == (f"no status from the executor for {p.primitive} #{p.sequence_id} "
                                "in 5.2 s (limit 5 s): executor gone or hung; sent a stop")
    # the old executor reports late: nothing moves
    assert tm.on_status(PrimitiveStatus(16 * S, p.sequence_id, p.primitive, "succeeded"),
                        16 * S) == []
    assert tm.tick(30 * S) == [] and tm.status.state == "failed" and tm.executor_timeouts == 1


def test_each_word_from_the_executor_restarts_the_count_and_each_primitive_gets_its_own():
    tm, p = _executing_with_scenes()
    tm.on_status(PrimitiveStatus(14 * S, p.sequence_id, p.primitive, "running"), 14 * S)
    assert tm.tick(int(18.9 * S)) == [] and tm.status.state == "executing"
    nxt = tm.on_status(PrimitiveStatus(int(18.9 * S), p.sequence_id, p.primitive, "succeeded"),
                       int(18.9 * S))
    assert len(nxt) == 1 and nxt[0].sequence_id == p.sequence_id + 1
    assert tm.tick(int(23.8 * S)) == [] and tm.status.state == "executing"
    assert [q.primitive for q in tm.tick(int(24.0 * S))] == ["stop"]
    assert str(nxt[0].sequence_id) in tm.status.reason


def test_the_executor_watchdog_survives_a_clock_going_back_and_is_validated():
    tm, _ = _executing_with_scenes()
    assert tm.tick(2 * S) == []                     # sim reset: the clock restarted
    assert tm.tick(int(6.9 * S)) == [] and tm.status.state == "executing"
    assert tm.tick(int(7.1 * S)) != [] and tm.status.state == "failed"
    with pytest.raises(ConfigError, match="status_timeout_s"):
        validate(ActionConfig(status_timeout_s=0.1))
