"""Dataset generation: shards load back with the right shapes and labels; a recording of the
real sim bridge process converts (--from-mcap) into exactly the samples of the direct path."""

import subprocess
import sys

import numpy as np
import pytest

from omni_ros.core.model.model_config import ModelConfig
from omni_ros.dataset.assembler import COLOURS, MAX_OBJECTS, SHAPES

WRENCH_WINDOW = ModelConfig().force.window
AUDIO_WINDOW = int(ModelConfig().audio.window_s * ModelConfig().audio.sample_rate)
from omni_ros.dataset.generate import from_mcap, generate
from omni_ros.dataset.shards import load_dataset
from omni_ros_sim.scene import random_scene
from omni_ros_sim.tasks import random_task

from _util import ROOT

SEED = 3


@pytest.fixture(scope="module")
def direct_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("direct")
    generate(out, episodes=1, seed=SEED, progress=False, samples_per_shard=40)
    return out


@pytest.fixture(scope="module")
def direct(direct_dir):
    return load_dataset(direct_dir)


def test_shards_load_back_with_shapes_and_labels(direct):
    data, manifest = direct
    n = manifest["samples"]
    assert len(manifest["shards"]) == -(-n // 40) and manifest["episodes"][0]["success"]
    assert 80 <= n <= 160  # one camera frame per sample at 15 Hz over a 6-9 s episode
    shapes = {"color": (96, 96, 3), "depth": (96, 96), "lidar": (16, 180, 4),
              "wrench": (WRENCH_WINDOW, 6), "tactile": (2, 4, 4), "audio": (AUDIO_WINDOW,),
              "joints": (9,), "obj_position": (MAX_OBJECTS, 3)}
    for key, shape in shapes.items():
        assert data[key].shape == (n, *shape), key
    assert np.all(np.abs(np.diff(data["stamp_ns"]) - 1e9 / 15) <= 1)  # every frame, 15 Hz
    assert data["labelled"].all()
    for m in ("depth", "tactile", "joints", "wrench", "audio"):
        assert data[f"present_{m}"].all(), m
    # The lidar (10 Hz) has not fired yet at the first camera frame (1/15 s).
    assert not data["present_lidar"][0] and data["present_lidar"][1:].all()
    assert np.isnan(data["lidar"][0]).all()

    scene = random_scene(SEED)
    task = random_task(scene, SEED)
    k = len(scene.objects)
    assert np.all(data["obj_valid"].sum(axis=1) == k)
    assert [SHAPES[i] for i in data["obj_shape"][0, :k]] == [o.shape for o in scene.objects]
    assert [COLOURS[i] for i in data["obj_colour"][0, :k]] == [o.colour for o in scene.objects]
    target = [o.id for o in scene.objects].index(task.object_id)
    assert np.all(data["target"] == target)
    np.testing.assert_allclose(data["place_xy"][0], task.place_xy, atol=1e-6)
    np.testing.assert_allclose(data["obj_mass"][0, target], scene.objects[target].mass, rtol=1e-6)
    held = data["held"] == target
    assert held.sum() > 20 and np.all(data["grasping"][held])
    # While held, the object rises with the gripper; at the end it rests at the place point.
    assert data["obj_position"][held, target, 2].max() > 0.1
    np.testing.assert_allclose(data["obj_position"][-1, target, :2], task.place_xy, atol=0.02)
    assert data["tactile"][held].sum(axis=(1, 2, 3)).min() > 20  # two pads x ~15 N
    assert not data["tactile"][:5].any()
    assert data["impact"].sum() >= 1 and data["impact_material"][data["impact"]].min() >= 0


@pytest.mark.ros
def test_recording_of_the_bridge_converts_to_the_same_samples(direct, tmp_path):
    mcap = tmp_path / "episode.mcap"
    bridge = subprocess.run(
        [sys.executable, "-m", "omni_ros.nodes.sim_bridge", "--ros-args", "-p", "expert:=true",
         "-p", "episodes:=1", "-p", "real_time_factor:=0.0", "-p", f"seed:={SEED}",
         "-p", f"record:={mcap}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bridge.returncode == 0, bridge.stderr[-3000:]
    assert "episode 0 (seed 3): success" in bridge.stderr

    out = tmp_path / "from_mcap"
    manifest = from_mcap(mcap, out)
    recorded, _ = load_dataset(out)
    data, direct_manifest = direct
    assert manifest["samples"] == direct_manifest["samples"]
    for key in data:
        if key != "episode":
            assert np.array_equal(recorded[key], data[key], equal_nan=data[key].dtype.kind == "f"), key

    # The file is standard ROS 2 MCAP: the reference decoder reads it too.
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    with open(mcap, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        decoded = {c.topic: m for _, c, _, m in reader.iter_decoded_messages(
            topics=["/sim/task", "/wrist/wrench"])}
    assert decoded["/sim/task"].raw_text.startswith("pick up the ")
    assert abs(decoded["/wrist/wrench"].wrench.force.z) > 5  # the hand's weight


def test_dataset_cli_rejects_bad_arguments(tmp_path):
    from omni_ros.cli import main

    assert main(["dataset", "--out", str(tmp_path), "--episodes", "0"]) == 2
    assert main(["dataset", "--out", str(tmp_path), "--from-mcap", str(tmp_path / "nope.mcap")]) == 2
    bad = tmp_path / "sim.yaml"
    bad.write_text("camera.rate_hz: 25.0\n")
    assert main(["dataset", "--out", str(tmp_path), "--config", str(bad)]) == 2
    crop = tmp_path / "model.yaml"
    crop.write_text("model.camera.workspace_crop_m: [0.4, 0.6]\n")
    assert main(["dataset", "--out", str(tmp_path), "--model-config", str(crop)]) == 2
    assert main(["dataset", "--out", str(tmp_path), "--model-config", str(tmp_path / "no.yaml")]) == 2
    assert not (tmp_path / "manifest.json").exists()


def test_a_robot_recording_with_other_topic_names_and_missing_sensors(tmp_path):
    """A bag from a robot without tactile pads or ground truth, under its own topic names."""
    from omni_ros import conversions as cv
    from omni_ros.dataset.mcap_io import McapWriter
    from omni_ros.samples import SampleSizes, sensor_sample

    sizes = SampleSizes(cloud_points=500, image_width=96, image_height=96)  # the model's input
    path = tmp_path / "robot.mcap"
    writer = McapWriter(path)
    names = {"color": "/robot/rgb", "depth": "/robot/depth", "lidar": "/robot/points",
             "wrench": "/robot/ft"}
    for i in range(30):  # 1 s: wrench at 120 Hz, camera at 15 Hz, lidar at 10 Hz
        t = (i + 1) * 1_000_000_000 // 30
        for _ in range(4):
            writer.write(names["wrench"], cv.numpy_to_wrench(np.ones(6), "ft", t), t)
        if i % 3 == 0:
            writer.write(names["lidar"], sensor_sample("lidar", 0, i, t, sizes), t)
        if i % 2 == 1:
            writer.write(names["depth"], sensor_sample("depth", 0, i, t, sizes), t)
            writer.write(names["color"], sensor_sample("color", 0, i, t, sizes), t)
        writer.write("/robot/unknown", cv.numpy_to_wrench(np.zeros(6)), t)
    writer.close()

    from omni_ros.cli import main

    remap = [f"{names['color']}:=/camera/color/image_raw", f"{names['depth']}:=/camera/depth/image_raw",
             f"{names['lidar']}:=/lidar/points", f"{names['wrench']}:=/wrist/wrench"]
    args = ["dataset", "--from-mcap", str(path), "--out", str(tmp_path / "ds")]
    for r in remap:
        args += ["--remap", r]
    assert main(args) == 0
    data, manifest = load_dataset(tmp_path / "ds")
    assert manifest["samples"] == 15 and manifest["skipped_topics"] == {"/robot/unknown": 30}
    assert not data["labelled"].any() and not data["obj_valid"].any()
    assert data["present_depth"].all() and data["present_wrench"].all()
    assert not data["present_tactile"].any() and not data["tactile"].any()
    assert data["present_lidar"].all() and data["lidar"].shape == (15, 16, 180, 4)
    # another layout than the model's grid: the scan's points inside the workspace crop fill
    # the grid in order (the room around it is dropped before any thinning), NaN after them.
    # (This synthetic scan, uniform in a 10 m cube, has next to none inside: the grid is the
    # check that the rest is dropped; test_modalities checks a scan with a populated workspace.)
    from omni_ros.core.model.modalities.lidar import LidarModalityConfig, LidarWindow
    scan = cv.pointcloud2_to_array(sensor_sample("lidar", 0, 0, 1_000_000_000 // 30, sizes),
                                   ("x", "y", "z", "intensity"))
    lo, hi = LidarWindow(LidarModalityConfig()).crop
    kept = scan[np.all((scan[:, :3] >= lo) & (scan[:, :3] <= hi), axis=1)]
    grid = data["lidar"][0].reshape(-1, 4)
    np.testing.assert_array_equal(grid[:len(kept)], kept)
    assert np.isnan(grid[len(kept):]).all()
    np.testing.assert_array_equal(data["wrench"][-1], np.ones((WRENCH_WINDOW, 6)))


def test_datasets_of_different_versions_load_as_one(tmp_path):
    """An older dataset (6 object slots, no camera geometry) and a newer one (10 slots,
    camera_K) load together: missing arrays read as unknown, missing slots as empty."""
    from omni_ros.dataset.shards import ShardWriter, load_datasets, write_manifest

    def make(folder, slots, extra):
        w = ShardWriter(tmp_path / folder, "shard-000", 8)
        for i in range(3):
            w.add({"stamp_ns": np.int64(i), "obj_valid": np.ones(slots, bool),
                   "obj_shape": np.zeros(slots, np.int8),
                   "obj_temperature": np.full(slots, 20.0, np.float32), **extra}, 0)
        w.flush()
        write_manifest(tmp_path / folder, w.shards, [{"index": 0, "seed": 0}], {})

    make("old", 6, {})
    make("new", 10, {"camera_K": np.eye(3, dtype=np.float32)})
    a, manifest = load_datasets([tmp_path / "old", tmp_path / "new"])
    assert a["obj_valid"].shape == (6, 10) and a["obj_valid"][:3, 6:].sum() == 0
    assert (a["obj_shape"][:3, 6:] == -1).all() and np.isnan(a["obj_temperature"][:3, 6:]).all()
    assert np.isnan(a["camera_K"][:3]).all() and (a["camera_K"][3:] == np.eye(3)).all()
    assert list(a["episode"]) == [0, 0, 0, 1, 1, 1] and len(manifest["episodes"]) == 2
    assert list(a["source"]) == [0, 0, 0, 1, 1, 1]  # each sample's folder


@pytest.mark.timeout(600)
def test_ray_tasks_make_the_shards_of_the_local_path(tmp_path):
    """`omni-ros dataset --ray`: the episodes as Ray tasks (a local Ray with 2 CPUs; shards come
    back as bytes, as from a cluster's nodes) write the same shards, sample for sample, and the
    same episode records as the local path for the same seeds."""
    import json

    local, on_ray = tmp_path / "local", tmp_path / "ray"
    episodes = 9    # two jobs of CHUNK_EPISODES = 8: two Ray tasks
    generate(local, episodes, seed=SEED, progress=False, frame_stride=8)
    out = subprocess.run([sys.executable, "-m", "omni_ros.cli", "dataset", "--out", str(on_ray),
                          "--episodes", str(episodes), "--seed", str(SEED), "--frame-stride", "8",
                          "--workers", "2", "--ray"], capture_output=True, text=True, timeout=540)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    a, b = (json.loads((d / "manifest.json").read_text()) for d in (local, on_ray))
    assert a["shards"] == b["shards"] and a["episodes"] == b["episodes"]
    assert b["stats"]["ray"] == "local" and len(b["shards"]) >= 2
    for shard in a["shards"]:
        with np.load(local / shard["file"]) as x, np.load(on_ray / shard["file"]) as y:
            assert sorted(x.files) == sorted(y.files)
            for k in x.files:
                np.testing.assert_array_equal(x[k], y[k], err_msg=f"{shard['file']}: {k}")


def test_a_dataset_is_made_for_its_models_camera_window(direct_dir, tmp_path):
    """`omni-ros dataset --model-config` with a workspace crop: the images zoom on the
    workspace (a longer focal length, the objects on more pixels, still labelled where the
    geometry puts them), the manifest records the window, and a model whose camera window
    differs refuses the data instead of training on images it would never be served."""
    import json

    from omni_ros.cli import main
    from omni_ros.dataset.shards import DatasetError
    from omni_ros.learning.data import ShardData

    crop = tmp_path / "crop.yaml"
    crop.write_text("model:\n  camera:\n    workspace_crop_m: [0.38, 0.64, -0.24, 0.24, 0.0, 0.08]\n")
    out = tmp_path / "zoomed"
    assert main(["dataset", "--out", str(out), "--episodes", "1", "--seed", str(SEED),
                 "--model-config", str(crop)]) == 0
    window = json.loads((out / "manifest.json").read_text())["camera_window"]
    assert window["workspace_crop_m"] == [0.38, 0.64, -0.24, 0.24, 0.0, 0.08]
    from omni_ros.cli.train import load_config

    cfg = load_config(crop).model
    zoomed = ShardData(out, cfg, progress=False)
    plain = ShardData(direct_dir, ModelConfig(), progress=False)
    focal = lambda data: np.nanmedian(data.a["camera_K"][:, 0, 0])  # [px]
    assert focal(zoomed) > 1.15 * focal(plain)
    labelled = lambda labels: (labels["slot"] >= 0).sum(dim=(1, 2)).float().mean().item()
    assert labelled(zoomed.labels) > 1.2 * labelled(plain.labels)  # object pixels
    with pytest.raises(DatasetError, match="--model-config"):
        ShardData(out, ModelConfig(), progress=False)
    with pytest.raises(DatasetError, match="camera window"):
        ShardData([out, direct_dir], cfg, progress=False)
