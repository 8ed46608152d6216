"""Compression: router branch pruning is exact; a compressed checkpoint (ONNX float or int8)
is an ordinary checkpoint that loads by name, runs the live pipeline and gives the float
model's outputs (float: to rounding; int8: close); placement on a device this machine lacks is
a clear error or, with fallback, the CPU; the CUDA path runs where a GPU exists."""

import numpy as np
import pytest
import torch

from omni_ros.core.config import ConfigError, from_flat_dict
from omni_ros.core.model.checkpoint import load_checkpoint, save_checkpoint
from omni_ros.core.model.model_config import CompressConfig, OmniConfig
from omni_ros.core.model.omni import OmniModel
from omni_ros.core.model.prune import prune_branches
from omni_ros.core.model.runtime import OnnxModule, PlacementConfig, PlacementError, place

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model with every registered sensor but thermal (as omni_small), random weights."""
    torch.manual_seed(0)
    cfg = OmniConfig()
    cfg.model.modalities = ["camera", "lidar", "audio", "tactile", "force"]
    model = OmniModel(cfg.model).eval()
    path = save_checkpoint(tmp_path_factory.mktemp("ckpt") / "small.pt", model, cfg, {})
    return path, model, cfg


def _latents(names, b=8, seed=1):
    g = torch.Generator().manual_seed(seed)
    return {n: torch.nn.functional.normalize(torch.randn(b, 128, generator=g), dim=-1) for n in names}


def test_branch_pruning_gives_what_the_full_model_gives_without_that_modality(trained):
    _, model, cfg = trained
    pruned, pcfg = prune_branches(model, cfg, ["audio"])
    assert pruned.names == ["camera", "lidar", "tactile", "force"] and "audio" not in pruned.encoders
    lat = _latents(model.names)
    present = torch.rand(8, 5, generator=torch.Generator().manual_seed(2)) > 0.3
    present[:, model.names.index("audio")] = False
    keep = [model.names.index(n) for n in pruned.names]
    f_full, g_full, c_full = model.fuse_explained(lat, present)
    f, g, c = pruned.fuse_explained({n: lat[n] for n in pruned.names}, present[:, keep])
    torch.testing.assert_close(f, f_full, atol=1e-6, rtol=0)
    torch.testing.assert_close(g, g_full[:, keep], atol=1e-6, rtol=0)
    torch.testing.assert_close(c, c_full[:, keep], atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="sonar"):
        prune_branches(model, cfg, ["sonar"])
    with pytest.raises(ValueError, match="every modality"):
        prune_branches(model, cfg, list(model.names))


def test_rules_naming_a_pruned_modality_go(trained):
    _, model, cfg = trained
    import copy
    cfg = copy.deepcopy(cfg)
    cfg.model.router.rules = ["lidar+force: lidar=0.7 force=0.3", "audio+force: audio=0.5 force=0.5"]
    _, pcfg = prune_branches(model, cfg, ["audio"])
    assert pcfg.model.router.rules == ["lidar+force: lidar=0.7 force=0.3"]


def test_branch_effects_are_what_pruning_that_branch_changes(trained):
    """The share of decisions changed without a modality (masked in the full model) is what the
    model with that branch pruned decides differently - computed here from the pruned model."""
    from omni_ros.core.model.prune import branch_effects

    _, model, cfg = trained
    g = torch.Generator().manual_seed(3)
    stack = torch.nn.functional.normalize(torch.randn(64, 5, 128, generator=g), dim=-1)
    effects = branch_effects(model, stack)
    assert set(effects) == set(model.names)

    def contact_impact(m, x):
        fused, _ = m.router(x, torch.ones(x.shape[:2], dtype=torch.bool))
        s = m.state_head(fused)
        return torch.sigmoid(s["contact_logits"]) > 0.5, torch.sigmoid(s["impact_logit"]) > 0.5

    with torch.no_grad():
        contact, impact = contact_impact(model, stack)
        for name in ("lidar", "audio", "force"):
            pruned, _ = prune_branches(model, cfg, [name])
            keep = [model.names.index(n) for n in pruned.names]
            c, i = contact_impact(pruned, stack[:, keep])
            e = effects[name]
            assert e["contact"] == pytest.approx(float((c != contact).any(1).float().mean()))
            assert e["impact"] == pytest.approx(float((i != impact).float().mean()))
            assert e["max"] == max(v for k, v in e.items() if k != "max") and 0 <= e["max"] <= 1
    assert any(e["max"] > 0 for e in effects.values())   # random weights: some decision moves


def test_auto_pruning_keeps_a_rarely_used_branch_the_decisions_need():
    """A microphone the router rarely weighs but that decides each impact's material stays;
    a branch whose absence changes nothing goes; the camera (objects bypass the router) never."""
    from omni_ros.learning.compress import auto_prune

    names = ["camera", "lidar", "audio", "tactile", "force"]
    gates = {"camera": 0.05, "lidar": 0.08, "audio": 0.08, "tactile": 0.2, "force": 0.59}
    quiet = {"contact": 0.0, "impact": 0.0, "impact_material": 0.0, "held_identity": 0.0,
             "max": 0.0}
    effects = {n: dict(quiet) for n in names}
    effects["audio"].update(impact=0.009, impact_material=0.8, max=0.8)
    said = []
    assert auto_prune(names, gates, effects, CompressConfig(min_gate=0.1), said.append) == ["lidar"]
    assert len(said) == 1 and "kept audio" in said[0] and "impact material" in said[0]
    assert auto_prune(names, gates, effects, CompressConfig(min_gate=0.1, max_change=0.9),
                      said.append) == ["lidar", "audio"]
    assert auto_prune(names, gates, effects, CompressConfig(min_gate=0.05)) == []


def test_the_compress_cli_passes_the_pruning_thresholds():
    import argparse

    from omni_ros.cli import compress as cli

    ap = argparse.ArgumentParser()
    cli.add_arguments(ap)
    cfg = cli.config_from_args(ap.parse_args(["--checkpoint", "omni_small.pt", "--out", "x.pt",
                                              "--prune-branches", "auto", "--min-gate", "0.2",
                                              "--max-change", "0.05"]))
    assert (cfg.min_gate, cfg.max_change, cfg.prune_branches) == (0.2, 0.05, [])
    with pytest.raises(ConfigError, match="max_change"):
        cli.config_from_args(ap.parse_args(["--checkpoint", "omni_small.pt", "--out", "x.pt",
                                            "--max-change", "2"]))


def test_channel_pruning_keeps_the_strongest_channels_and_every_other_tensor(trained):
    from omni_ros.core.model.prune import prune_channels

    _, model, cfg = trained
    x = _inputs(model)["camera"]
    same, _ = prune_channels(model, cfg, 1.0)   # keeping everything is the same function
    with torch.no_grad():
        for k, v in distill_outputs(model, x["image"]).items():
            torch.testing.assert_close(distill_outputs(same, x["image"])[k], v, atol=0, rtol=0)
    half, hcfg = prune_channels(model, cfg, 0.5)
    assert hcfg.model.camera.channels == [8, 16, 32] and hcfg.model.camera.head_width == 32
    assert cfg.model.camera.channels == [16, 32, 64]  # the source config is not changed
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(half.encoders["camera"]) < 0.35 * count(model.encoders["camera"])
    full = model.state_dict()
    for k, v in half.state_dict().items():
        if not k.startswith(("encoders.camera.", "object_head.")):
            assert torch.equal(v, full[k]), k
    # the kept channels are the strongest: the first layer's kept filters have the largest norms
    w = model.encoders["camera"].enc1[0][0].weight.abs().sum(dim=(1, 2, 3)) \
        * model.encoders["camera"].enc1[0][1].weight.abs()
    kept = half.encoders["camera"].enc1[0][0].weight
    assert {round(float(v), 5) for v in kept.abs().sum(dim=(1, 2, 3))
            * half.encoders["camera"].enc1[0][1].weight.abs()} == \
        {round(float(v), 5) for v in torch.topk(w, 8).values}
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        prune_channels(model, cfg, 0.0)
    blind, bcfg = prune_branches(model, cfg, ["camera"])
    with pytest.raises(ValueError, match="narrows the camera path"):
        prune_channels(blind, bcfg, 0.5)


def distill_outputs(model, image):
    from omni_ros.learning.distill import camera_outputs

    return camera_outputs(model, image)


@pytest.fixture(scope="module")
def compressed(trained, tmp_path_factory):
    """The float and int8 ONNX checkpoints of ``trained`` (one calibration episode), audio pruned."""
    from omni_ros.learning.compress import compress

    path, _, _ = trained
    out = tmp_path_factory.mktemp("compressed")
    f = compress(str(path), out / "onnx.pt", CompressConfig(onnx=True, calibration_episodes=1),
                 log=lambda *_: None)
    q = compress(str(path), out / "int8.pt",
                 CompressConfig(onnx=True, int8=True, prune_branches=["audio"],
                                int8_exclude=["encoders.force"], int8_min_speedup=0.0,
                                calibration_episodes=1),   # (no timing decides what is int8)
                 log=lambda *_: None)
    return f, q


def _inputs(model):
    from omni_ros.benchmarks.model import _raw_example
    from omni_ros.core.model.modalities import REGISTRY

    raw = _raw_example(model.cfg)
    return {n: REGISTRY[n].preprocess(raw, getattr(model.cfg, n)) for n in model.names}


def test_a_float_onnx_checkpoint_gives_the_torch_outputs(trained, compressed):
    path, _, _ = trained
    ref, _, _ = load_checkpoint(path)
    model, cfg, info = load_checkpoint(compressed[0]["path"])
    assert cfg.compress.onnx and not cfg.compress.int8
    assert isinstance(model.encoders["camera"], OnnxModule) and isinstance(model.object_head, OnnxModule)
    assert any("ONNX Runtime on cpu" in n for n in model.placement_notes)
    x = _inputs(ref)
    with torch.no_grad():
        a, b = ref(x), model(x)
    for k in ("fused", "gates", "contact_logits"):
        torch.testing.assert_close(b[k], a[k], atol=1e-4, rtol=1e-4)
    for k in a["objects"]:
        torch.testing.assert_close(b["objects"][k], a["objects"][k], atol=1e-3, rtol=1e-3)
    batch = {n: {k: v.repeat(3, *[1] * (v.dim() - 1)) for k, v in xi.items()} for n, xi in x.items()}
    with torch.no_grad():
        assert model(batch)["fused"].shape[0] == 3    # the batch dimension is dynamic


def test_an_int8_pruned_checkpoint_is_smaller_and_close(trained, compressed):
    path, _, _ = trained
    ref, _, _ = load_checkpoint(path)
    info = compressed[1]
    model, cfg, _ = load_checkpoint(info["path"])
    assert cfg.compress.int8 and cfg.compress.prune_branches == ["audio"] and "audio" not in model.names
    assert info["bytes"] < 0.8 * info["source_bytes"]
    assert info["graphs"] == ["encoders.camera", "encoders.force", "encoders.lidar",
                              "encoders.tactile", "object_head"]
    assert info["int8"] == ["encoders.camera", "object_head", "encoders.lidar", "encoders.tactile"]
    x = _inputs(ref)
    present = torch.ones(1, 5, dtype=torch.bool)
    present[0, ref.names.index("audio")] = False
    with torch.no_grad():
        a = ref({n: v for n, v in x.items()}, present)
        b = model({n: v for n, v in x.items() if n != "audio"})
    cos = torch.nn.functional.cosine_similarity(a["fused"], b["fused"]).item()
    # int8 moves the latent (this model's weights are random: trained ones quantize better,
    # see bench/realtime.md), but not away: two random 128-d unit vectors have |cos| < 0.3
    assert cos > 0.85, cos


def test_a_compressed_checkpoint_runs_the_live_pipeline(compressed):
    from _util import scene_after_one_second

    model, _, _ = load_checkpoint(compressed[1]["path"])
    scene = scene_after_one_second(model)
    assert scene.modalities == ["camera", "lidar", "tactile", "force"] and all(scene.present)
    assert np.isfinite(scene.fused_latent).all()


@pytest.fixture(scope="module")
def narrowed(trained, tmp_path_factory):
    """``trained`` with half the camera path's channels, distilled for 3 epochs on one episode."""
    from omni_ros.learning.compress import compress

    path, _, _ = trained
    return compress(str(path), tmp_path_factory.mktemp("narrow") / "narrow.pt",
                    CompressConfig(prune_channels=0.5, distill_episodes=1, distill_epochs=3,
                                   calibration_episodes=1), log=lambda *_: None)


def test_distillation_brings_the_pruned_camera_path_towards_the_full_one(trained, narrowed):
    d = narrowed["channels"]
    assert d["frames"] > 20 and d["epochs"] == 3
    assert d["held_out_loss_after"] < 0.8 * d["held_out_loss_before"], d
    model, cfg, info = load_checkpoint(narrowed["path"])   # an ordinary checkpoint, by path
    assert cfg.compress.prune_channels == 0.5 and cfg.model.camera.channels == [8, 16, 32]
    assert info["compressed_from"]["channels"]["held_out_loss_after"] == d["held_out_loss_after"]
    ref, _, _ = load_checkpoint(trained[0])
    x = _inputs(ref)
    with torch.no_grad():
        assert model(x)["objects"]["class_logits"].shape == ref(x)["objects"]["class_logits"].shape
    with pytest.raises(ValueError, match="already compressed"):
        from omni_ros.learning.compress import compress
        compress(narrowed["path"], trained[0].parent / "again.pt", CompressConfig(onnx=True))


def test_compress_config_says_what_is_wrong():
    with pytest.raises(ConfigError, match="needs 'compress.onnx'"):
        from_flat_dict(CompressConfig, {"int8": True})
    with pytest.raises(ConfigError, match="int8_exclude"):
        from_flat_dict(CompressConfig, {"onnx": True, "int8_exclude": ["encoders.sonar"]})
    with pytest.raises(ConfigError, match="prune_channels"):
        from_flat_dict(CompressConfig, {"prune_channels": 0.95})


def _placement(**devices):
    p = PlacementConfig()
    for k, v in devices.items():
        setattr(p.device, k, v)
    return p


def test_a_missing_device_is_refused_or_falls_back(trained, compressed):
    path, _, _ = trained
    if not torch.cuda.is_available():
        with pytest.raises(PlacementError, match="placement.device.camera.*cuda:0.*no CUDA"):
            load_checkpoint(path, _placement(camera="cuda:0"))
    with pytest.raises(PlacementError, match="OpenVINOExecutionProvider|openvino runs ONNX"):
        load_checkpoint(compressed[0]["path"], _placement(lidar="openvino"))
    fallback = _placement(lidar="openvino")
    fallback.fallback = True
    model, _, _ = load_checkpoint(compressed[0]["path"], fallback)
    assert any(n.startswith("lidar: openvino unavailable") for n in model.placement_notes)
    assert isinstance(model.encoders["lidar"], OnnxModule)
    with pytest.raises(ConfigError, match="placement.device.camera"):
        from omni_ros.core.config import from_flat_dict as ffd
        ffd(PlacementConfig, {"device.camera": "tpu"})


def test_the_cuda_path_runs_the_camera_on_the_gpu(trained):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine (torch.cuda.is_available() is False)")
    path, _, _ = trained
    ref, _, _ = load_checkpoint(path)
    model, _, _ = load_checkpoint(path, _placement(camera="cuda:0"))
    assert "camera: torch on cuda:0" in model.placement_notes
    x = _inputs(ref)
    with torch.no_grad():
        torch.testing.assert_close(model(x)["fused"], ref(x)["fused"], atol=1e-4, rtol=1e-4)


def test_place_without_a_placement_changes_nothing(trained):
    _, model, _ = trained
    assert place(model) == [] and not isinstance(model.encoders["camera"], OnnxModule)


@pytest.mark.ros
def test_the_perception_node_refuses_a_device_it_does_not_have():
    from _util import run_py

    out = run_py("-m", "omni_ros.nodes.perception", "--ros-args", "-p",
                 "placement.device.camera:=tpu", timeout=120)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "placement.device.camera" in out.stderr and "cuda:N" in out.stderr
    if torch.cuda.is_available():
        return
    out = run_py("-m", "omni_ros.nodes.perception", "--ros-args", "-p",
                 "placement.device.camera:=cuda:0", timeout=120)
    assert out.returncode == 1, out.stderr[-2000:]
    assert "cannot configure: parameter 'placement.device.camera': cuda:0: no CUDA device" in out.stderr


def test_the_cuda_bench_runs_where_a_gpu_is_and_says_why_not_elsewhere(capsys):
    import json
    from pathlib import Path

    from omni_ros.benchmarks import cuda

    if not torch.cuda.is_available():
        assert cuda.main([]) == 2
        assert "no CUDA device" in capsys.readouterr().err
    else:
        r = cuda.run(cuda.inputs())
        assert r["max_abs_diff_every"] < 1e-4 and "does not exist" in r["missing_index"]
    recorded = Path(__file__).parents[1] / "bench" / "cuda.json"
    assert "| camera encoder, cuda:0 |" in cuda.markdown(json.loads(recorded.read_text()))
