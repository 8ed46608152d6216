"""A modality is one file: the registry is the only list of modalities, and every consumer
(model config, pipeline, perception node, dataset assembler, data loader, stream table) reads it.
Training and serving build each modality's input with the same window, so the encoder inputs of
a dataset sample and of the live pipeline at the same instant are identical."""

import numpy as np
import pytest
import torch

from omni_ros.core.model.modalities import MODULES, REGISTRY, load_all, sensors, stream_owner
from omni_ros.core.model.model_config import ModelConfig
from omni_ros.core.model.omni import OmniModel
from omni_ros.core.perception.pipeline import MaxAge, Perception, SyncPerception
from omni_ros.dataset.assembler import SampleAssembler
from omni_ros.dataset.generate import episode_items
from omni_ros_sim.config import SimConfig

SENSORS = [m.name for m in sensors()]


def test_the_registry_is_the_one_list():
    """Every consumer's view of the modalities is derived from MODULES (one line per modality)."""
    from omni_ros import streams
    from omni_ros.nodes.sensor_inputs import input_streams

    assert list(load_all()) == list(MODULES)
    cfg = ModelConfig()
    assert cfg.modalities == SENSORS
    for m in sensors():
        assert type(getattr(cfg, m.name)) is m.config_cls          # its config section
        assert hasattr(MaxAge(), m.name)                            # pipeline.max_age.<name>
        assert getattr(MaxAge(), m.name) == m.max_age_s
        for s in m.streams:
            assert streams.BY_KEY[s.key].modality == m.name         # the stream table
            assert s.key in input_streams([m.name])                 # perception subscribes
            assert stream_owner()[s.key] == m.name
            assert s.key in SampleAssembler().owner                 # the dataset records it
        for key in getattr(m.window, "info", ()):                    # CameraInfo it reads
            assert key in input_streams([m.name]) and stream_owner()[key] == m.name
    assert "camera_info" in input_streams(["camera"])


@pytest.fixture(scope="module")
def fed():
    """One expert episode through the dataset assembler and the async pipeline side by side."""
    torch.manual_seed(0)
    model = OmniModel(ModelConfig())          # every registered modality (untrained is enough)
    pipe = Perception(model)
    asm = SampleAssembler.for_config(SimConfig())
    pairs = []
    gen = episode_items(3, SimConfig())
    for n, (key, stamp, payload) in enumerate(gen):
        pipe.push(key, stamp, payload)
        sample = asm.push(key, stamp, payload)
        if sample is not None and stamp > 0.6e9:     # every window filled and fresh
            pairs.append((sample, {k: {a: np.array(v) for a, v in b.items()}
                                   for k, b in pipe.encoded.items()}))
        if len(pairs) >= 12:
            break
    gen.close()
    return model, pairs


@pytest.mark.parametrize("name", SENSORS)
def test_training_and_serving_give_the_encoder_identical_inputs(fed, name):
    model, pairs = fed
    spec, cfg = REGISTRY[name], getattr(model.cfg, name)
    assert pairs, "no samples"
    for sample, encoded in pairs:
        train = spec.preprocess({k: np.asarray(v)[None] for k, v in sample.items()}, cfg)
        serve = spec.preprocess(encoded[name], cfg)
        assert train.keys() == serve.keys()
        for k in train:
            torch.testing.assert_close(train[k], serve[k], rtol=0, atol=0, equal_nan=True,
                                       msg=lambda m: f"{name}.{k}: {m}")


def test_a_drifted_window_would_be_caught(fed):
    """The comparison above can fail: one wrench reading more in the training window differs."""
    model, pairs = fed
    sample, encoded = pairs[-1]
    drifted = dict(sample, wrench=np.roll(sample["wrench"], 1, axis=0))
    spec, cfg = REGISTRY["force"], model.cfg.force
    a = spec.preprocess({"wrench": drifted["wrench"][None]}, cfg)["wrench"]
    assert not torch.equal(a, spec.preprocess(encoded["force"], cfg)["wrench"])


def test_sync_baseline_waits_for_the_models_streams_only():
    model = OmniModel(ModelConfig(modalities=["camera", "force"]))
    sync = SyncPerception(model)
    assert set(sync.inputs) == {"color", "depth", "wrench"}


def test_a_wrong_sized_image_is_a_clear_error():
    w = REGISTRY["thermal"].window(ModelConfig().thermal)
    with pytest.raises(ValueError, match=r"thermal: shape \(10, 10\); the model reads \(60, 80\)"):
        w.push("thermal", 0, np.zeros((10, 10), np.uint16))


def test_a_dense_lidar_cloud_is_cropped_to_the_workspace_before_it_is_thinned():
    """A room-scale 100k-point cloud: every point inside the workspace crop reaches the grid
    (the grid's budget is not spent on the room), and nothing outside it does."""
    from omni_ros.core.model.modalities.lidar import LidarModalityConfig, LidarWindow

    cfg = LidarModalityConfig()
    window = LidarWindow(cfg)
    origin = np.asarray(cfg.lidar_position, np.float32)
    gx, gy = np.meshgrid(np.arange(0.2, 0.85, 0.03), np.arange(-0.45, 0.45, 0.03))
    inside = np.c_[gx.ravel(), gy.ravel(), np.full(gx.size, 0.05)].astype(np.float32) - origin
    rng = np.random.default_rng(0)
    room = rng.uniform([-3, -3, -1], [3, 3, 2], (100_000, 3)).astype(np.float32)
    far = ~np.all((room + origin >= np.asarray(cfg.crop_min) - 0.05)
                  & (room + origin <= np.asarray(cfg.crop_max) + 0.05), axis=1)
    cloud = np.r_[np.c_[inside, np.full(len(inside), 50.0)], np.c_[room[far], np.zeros(far.sum())]]
    cloud = cloud[rng.permutation(len(cloud))].astype(np.float32)
    assert len(inside) < cfg.rings * cfg.columns < len(cloud)
    grid = window.convert("lidar", cloud)
    got = grid.reshape(-1, 4)
    got = got[np.isfinite(got).all(axis=1)]
    assert len(got) == len(inside)
    np.testing.assert_allclose(np.sort(got[:, 0]), np.sort(inside[:, 0]), atol=1e-6)
    assert np.all(got[:, 3] == 50.0)
