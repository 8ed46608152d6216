"""The PyBullet world: determinism, physics sanity of every sensor, the action interface and the
scripted expert. No ROS here (sim/ is ROS-free)."""

import hashlib

import numpy as np
import pybullet as pb
import pytest

from omni_ros.core.config import ConfigError, from_flat_dict
from omni_ros.core.types import Primitive
from omni_ros_sim.config import SimConfig
from omni_ros_sim.expert import pick_place_plan, run_episode
from omni_ros_sim.scene import SceneSpec, ObjectSpec, random_scene
from omni_ros_sim.tasks import PickPlaceTask, random_task
from omni_ros_sim.world import World


def one_object(shape="cube", material="wood", size=0.05, yaw=0.3):
    return SceneSpec([ObjectSpec("obj_0", shape, "red", material, size, (0.5, 0.0), yaw)])


def run_idle(world, extra_steps=0):
    readings = []
    while world.busy:
        readings += world.step()
    for _ in range(extra_steps):
        readings += world.step()
    return readings


def mean_wrench(readings, last=40):
    return np.mean([r.data for r in readings if r.key == "wrench"][-last:], axis=0)


def stream_hashes(seed, steps=360):
    """sha256 of every stream over ``steps`` physics steps with the arm moving."""
    scene = random_scene(seed)
    hashes = {}
    with World(scene, seed=seed) as w:
        plan = pick_place_plan(w.ground_truth().objects, random_task(scene, seed))
        w.command(plan[1])
        for _ in range(steps):
            for r in w.step():
                h = hashes.setdefault(r.key, hashlib.sha256())
                data = r.data
                if isinstance(data, dict):
                    data = np.concatenate([np.ravel(v) for v in data.values()])
                elif not isinstance(data, np.ndarray):
                    data = np.frombuffer(repr(data).encode(), np.uint8)
                h.update(np.int64(r.stamp_ns).tobytes())
                h.update(np.ascontiguousarray(data).tobytes())
    return {k: h.hexdigest() for k, h in hashes.items()}


def test_same_seed_gives_bit_identical_streams_and_other_seeds_differ():
    a, b, c = stream_hashes(3), stream_hashes(3), stream_hashes(4)
    assert set(a) >= {"joints", "wrench", "tactile", "audio", "lidar", "depth", "color",
                      "ground_truth"}
    assert a == b
    differing = {k for k in a if a[k] != c[k]}
    assert differing >= {"wrench", "audio", "lidar", "depth", "color"}


@pytest.mark.parametrize("shape,material", [("cube", "metal"), ("sphere", "wood"),
                                            ("cylinder", "rubber")])
def test_wrench_rises_by_m_g_when_an_object_is_held(shape, material):
    scene = one_object(shape, material)
    with World(scene) as w:
        plan = pick_place_plan(w.ground_truth().objects, PickPlaceTask("obj_0", (0.5, 0.15), "", ""))
        for p in plan[:5]:  # open, approach, descend, grasp, lift
            w.command(p)
            run_idle(w)
        held = mean_wrench(run_idle(w, 120))
        w.command(Primitive(0, "", 99, "release", gripper_width=0.08))
        free = mean_wrench(run_idle(w, 240))
        assert w.object_position("obj_0")[2] < 0.03  # it fell back onto the table
    expected = scene.objects[0].mass * 9.81
    rise = float(np.linalg.norm(held[:3] - free[:3]))
    assert rise == pytest.approx(expected, rel=0.15)


def test_tactile_is_zero_without_contact_and_on_both_pads_while_grasping():
    footprints = {}
    for shape in ("cube", "cylinder", "sphere"):
        with World(one_object(shape)) as w:
            quiet = [r.data for r in w.step() + run_idle(w, 12) if r.key == "tactile"]
            assert quiet and all(not g.any() for t in quiet for g in t.values())
            plan = pick_place_plan(w.ground_truth().objects, PickPlaceTask("obj_0", (0.5, 0.15), "", ""))
            for p in plan[:5]:
                w.command(p)
                run_idle(w)
            pads = [r.data for r in run_idle(w, 12) if r.key == "tactile"][-1]
            assert set(pads) == {"panda_leftfinger_pad", "panda_rightfinger_pad"}
            for grid in pads.values():
                assert grid.shape == (4, 4) and grid.sum() == pytest.approx(15.0, rel=0.1)
            footprints[shape] = min(int((g > 0).sum()) for g in pads.values())
    # The shape shows in the pattern: a cube face presses the whole pad, a sphere a spot.
    assert footprints["cube"] == 16
    assert footprints["sphere"] < footprints["cylinder"] < footprints["cube"]


def dropped_sound(material):
    """Audio and events after dropping a cube of ``material`` from 10 cm."""
    with World(one_object("cube", material, yaw=0.0)) as w:
        pb.resetBasePositionAndOrientation(w.bodies["obj_0"], [0.5, 0, 0.125], [0, 0, 0, 1],
                                           physicsClientId=w.cid)
        chunks, events = [], []
        for _ in range(240):
            for r in w.step():
                if r.key == "audio":
                    chunks.append(r.data)
                elif r.key == "ground_truth":
                    events += r.data.events
    return np.concatenate(chunks).astype(float) / 32768, events


def test_an_impact_makes_sound_whose_pitch_depends_on_the_material():
    with World(one_object()) as w:
        quiet = np.concatenate([r.data for r in run_idle(w, 240) if r.key == "audio"]) / 32768
    peaks = {}
    for material in ("rubber", "wood", "metal"):
        x, events = dropped_sound(material)
        assert [e.kind for e in events] == ["impact"] and events[0].magnitude > 0.05
        assert np.sqrt(np.mean(x ** 2)) > 2 * np.sqrt(np.mean(quiet ** 2))
        spectrum = np.abs(np.fft.rfft(x))
        peaks[material] = np.fft.rfftfreq(len(x), 1 / 16000)[np.argmax(spectrum)]
    assert peaks["rubber"] < peaks["wood"] < peaks["metal"]
    assert peaks["wood"] == pytest.approx(820, abs=20)


def test_injected_audio_reaches_the_microphone():
    with World(one_object()) as w:
        tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(22050) / 22050)
        w.inject_audio(tone, 22050)
        x = np.concatenate([r.data for r in run_idle(w, 120) if r.key == "audio"]) / 32768
    spectrum = np.abs(np.fft.rfft(x))
    assert np.fft.rfftfreq(len(x), 1 / 16000)[np.argmax(spectrum)] == pytest.approx(440, abs=3)


def test_depth_and_intrinsics_locate_an_object():
    scene = one_object(yaw=0.0)
    with World(scene) as w:
        depth = [r.data for r in run_idle(w, 16) if r.key == "depth"][-1]
        cam_pos, cam_orn = w.camera.pose()
        from scipy.spatial.transform import Rotation
        intr = w.camera.intrinsics
        # Object top centre, projected into the image.
        top = np.array([0.5, 0.0, 0.05])
        p = Rotation.from_quat(cam_orn).inv().apply(top - cam_pos)
        u, v = intr.fx * p[0] / p[2] + intr.cx, intr.fy * p[1] / p[2] + intr.cy
        pts = intr.backproject(depth)
        world_pts = Rotation.from_quat(cam_orn).apply(pts.reshape(-1, 3)) + cam_pos
        near = world_pts.reshape(depth.shape + (3,))[int(round(v)), int(round(u))]
    assert np.linalg.norm(near - top) < 0.02


def test_lidar_sees_the_table_in_its_own_frame():
    with World(one_object()) as w:
        scan = [r.data for r in run_idle(w, 24) if r.key == "lidar"][-1]
        height = w.cfg.lidar.position[2]
    assert scan.shape == (16, 180, 4)
    hits = scan[np.isfinite(scan[..., 0])]
    assert len(hits) > 500
    table = hits[np.abs(hits[:, 2] + height) < 0.02]
    assert len(table) > 0.5 * len(hits)


def test_action_interface_rejects_unsafe_targets_and_stops_on_force():
    with World(one_object()) as w:
        bad = w.command(Primitive(0, "panda_link0", 1, "move", position=(1.5, 0, 0.3),
                                  orientation=(1, 0, 0, 0)))
        assert bad[-1].state == "rejected" and "outside the workspace" in bad[-1].reason
        assert not w.busy
        # Push the closed gripper down into the table with a 10 N limit: it must stop.
        w.command(Primitive(0, "", 2, "grasp", gripper_force=15))
        run_idle(w)
        start = w.command(Primitive(0, "panda_link0", 3, "move", position=(0.3, 0.2, 0.004),
                                    orientation=(1, 0, 0, 0), max_speed=0.2, max_wrench_force=10))
        statuses = [r.data for r in run_idle(w) if r.key == "action_status"]
        assert start[-1].state == "running"
        assert statuses[-1].state == "failed" and "wrench limit" in statuses[-1].reason
        # A new command preempts a running one.
        w.command(Primitive(0, "panda_link0", 4, "move", position=(0.5, 0.2, 0.3),
                            orientation=(1, 0, 0, 0)))
        w.step()
        pre = w.command(Primitive(0, "", 5, "stop"))
        assert [s.state for s in pre] == ["stopped", "succeeded"]


def test_an_action_moves_the_arm():
    with World(one_object()) as w:
        goal = np.array([0.4, -0.2, 0.25])
        w.command(Primitive(0, "panda_link0", 1, "move", position=goal, orientation=(1, 0, 0, 0)))
        statuses = [r.data for r in run_idle(w) if r.key == "action_status"]
        assert statuses[-1].state == "succeeded"
        assert np.linalg.norm(w.robot.tcp_pose()[0] - goal) < 0.005


@pytest.mark.parametrize("seed", [0, 1])
def test_expert_picks_and_places(seed):
    scene = random_scene(seed)
    with World(scene, seed=seed) as w:
        result = run_episode(w, random_task(scene, seed))
    assert result.success, result.failure
    assert result.place_error_m < 0.02


def test_sensor_rates_must_divide_the_physics_rate():
    with pytest.raises(ConfigError, match="'camera.rate_hz' = 25.0: must divide the physics rate 240"):
        from_flat_dict(SimConfig, {"camera.rate_hz": 25.0})
    assert from_flat_dict(SimConfig, {"camera.rate_hz": 30.0}).camera.rate_hz == 30.0


def test_scene_round_trips_through_yaml():
    scene = random_scene(5)
    assert SceneSpec.from_yaml(scene.to_yaml()) == scene
