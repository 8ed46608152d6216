"""Per-episode cell randomisation (``randomize`` in SimConfig): off, every seed's scene, task and
images are those recorded before it existed; on, the camera, lighting, shades, sizes, counts and
distractors are drawn per seed within their ranges, and ``omni-ros dataset`` runs end to end.
No ROS here."""

import colorsys
import hashlib
from dataclasses import asdict, replace

import numpy as np
import pybullet as pb
import pytest

from omni_ros.core.config import ConfigError, from_flat_dict
from omni_ros.core.geometry import CameraGeometry
from omni_ros_sim.config import SimConfig
from omni_ros_sim.expert import run_episode
from omni_ros_sim.scene import (COLOURS, GRASP_MAX_SIZE, SHAPES, SPAWN_X, SPAWN_Y,
                                DistractorSpec, ObjectSpec, SceneSpec, clear_of, hue_deg,
                                hue_distance, random_cell_scene, random_scene, random_shade)
from omni_ros_sim.sensors.camera import light_rgb, random_camera, sees_workspace
from omni_ros_sim.tasks import random_cell, random_task
from omni_ros_sim.world import World

# Recorded before randomisation existed: sha256 over seeds 0..39 of repr(asdict(object)) of every
# object of random_scene(seed) (fields then: LEGACY_FIELDS) and repr(asdict(random_task)).
LEGACY_FIELDS = ("id", "shape", "colour", "material", "size", "position", "yaw", "height",
                 "temperature_c")
LEGACY_SCENES_0_39 = "d45b5fbadbfe48e2697a39117541f3132a4e8f8ecf0dade4f94ed18ffdc135a6"
# ... and the first 16 hex digits of sha256 over each stream's arrays in the first 48 physics
# steps of World(random_scene(seed), SimConfig(), seed).
LEGACY_FRAMES = {
    0: {"color": "8c468fe238d05126", "depth": "cfd6b4e868505c99", "lidar": "a455378dba435598",
        "thermal": "a6f0c1065fe98b30"},
    3: {"color": "d312c27fb5cd76a0", "depth": "0e576c97a07964ae", "lidar": "694a42d7989b6121",
        "thermal": "e8fb8e00c7045039"},
}


def randomised(**ranges) -> SimConfig:
    cfg = SimConfig()
    cfg.randomize = replace(cfg.randomize, enabled=True, **ranges)
    return cfg


def frame_hashes(scene, cfg, seed, steps=48):
    hashes = {}
    with World(scene, cfg, seed) as w:
        for _ in range(steps):
            for r in w.step():
                if r.key in ("color", "depth", "lidar", "thermal"):
                    hashes.setdefault(r.key, hashlib.sha256()).update(
                        np.ascontiguousarray(r.data).tobytes())
    return {k: h.hexdigest()[:16] for k, h in hashes.items()}


def test_off_every_seed_keeps_its_scene_task_and_images():
    h = hashlib.sha256()
    for seed in range(40):
        cfg, scene, task, _ = random_cell(seed, SimConfig())
        assert cfg == SimConfig() and scene == random_scene(seed)
        assert task == random_task(scene, seed) and not scene.distractors
        for o in scene.objects:
            assert o.shade is None
            h.update(repr({k: v for k, v in asdict(o).items() if k in LEGACY_FIELDS}).encode())
        h.update(repr(asdict(task)).encode())
    assert h.hexdigest() == LEGACY_SCENES_0_39
    for seed, expected in LEGACY_FRAMES.items():
        cell = random_cell(seed, SimConfig())
        assert frame_hashes(cell.scene, cell.cfg, seed) == expected


def test_cells_are_a_function_of_the_seed():
    cfg = randomised()
    assert random_cell(5, cfg) == random_cell(5, cfg)
    a, b = random_cell(5, cfg), random_cell(6, cfg)
    assert a.cfg.camera != b.cfg.camera and a.scene != b.scene
    assert cfg.camera == SimConfig().camera  # the run's config is left alone


def test_random_cameras_stay_in_their_ranges_and_see_the_whole_workspace():
    cfg = randomised()
    r, nominal = cfg.randomize, cfg.camera
    shoulder = 0
    for seed in range(150):
        cam = random_camera(seed, nominal, r)
        assert 45.0 <= cam.fov_deg <= 75.0 and 64 <= cam.width <= 640 and cam.height <= 480
        assert any(cam.height == round(cam.width / a) for a in (1.0, 4 / 3, 16 / 9))
        eye = np.array(cam.eye)
        mounts = [np.array(nominal.eye)] + [np.array([-0.15, s * 0.40, 0.90]) for s in (-1, 1)]
        offsets = [np.abs(eye - m).max() for m in mounts]
        assert min(offsets) <= 0.15 + 1e-9
        shoulder += int(np.argmin(offsets) > 0)
        assert sees_workspace(cam, r.object_size_m[1], nominal.fov_deg)
        assert_in_model_view(cam, r.object_size_m[1], nominal.fov_deg)
        light = np.array(cam.light_direction)
        assert abs(np.linalg.norm(light) - 1) < 1e-9 and 30 <= np.degrees(np.arcsin(light[2])) <= 85
        assert 0.35 <= cam.light_ambient <= 0.75 and 0.2 <= cam.light_diffuse <= 0.6
        assert 0.0 <= cam.light_specular <= 0.15
    assert 0.15 < shoulder / 150 < 0.36  # over_shoulder_p 0.25 (binomial std 0.035)


def assert_in_model_view(cam, height_m, model_fov_deg):
    """The workspace corners through PyBullet's own view and projection matrices (what the
    renderer uses) land in the centred square of the image and within the model's field of
    view (what the model's camera window keeps)."""
    view = np.array(pb.computeViewMatrix(cam.eye, cam.target, [0, 0, 1])).reshape(4, 4).T
    proj = np.array(pb.computeProjectionMatrixFOV(cam.fov_deg, cam.width / cam.height, cam.near,
                                                  cam.far)).reshape(4, 4).T
    t = np.tan(np.radians(cam.fov_deg) / 2)
    limit = min(min(cam.width, cam.height) / cam.height * t, np.tan(np.radians(model_fov_deg) / 2))
    for x in SPAWN_X:
        for y in SPAWN_Y:
            for z in (0.0, height_m):
                clip = proj @ view @ np.array([x, y, z, 1.0])
                assert clip[3] > 0
                ndc = clip[:2] / clip[3]  # tangents of the ray = ndc * (aspect * t, t)
                assert abs(ndc[0]) * cam.width / cam.height * t <= limit * 1.001
                assert abs(ndc[1]) * t <= limit * 1.001


def test_the_light_settings_reach_the_renderer():
    dark = SimConfig()
    dark.camera = replace(dark.camera, light_ambient=0.0, light_diffuse=0.0, light_specular=0.0,
                          color_noise=0.0)
    scene = SceneSpec([ObjectSpec("a", "cube", "red", "wood", 0.05, (0.5, 0.0))])
    with World(scene, dark, 0) as w:
        rgb, _ = w.camera.read()
    assert rgb[-1, rgb.shape[1] // 2].tolist() == [0, 0, 0]  # the unlit table
    assert light_rgb(6500.0) == [1.0, 1.0, 1.0]
    warm = light_rgb(2700.0)
    assert warm[0] == 1.0 and warm[0] > warm[1] > warm[2] > 0.3


def nearest_name(rgb) -> str:
    return min(COLOURS, key=lambda name: hue_distance(hue_deg(rgb), hue_deg(COLOURS[name])))


@pytest.mark.parametrize("hue_fraction", [0.4, 0.95])
def test_every_shade_stays_nearest_its_own_colour_name(hue_fraction):
    r = randomised(hue_fraction=hue_fraction).randomize
    rng = np.random.default_rng(0)
    for name, nominal in COLOURS.items():
        _, s0, v0 = colorsys.rgb_to_hsv(*nominal[:3])
        hues = []
        for _ in range(400):
            shade = random_shade(name, rng, r)
            assert nearest_name(shade) == name, (name, shade)
            _, s, v = colorsys.rgb_to_hsv(*shade)
            assert 0.75 * s0 - 1e-3 <= s <= min(1.0, s0) + 1e-3
            assert 0.8 * v0 - 1e-3 <= v <= min(1.0, 1.05 * v0) + 1e-3
            hues.append(hue_distance(hue_deg(shade), hue_deg(nominal)))
        assert max(hues) > 3.0  # shades do vary
    for seed in range(30):  # and so do the scenes' objects
        for o in random_cell_scene(seed, r).objects:
            assert nearest_name(o.shade) == o.colour and o.rgb == o.shade


def test_cell_scenes_sizes_counts_clearance_and_tasks():
    cfg = randomised()
    counts, distractors = [], []
    for seed in range(80):
        cell = random_cell(seed, cfg)
        objects, others = cell.scene.objects, cell.scene.distractors
        counts.append(len(objects))
        distractors.append(len(others))
        assert 1 <= len(objects) <= 10 and len(others) <= 3
        assert len({(o.colour, o.shape) for o in objects}) == len(objects)
        assert [o.id for o in objects] == [f"obj_{i}" for i in range(len(objects))]
        assert objects[0].size <= GRASP_MAX_SIZE
        for o in objects:
            assert 0.03 <= o.size <= 0.08 and (o.shape != "cylinder" or 0.03 <= o.height <= 0.08)
        bodies = objects + others
        for i, b in enumerate(bodies):
            assert SPAWN_X[0] <= b.position[0] <= SPAWN_X[1]
            assert SPAWN_Y[0] <= b.position[1] <= SPAWN_Y[1]
            assert clear_of(b.position, b.footprint_radius, bodies[:i])
        for d in others:
            assert d.kind not in SHAPES
        target = cell.scene.by_id(cell.task.object_id)
        assert target.size <= GRASP_MAX_SIZE
        assert clear_of(cell.task.place_xy, target.footprint_radius,
                        [b for b in bodies if b is not target])
    assert min(counts) == 1 and max(counts) >= 9 and np.mean(counts) > 4.5
    assert set(distractors) == {0, 1, 2, 3}
    crowded = randomised(object_count=[10, 10], object_size_m=[0.08, 0.08])
    for seed in range(5):  # ten of the largest do not fit: fewer, no error
        cell = random_cell(seed, crowded)
        assert 3 <= len(cell.scene.objects) < 10


def test_scenes_with_shades_and_distractors_round_trip_through_yaml():
    scene = random_cell_scene(3, randomised(distractor_count=[3, 3]).randomize)
    assert scene.distractors and SceneSpec.from_yaml(scene.to_yaml()) == scene
    with pytest.raises(ValueError, match="kind"):
        DistractorSpec("d", "cube", (0.05, 0.05, 0.05), (0.5, 0.5, 0.5), "wood", (0.5, 0.0))


def test_distractors_collide_are_seen_and_stay_out_of_the_objects():
    cfg = SimConfig()
    cfg.lidar = replace(cfg.lidar, range_noise_m=0.0)
    cfg.thermal = replace(cfg.thermal, noise_k=0.0, blur_sigma_px=0.0)
    scene = SceneSpec(
        [ObjectSpec("obj_0", "cube", "red", "wood", 0.05, (0.40, 0.20), temperature_c=70.0)],
        [DistractorSpec("distractor_0", "capsule", (0.10, 0.04, 0.04), (0.1, 0.6, 0.9), "plastic",
                        (0.45, -0.12), 0.3),
         DistractorSpec("distractor_1", "disc", (0.09, 0.09, 0.012), (0.9, 0.9, 0.9), "metal",
                        (0.58, 0.10)),
         DistractorSpec("distractor_2", "book", (0.12, 0.07, 0.03), (0.3, 0.2, 0.1), "wood",
                        (0.60, -0.12), -0.5)])
    with World(scene, cfg, 0) as w:
        for _ in range(120):
            w.step()
        gt = w.ground_truth()
        assert [o.id for o in gt.objects] == ["obj_0"]
        assert [(d.id, d.shape) for d in gt.distractors] == [
            ("distractor_0", "capsule"), ("distractor_1", "disc"), ("distractor_2", "book")]
        bodies = list(w.distractor_bodies)
        cloud = w.lidar.read().reshape(-1, 4)
        cloud = cloud[np.isfinite(cloud[:, 0])]
        points = cloud[:, :3] + np.asarray(cfg.lidar.position)
        thermal = w.thermal.read()
        for body, d, est in zip(bodies, scene.distractors, gt.distractors):
            pos, _ = pb.getBasePositionAndOrientation(body, physicsClientId=w.cid)
            assert abs(pos[2] - d.extents[2] / 2) < 2e-3  # rests on the table
            assert np.hypot(pos[0] - d.position[0], pos[1] - d.position[1]) < 2e-3
            assert pb.getContactPoints(body, w.table, physicsClientId=w.cid)
            np.testing.assert_allclose(est.position, pos, atol=1e-9)
            near = np.linalg.norm(points[:, :2] - np.array(pos[:2]), axis=1) < 0.03
            near &= points[:, 2] > 0.004  # above the table top: the body, not the table
            assert near.any(), d.id  # the lidar sees it, at its brightness
            np.testing.assert_allclose(cloud[near, 3], 100 * np.mean(d.rgb), rtol=1e-5)
            (u, v), = _project(cfg.thermal, pos)
            assert abs(thermal[v, u] / 100 - 273.15 - cfg.thermal.ambient_c) < 0.01, d.id
        # The hot object shows at its own temperature, the distractors at the ambient one.
        (u, v), = _project(cfg.thermal, w.object_position("obj_0"))
        assert thermal[v, u] / 100 - 273.15 > 50.0


def _project(view_cfg, point):
    """Pixel (u, v) of base-frame ``point`` in the camera of ``view_cfg``."""
    uv, _ = CameraGeometry.from_config(view_cfg).project(np.array([point], float))
    return np.rint(uv).astype(int)


def test_randomize_config_is_checked():
    ok = from_flat_dict(SimConfig, {"randomize.enabled": True, "randomize.aspects": ["3:2"]})
    assert ok.randomize.aspect_ratios() == [1.5]
    for bad, match in [({"randomize.fov_deg": [70.0, 50.0]}, "low <= high"),
                       ({"randomize.aspects": ["wide"]}, "W:H"),
                       ({"randomize.object_size_m": [0.03, 0.09]}, "0.08"),
                       ({"randomize.hue_fraction": 1.0}, "hue")]:
        with pytest.raises(ConfigError, match=match):
            from_flat_dict(SimConfig, bad)


@pytest.mark.parametrize("seed", [0, 1])
def test_expert_picks_and_places_in_random_cells(seed):
    cell = random_cell(seed, randomised())
    with World(cell.scene, cell.cfg, seed) as w:
        result = run_episode(w, cell.task)
    assert result.success, result.failure


def test_dataset_cli_with_randomisation_runs_end_to_end(tmp_path):
    from omni_ros.cli import main
    from omni_ros.dataset.shards import load_dataset

    config = tmp_path / "sim.yaml"
    config.write_text("randomize:\n  enabled: true\n")
    out = tmp_path / "ds"
    assert main(["dataset", "--out", str(out), "--episodes", "2", "--seed", "0", "--workers", "1",
                 "--config", str(config)]) == 0
    data, manifest = load_dataset(out)
    assert manifest["sim_config"]["randomize.enabled"]
    assert data["color"].shape[1:] == (96, 96, 3) and data["depth"].shape[1:] == (96, 96)
    poses = [data["camera_pose"][data["episode"] == e] for e in (0, 1)]
    for p in poses:
        assert len(p) and np.all(p == p[0])  # one mount per episode
    assert not np.allclose(poses[0][0], poses[1][0], atol=1e-3)
    for e in (0, 1):  # each episode's recorded mount is its cell's camera
        cam = random_cell(e, randomised())
        np.testing.assert_allclose(poses[e][0][:3], cam.cfg.camera.eye, atol=1e-5)
