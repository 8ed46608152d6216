"""The learning core: encoders, router, model, losses, checkpoints, training steps. No ROS."""

import itertools

import numpy as np
import pytest
import torch

from omni_ros.core.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from omni_ros.learning.losses import info_nce, margin_contrastive
from omni_ros.core.model.modalities import REGISTRY, load_all
from omni_ros.core.model.omni import OmniModel
from omni_ros.core.model.model_config import SENSORS, ModelConfig, OmniConfig
from omni_ros.core.model.modalities.text import tokenize
from omni_ros.core.model.router import GatedRouter, RuleTable
from omni_ros.learning.train import modality_dropout

load_all()
B = 3


def fake_batch(b=B, seed=0):
    rng = np.random.default_rng(seed)
    return {"color": rng.integers(0, 255, (b, 96, 96, 3), dtype=np.uint8),
            "depth": rng.uniform(0.5, 1.5, (b, 96, 96)).astype(np.float32),
            "lidar": np.concatenate([rng.uniform(-0.5, 0.5, (b, 16, 180, 3)),
                                     rng.uniform(0, 100, (b, 16, 180, 1))], -1).astype(np.float32),
            "audio": rng.integers(-3000, 3000, (b, 4000)).astype(np.int16),
            "tactile": rng.uniform(0, 2, (b, 2, 4, 4)).astype(np.float32),
            "joints": rng.uniform(0, 0.04, (b, 9)).astype(np.float32),
            "wrench": rng.normal(0, 1, (b, 12, 6)).astype(np.float32),
            "thermal": rng.integers(27000, 36000, (b, 60, 80)).astype(np.uint16),
            "text": ["pick up the red cube", "grab the blue ball please", "zebra"][:b]}


def inputs_for(cfg, batch, names):
    return {n: REGISTRY[n].preprocess(batch, getattr(cfg, n)) for n in names}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = OmniModel(ModelConfig())
    m.eval()
    return m


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_encoder_produces_its_declared_output_shape(name):
    cfg = ModelConfig()
    enc = REGISTRY[name].encoder_cls(getattr(cfg, name))
    out = enc(REGISTRY[name].preprocess(fake_batch(), getattr(cfg, name)))
    for key, shape in enc.output_shape.items():
        assert tuple(out[key].shape) == (B, *shape), key


@pytest.mark.parametrize("subset", [s for k in range(1, 6) for s in itertools.combinations(SENSORS, k)],
                         ids=lambda s: "+".join(s))
def test_model_runs_on_every_subset_and_gates_are_a_distribution_over_present(model, subset):
    batch = fake_batch()
    with torch.no_grad():
        out = model(inputs_for(model.cfg, batch, subset))
    gates = out["gates"]
    present = torch.tensor([n in subset for n in model.names])
    assert torch.allclose(gates.sum(1), torch.ones(B), atol=1e-6)
    assert (gates[:, ~present] == 0).all()
    assert (gates[:, present] > 0).all()
    assert torch.allclose(out["fused"].norm(dim=1), torch.ones(B), atol=1e-5)
    assert ("objects" in out) == ("camera" in subset)


def test_presence_mask_hides_a_given_modality(model):
    present = torch.ones(B, len(model.names), dtype=torch.bool)
    present[1, model.names.index("lidar")] = False
    with torch.no_grad():
        out = model(inputs_for(model.cfg, fake_batch(), SENSORS), present)
    assert out["gates"][1, model.names.index("lidar")] == 0
    assert out["gates"][0, model.names.index("lidar")] > 0


def test_top_k_and_rule_table():
    router = GatedRouter(["a", "b", "c"], 8, top_k=2)
    lat = torch.nn.functional.normalize(torch.randn(4, 3, 8), dim=-1)
    _, gates = router(lat, torch.ones(4, 3, dtype=torch.bool))
    assert ((gates > 0).sum(1) == 2).all()
    router.rules = RuleTable(["a", "b", "c"], {frozenset({"a", "c"}): {"a": 3, "c": 1}})
    present = torch.tensor([[True, False, True], [True, True, True]])
    _, gates = router(lat[:2], present)
    assert torch.allclose(gates[0], torch.tensor([0.75, 0.0, 0.25]))
    with pytest.raises(ValueError, match="unknown modalities"):
        RuleTable(["a"], {frozenset({"z"}): {"z": 1}})


def test_configured_rules_fix_the_gates_of_their_combination():
    from omni_ros.core.config import ConfigError, from_flat_dict

    cfg = from_flat_dict(OmniConfig, {"model.router.rules": ["lidar+force: lidar=0.7 force=0.3"]})
    m = OmniModel(cfg.model).eval()
    subset = ("lidar", "force")
    out = m(inputs_for(cfg.model, fake_batch(), subset))
    want = torch.zeros(len(SENSORS))
    want[SENSORS.index("lidar")], want[SENSORS.index("force")] = 0.7, 0.3
    torch.testing.assert_close(out["gates"], want.expand(B, -1))
    learned = m(inputs_for(cfg.model, fake_batch(), ("lidar", "force", "tactile")))["gates"]
    assert learned[:, SENSORS.index("tactile")].gt(0).all()  # other combinations stay learned
    for rules, why in ((["lidar force"], "is not"), (["lidar+force: camera=1"], "must name"),
                       (["lidar+zebra: lidar=1"], "outside model.modalities")):
        with pytest.raises(ConfigError, match=why):
            from_flat_dict(OmniConfig, {"model.router.rules": rules})
    with pytest.raises(ConfigError, match="needs model.router.kind: gated"):
        from_flat_dict(OmniConfig, {"model.router.rules": ["lidar+force: lidar=1"],
                                    "model.router.kind": "concat"})


def test_explain_gives_leave_one_out_contributions(model):
    subset = ("camera", "tactile", "force")
    contrib = model.explain(inputs_for(model.cfg, fake_batch(), subset))
    present = torch.tensor([n in subset for n in model.names])
    assert (contrib[:, ~present] == 0).all() and (contrib[:, present] > 0).all()
    single = model.explain(inputs_for(model.cfg, fake_batch(), ("audio",)))
    assert torch.allclose(single[:, model.names.index("audio")], torch.ones(B))


def test_text_tokenizer_and_encoder(model):
    ids = tokenize("Pick up the RED cube, zebra!", 8)
    assert len(ids) == 8 and ids[-1] == 0 and 1 in ids  # "zebra" -> <unk>, then padding
    z = model.encode_text(REGISTRY["text"].preprocess(fake_batch(), model.cfg.text))
    assert z.shape == (B, 128) and torch.allclose(z.norm(dim=1), torch.ones(B), atol=1e-5)


def test_pretrained_text_backend_encodes_paraphrases_close_together():
    """text.backend = minilm (the 'sentence' extra, installed by make setup): frozen
    all-MiniLM-L6-v2 under a trainable MLP; words outside our vocabulary still carry meaning."""
    cfg = ModelConfig()
    cfg.text.backend = "minilm"
    texts = ["pick up the red cube", "grab the crimson box", "take the green ball"]
    inputs = REGISTRY["text"].preprocess({"text": texts}, cfg.text)
    s = inputs["sentence"]
    assert s.shape == (3, 384)
    assert float(s[0] @ s[1]) > float(s[1] @ s[2]) + 0.05  # red cube ~ crimson box, not green ball
    latent = OmniModel(cfg).encode_text(inputs)
    assert latent.shape == (3, cfg.latent_dim)
    torch.testing.assert_close(latent.norm(dim=-1), torch.ones(3))


def test_contrastive_losses_prefer_matching_pairs():
    torch.manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(16, 32), dim=-1)
    b = torch.nn.functional.normalize(a + 0.05 * torch.randn(16, 32), dim=-1)
    shuffled = b[torch.randperm(16)]
    assert info_nce(a, b) < info_nce(a, shuffled)
    assert margin_contrastive(a, a, margin=0.2) < margin_contrastive(a, shuffled, margin=0.2)


def test_modality_dropout_keeps_at_least_one_present_modality():
    present = torch.ones(1000, 5, dtype=torch.bool)
    present[:, 0] = False
    kept = modality_dropout(present, 0.9, torch.Generator().manual_seed(0))
    assert kept.any(1).all() and not (kept & ~present).any()
    assert 0.05 < kept.float().mean() < 0.4


def test_checkpoint_round_trip_is_exact_and_carries_the_config(tmp_path, model):
    cfg = OmniConfig()
    cfg.train.epochs = 3
    path = save_checkpoint(tmp_path / "m.pt", model, cfg, {"note": "test"})
    loaded, cfg2, info = load_checkpoint(path)
    assert cfg2 == cfg and info == {"note": "test"}
    x = inputs_for(model.cfg, fake_batch(), SENSORS)
    with torch.no_grad():
        a, b = model(x), loaded(x)
    for k in ("fused", "gates", "contact_logits", "held_mass"):
        assert torch.equal(a[k], b[k]), k


def test_a_relative_checkpoint_path_resolves_from_the_working_directory(tmp_path, model,
                                                                      monkeypatch):
    """"build/x.pt" is the file in the working directory; a bare name is the package's
    models/, never a stray file of that name in the working directory."""
    save_checkpoint(tmp_path / "build" / "x.pt", model, OmniConfig(), {"stray": False})
    save_checkpoint(tmp_path / "omni_small.pt", model, OmniConfig(), {"stray": True})
    monkeypatch.chdir(tmp_path)
    assert load_checkpoint("build/x.pt")[2] == {"stray": False}
    assert "stray" not in load_checkpoint("omni_small.pt")[2]


def test_bad_checkpoints_fail_with_clear_errors(tmp_path, model):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(junk)
    other = tmp_path / "other.pt"
    torch.save({"format": "someone_else/9", "state_dict": {}}, other)
    with pytest.raises(CheckpointError, match="incompatible: format 'someone_else/9'"):
        load_checkpoint(other)
    path = save_checkpoint(tmp_path / "m.pt", model, OmniConfig(), {})
    payload = torch.load(path, weights_only=True)
    payload["config"]["model.latent_dim"] = 64
    torch.save(payload, tmp_path / "wrong.pt")
    with pytest.raises(CheckpointError, match="does not fit this model"):
        load_checkpoint(tmp_path / "wrong.pt")


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    from omni_ros.dataset.generate import generate

    out = tmp_path_factory.mktemp("tiny")
    generate(out, episodes=1, seed=11, progress=False)
    return out


def test_a_few_training_steps_reduce_the_loss(tiny_dataset):
    from omni_ros.learning.data import ShardData
    from omni_ros.learning.objectives import Objective

    torch.manual_seed(0)
    cfg = OmniConfig()
    data = ShardData(tiny_dataset, cfg.model, frame_stride=4, progress=False)
    assert data.n >= 20 and (data.labels["slot"] >= 0).any()
    model = OmniModel(cfg.model)
    objective = Objective(model, cfg.train)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    idx = np.arange(min(data.n, 24))
    inputs, lab = data.inputs(idx), data.batch_labels(idx)
    losses = []
    for _ in range(12):
        out = model(inputs, data.present[idx])
        loss = objective(out, lab, model.encode_text(lab["text"]))["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


def test_train_eval_and_bench_clis_end_to_end(tiny_dataset, tmp_path):
    """omni-ros train -> checkpoint (+ loss PNG, config inside) -> omni-ros eval --json ->
    omni-ros bench --model, as a user runs them."""
    import json
    import subprocess
    import sys

    cli = [sys.executable, "-m", "omni_ros.cli"]
    yaml_path = tmp_path / "train.yaml"
    yaml_path.write_text("train:\n  frame_stride: 4\n  batch_size: 8\nmodel:\n  latent_dim: 64\n")
    ckpt = tmp_path / "tiny.pt"
    run = subprocess.run([*cli, "train", "--data", str(tiny_dataset), "--out", str(ckpt), "--config",
                          str(yaml_path), "--epochs", "1"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert ckpt.with_suffix(".loss.png").stat().st_size > 0
    _, cfg, info = load_checkpoint(ckpt)
    assert (cfg.model.latent_dim, cfg.train.batch_size, cfg.train.epochs) == (64, 8, 1)
    assert info["frame_stride"] == 4 and info["train_samples"] > 0
    out = tmp_path / "eval.json"
    run = subprocess.run([*cli, "eval", "--checkpoint", str(ckpt), "--data", str(tiny_dataset),
                          "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    res = json.loads(out.read_text())
    assert {"camera alone", "without camera", "force alone"} <= set(res["ablations"])
    assert 0.0 <= res["metrics"]["contact_state_acc"] <= 1.0 and res["data"]["episodes"] == 1
    assert "shape_colour_acc" in run.stdout
    bench = tmp_path / "bench.json"
    run = subprocess.run([*cli, "bench", "--model", "--checkpoint", str(ckpt), "--json", str(bench)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(bench.read_text())["fused_step_ms"] > 0
    bad = subprocess.run([*cli, "eval", "--checkpoint", str(tmp_path / "missing.pt"), "--data",
                          str(tiny_dataset)], capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "missing.pt" in bad.stdout + bad.stderr
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("train:\n  lr: -1\n")
    for config in (bad_yaml, tmp_path / "missing.yaml"):
        bad = subprocess.run([*cli, "train", "--data", str(tiny_dataset), "--out", str(tmp_path / "x.pt"),
                              "--config", str(config)], capture_output=True, text=True, timeout=600)
        assert bad.returncode == 2 and "error:" in bad.stdout, bad.stdout + bad.stderr[-1000:]


def test_text_only_training_from_a_checkpoint_changes_only_the_text_encoder(tiny_dataset, tmp_path):
    """train.init_from + train.trainable = text: adapt the pretrained text backend to a trained
    model; every other tensor (batch-norm statistics included) stays as it was."""
    from omni_ros.learning.train import train

    base_cfg = OmniConfig()
    base = OmniModel(base_cfg.model).eval()
    start = save_checkpoint(tmp_path / "base.pt", base, base_cfg, {})
    cfg = OmniConfig()
    cfg.model.text.backend = "minilm"
    cfg.train.init_from, cfg.train.trainable = str(start), "text"
    cfg.train.epochs, cfg.train.batch_size, cfg.train.frame_stride = 1, 8, 4
    train(tiny_dataset, tmp_path / "adapted.pt", cfg, progress=False, plot=False)
    adapted, loaded_cfg, info = load_checkpoint(tmp_path / "adapted.pt")
    assert loaded_cfg.model.text.backend == "minilm" and loaded_cfg.train.trainable == "text"
    # the base it started from, by content (a model card tells a variant of an older base)
    import hashlib
    assert info["init_from_sha256"] == hashlib.sha256(start.read_bytes()).hexdigest()
    before, after = base.state_dict(), adapted.state_dict()
    text_keys = [k for k in after if k.startswith(("encoders.text.", "project.text."))]
    assert any(not torch.equal(before[k], after[k]) for k in text_keys
               if k in before and before[k].shape == after[k].shape)
    for k, v in after.items():
        if k not in text_keys:
            assert torch.equal(before[k], v), k


def test_text_only_training_needs_a_checkpoint_to_start_from():
    from omni_ros.core.config import ConfigError, from_flat_dict

    with pytest.raises(ConfigError, match="needs 'train.init_from'"):
        from_flat_dict(OmniConfig, {"train.trainable": "text"})


def test_paraphrase_wording_is_held_out():
    """The paraphrase grounding metric uses held-out family words: unknown to the command
    vocabulary and to the tuning families the lexicon's thresholds were chosen on."""
    from omni_ros.core.speech.commands import _known
    from omni_ros.core.speech.families import (COLOUR_FAMILIES, HELD_OUT, SHAPE_FAMILIES, TUNING,
                                               VERB_FAMILIES, _words)

    def words(names):
        return {w for f in (COLOUR_FAMILIES, SHAPE_FAMILIES, VERB_FAMILIES) for w, _ in _words(f, names)}
    held = words(HELD_OUT)
    assert held and not held & words(TUNING)
    assert not any(_known(w) for w in held)
    assert not set(HELD_OUT) & set(TUNING)

def test_class_breakdown_bins_detections_by_apparent_width():
    from omni_ros.learning.evaluate import class_breakdown

    # width [px], true shape, perceived shape, colour right, episode, slot (shapes: SHAPES)
    rows = np.array([[3.0, 0, 0, 1, 0, 0], [3.5, 0, 1, 1, 0, 1], [5.0, 1, 1, 0, 0, 2],
                     [9.0, 2, 2, 1, 1, 0], [12.0, 2, 2, 1, 1, 1], [4.5, 0, 1, 1, 0, 1]], float)
    b = class_breakdown(rows)
    assert b["detected_by_width"] == {"<4 px": 2, "4-6 px": 2, "6-8 px": 0, ">=8 px": 2}
    assert b["shape_colour_acc_by_width"] == {"<4 px": 0.5, "4-6 px": 0.0, ">=8 px": 1.0}
    assert b["shape_wrong_of_detected"] == pytest.approx(2 / 6)
    assert b["colour_wrong_of_detected"] == pytest.approx(1 / 6)
    from omni_ros.core.model.omni import SHAPES
    assert b["shape_confusions"] == {f"{SHAPES[0]} as {SHAPES[1]}": 2}
    assert b["shape_errors_on_mostly_wrong_objects"] == 1.0  # both on episode 0's slot 1
    empty = class_breakdown(np.zeros((0, 6)))
    assert empty["shape_colour_acc_by_width"] == {} and np.isnan(empty["shape_wrong_of_detected"])
