"""The thermal camera and object temperatures: random scenes keep their objects, temperatures
follow the hot/cold rule, the image reads each body's apparent temperature in centi-kelvin where
the intrinsics project it. No ROS here."""

import hashlib

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from omni_ros.core.config import ConfigError, from_flat_dict
from omni_ros.core.types import ObjectEstimate
from omni_ros_sim.config import SimConfig
from omni_ros_sim.scene import (AMBIENT_C, AMBIENT_JITTER_C, COLD_RANGE_C, HOT_RANGE_C, ObjectSpec,
                                SceneSpec, random_scene)
from omni_ros_sim.world import STREAM_ORDER, World


def geometry(o):
    """Everything of an object but its temperature, rounded (as recorded below)."""
    return (o.id, o.shape, o.colour, o.material, round(o.size, 6), round(o.position[0], 6),
            round(o.position[1], 6), round(o.yaw, 6), o.height)


# Recorded with random_scene as it was before objects had temperatures.
BEFORE_TEMPERATURES = {
    0: [("obj_0", "cube", "red", "metal", 0.054, 0.537725, 0.110158, 0.496142, 0.05),
        ("obj_1", "cylinder", "green", "metal", 0.0405, 0.380712, 0.171554, 0.360742, 0.05),
        ("obj_2", "cylinder", "blue", "plastic", 0.0404, 0.52078, -0.096138, -0.590174, 0.05),
        ("obj_3", "cube", "orange", "plastic", 0.0503, 0.639275, 0.230801, 0.236341, 0.05),
        ("obj_4", "cylinder", "red", "wood", 0.0525, 0.439061, 0.05913, 0.450973, 0.05),
        ("obj_5", "sphere", "blue", "wood", 0.0423, 0.395228, -0.078664, -0.078007, 0.05)],
    7: [("obj_0", "cylinder", "purple", "wood", 0.047, 0.381369, 0.15419, -0.309396, 0.05),
        ("obj_1", "cube", "orange", "rubber", 0.0467, 0.452391, -0.117663, 0.007144, 0.05),
        ("obj_2", "cylinder", "orange", "rubber", 0.0493, 0.523909, 0.23784, 0.768057, 0.05),
        ("obj_3", "sphere", "orange", "rubber", 0.0405, 0.53926, -0.218908, 0.023387, 0.05),
        ("obj_4", "sphere", "blue", "plastic", 0.0437, 0.543599, 0.006776, -0.766872, 0.05),
        ("obj_5", "cube", "yellow", "plastic", 0.0536, 0.514966, 0.127319, -0.54811, 0.05)],
    49: [("obj_0", "sphere", "purple", "metal", 0.0516, 0.542162, 0.074791, 0.778729, 0.05),
         ("obj_1", "cylinder", "yellow", "wood", 0.0534, 0.512415, -0.186401, 0.198041, 0.05),
         ("obj_2", "sphere", "green", "metal", 0.0406, 0.384877, -0.172239, 0.55259, 0.05)],
}
# sha256 of repr(geometry(o)) of every object of seeds 0..49, in order, before temperatures.
BEFORE_DIGEST_0_49 = "b0ed4f39d8f845e7852e771788735a24be36be76579293d4f438f88ae1905ffb"


def test_random_scenes_keep_their_objects():
    for seed, objects in BEFORE_TEMPERATURES.items():
        assert [geometry(o) for o in random_scene(seed).objects] == objects
    h = hashlib.sha256()
    for seed in range(50):
        for o in random_scene(seed).objects:
            h.update(repr(geometry(o)).encode())
    assert h.hexdigest() == BEFORE_DIGEST_0_49


def test_random_temperatures_follow_the_hot_cold_rule():
    hot_scenes = cold_scenes = 0
    for seed in range(200):
        temps = [o.temperature_c for o in random_scene(seed).objects]
        hot = [t for t in temps if t >= HOT_RANGE_C[0]]
        cold = [t for t in temps if t <= COLD_RANGE_C[1]]
        rest = [t for t in temps if COLD_RANGE_C[1] < t < HOT_RANGE_C[0]]
        assert len(hot) <= 1 and len(cold) <= 1
        assert all(HOT_RANGE_C[0] <= t <= HOT_RANGE_C[1] for t in hot)
        assert all(COLD_RANGE_C[0] <= t <= COLD_RANGE_C[1] for t in cold)
        assert all(abs(t - AMBIENT_C) <= AMBIENT_JITTER_C for t in rest)
        hot_scenes += bool(hot)
        cold_scenes += bool(cold)
    assert 0.5 < hot_scenes / 200 < 0.7      # HOT_P = 0.6 (binomial std 0.035)
    assert 0.25 < cold_scenes / 200 < 0.45   # COLD_P = 0.35
    assert random_scene(3) == random_scene(3)


def test_temperatures_round_trip_through_yaml_and_old_yaml_loads():
    scene = random_scene(5)
    assert SceneSpec.from_yaml(scene.to_yaml()) == scene
    old = "objects:\n- {id: a, shape: cube, colour: red, material: wood, size: 0.05, position: [0.5, 0.0]}\n"
    assert SceneSpec.from_yaml(old).objects[0].temperature_c == AMBIENT_C
    with pytest.raises(ValueError, match="temperature"):
        ObjectSpec("a", "cube", "red", "wood", 0.05, (0.5, 0.0), temperature_c=-300.0)


def hot_and_cold():
    return SceneSpec([
        ObjectSpec("hot", "cube", "red", "metal", 0.06, (0.5, -0.1), temperature_c=80.0),
        ObjectSpec("cold", "cube", "blue", "wood", 0.06, (0.5, 0.12), temperature_c=3.0)])


def pixel(cam, point):
    """(row, column) where ``point`` (base frame [m]) projects in ``cam``'s image."""
    pos, orn = cam.pose()
    p = Rotation.from_quat(orn).inv().apply(np.asarray(point) - pos)
    k = cam.intrinsics
    return int(round(k.fy * p[1] / p[2] + k.cy)), int(round(k.fx * p[0] / p[2] + k.cx))


def test_thermal_image_reads_apparent_temperatures_where_bodies_project():
    with World(hot_and_cold()) as w:
        steps = [w.step() for _ in range(60)]
        frames = [r.data for step in steps for r in step if r.key == "thermal"]
        cam, c = w.thermal, w.cfg.thermal
        kelvin = frames[-1] / 100.0

        def reads_c(point):
            return kelvin[pixel(cam, point)] - 273.15

        def apparent(t, e=c.emissivity):
            return e * t + (1 - e) * c.ambient_c

    assert len(frames) == 2 and frames[-1].dtype == np.uint16
    assert frames[-1].shape == (c.height, c.width) == (60, 80)
    assert reads_c((0.5, -0.1, 0.03)) == pytest.approx(apparent(80.0), abs=3.0)
    assert reads_c((0.5, 0.12, 0.03)) == pytest.approx(apparent(3.0), abs=3.0)
    assert reads_c((0.5, 0.12, 0.03)) < c.ambient_c - 10
    assert reads_c((0.7, 0.0, 0.0)) == pytest.approx(apparent(c.table_c, c.table_emissivity), abs=0.5)
    # Readings of one step follow STREAM_ORDER: the thermal frame before depth and colour.
    for step in steps:
        keys = [r.key for r in step]
        assert keys == sorted(keys, key=STREAM_ORDER.index)
    assert STREAM_ORDER.index("thermal") < STREAM_ORDER.index("depth") < STREAM_ORDER.index("color")


def test_a_disabled_thermal_camera_yields_nothing_and_leaves_other_streams_alone():
    def streams(cfg):
        with World(hot_and_cold(), cfg, seed=2) as w:
            out = {}
            for _ in range(48):
                for r in w.step():
                    data = r.data
                    if isinstance(data, dict):
                        data = np.concatenate([np.ravel(v) for v in data.values()])
                    out.setdefault(r.key, []).append(data)
            return w.thermal, out

    cam_off, off = streams(from_flat_dict(SimConfig, {"thermal.enabled": False}))
    cam_on, on = streams(SimConfig())
    assert cam_off is None and "thermal" not in off and cam_on is not None and "thermal" in on
    for key in ("color", "depth", "lidar", "tactile", "wrench", "audio"):
        assert len(on[key]) == len(off[key]) and all(
            np.array_equal(a, b, equal_nan=True) for a, b in zip(on[key], off[key])), key


def test_ground_truth_objects_carry_their_temperature():
    scene = random_scene(11)
    with World(scene, seed=11) as w:
        truth = w.ground_truth().objects
    assert [o.temperature_c for o in truth] == [o.temperature_c for o in scene.objects]
    assert np.isnan(ObjectEstimate("x", "cube", "red").temperature_c)


def test_thermal_rate_must_divide_the_physics_rate():
    with pytest.raises(ConfigError, match="'thermal.rate_hz' = 7.0: must divide the physics rate 240"):
        from_flat_dict(SimConfig, {"thermal.rate_hz": 7.0})
    assert from_flat_dict(SimConfig, {"thermal.rate_hz": 12.0}).thermal.rate_hz == 12.0
    with pytest.raises(ConfigError, match="thermal.near"):
        from_flat_dict(SimConfig, {"thermal.near": 1.0, "thermal.far": 1.0})
