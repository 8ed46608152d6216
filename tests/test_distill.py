"""Students of a teacher (``omni-ros distill``): distillation steps bring a student towards the
shipped all-sensor teacher; a student learns from an unlabelled robot bag (converted with
``omni-ros dataset --from-mcap``) and is an ordinary checkpoint that perception runs with only
its modalities; a student its teacher cannot teach, unlabelled data without a teacher, or
folders of different frame strides are clear errors; which samples' labels a run may use."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from omni_ros.cli.distill import student_config
from omni_ros.core.config import to_flat_dict
from omni_ros.core.model.checkpoint import load_checkpoint
from omni_ros.core.model.omni import OmniModel
from omni_ros.learning.data import ShardData
from omni_ros.learning.students import StudentError, check_student, losses
from omni_ros.learning.train import labelled_samples

CLI = [sys.executable, "-m", "omni_ros.cli"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from omni_ros.dataset.generate import generate

    out = tmp_path_factory.mktemp("tiny")
    generate(out, episodes=2, seed=11, progress=False, frame_stride=4)
    return out


@pytest.fixture(scope="module")
def teacher():
    return load_checkpoint("omni_small.pt")


def test_a_few_distillation_steps_bring_a_camera_only_student_towards_the_teacher(tiny, teacher):
    t_model, tcfg, _ = teacher
    cfg = student_config(to_flat_dict(tcfg), ["camera"], {}, {"distill.teacher": "omni_small.pt"})
    torch.manual_seed(0)
    student = OmniModel(cfg.model)
    assert student.names == ["camera"] and student.router.gate[-1].out_features == 1
    data = ShardData(tiny, tcfg.model, frame_stride=2, progress=False)
    idx = np.arange(min(data.n, 16))
    with torch.no_grad():
        t_out = t_model(data.inputs(idx), data.present[idx])
    opt = torch.optim.AdamW(student.parameters(), lr=2e-3)
    history = []
    for _ in range(25):
        terms = losses(student.names, student(data.inputs(idx, cfg.model)), t_model.names, t_out,
                       cfg.distill)
        total = sum(terms.values())
        opt.zero_grad()
        total.backward()
        opt.step()
        history.append({k: float(v.detach()) for k, v in terms.items()})
    assert set(history[0]) == {"distill fused", "distill latents", "distill soft", "distill objects"}
    first, last = sum(history[0].values()), sum(history[-1].values())
    assert last < 0.6 * first, history
    assert history[-1]["distill fused"] < history[0]["distill fused"]


@pytest.fixture(scope="module")
def robot_bag(tmp_path_factory):
    """A bag recorded on "the user's robot": one expert episode in a randomised cell the tiny
    set never saw (its own camera mount, optics, lighting and objects), every sensor topic but
    no /sim/ground_truth - converted as a user converts theirs (omni-ros dataset --from-mcap)."""
    from omni_ros_sim.config import SimConfig
    from omni_ros_sim.tasks import random_cell

    from omni_ros.cli import main
    from omni_ros.dataset.generate import cell_items
    from omni_ros.dataset.mcap_io import McapWriter

    out = tmp_path_factory.mktemp("robot")
    cfg = SimConfig()
    cfg.randomize.enabled = True
    writer = McapWriter(out / "robot.mcap")

    def record(topic, msg, t_ns):
        if topic != "/sim/ground_truth":
            writer.write(topic, msg, t_ns)

    for _ in cell_items(31, random_cell(31, cfg), record):
        pass
    writer.close()
    assert main(["dataset", "--from-mcap", str(out / "robot.mcap"), "--out", str(out / "every"),
                 "--samples-per-shard", "64"]) == 0
    # the sim set keeps every 4th camera frame: so does the bag's conversion, to train beside it
    assert main(["dataset", "--from-mcap", str(out / "robot.mcap"), "--out", str(out / "ds"),
                 "--frame-stride", "4"]) == 0
    return out


def test_a_student_learns_from_a_robot_bag_and_perception_runs_it(tiny, robot_bag, tmp_path):
    """omni-ros distill as a user runs it: a tactile + force student (a camera-less gripper)
    from the shipped teacher, half the episodes' labels of the sim set plus an unlabelled bag
    from another cell; the checkpoint loads by path and the live pipeline fuses only tactile
    and force."""
    from _util import scene_after_one_second

    from omni_ros.dataset.shards import load_dataset

    every, _ = load_dataset(robot_bag / "every")
    bag, manifest = load_dataset(robot_bag / "ds")
    assert len(every["labelled"]) > 50 and not every["labelled"].any()
    assert manifest["frame_stride"] == 4 and len(bag["labelled"]) == -(-len(every["labelled"]) // 4)
    run = subprocess.run([*CLI, "distill", "--teacher", "omni_small.pt", "--modalities", "force",
                          "--data", str(tiny), "--unlabelled", str(robot_bag / "every"),
                          "--out", str(tmp_path / "x.pt")], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 2 and "--frame-stride" in run.stdout, run.stdout + run.stderr[-1000:]

    yaml_path = tmp_path / "student.yaml"
    yaml_path.write_text("train:\n  batch_size: 8\n  frame_stride: 2\n")
    out = tmp_path / "gripper.pt"
    run = subprocess.run([*CLI, "distill", "--teacher", "omni_small.pt", "--modalities",
                          "tactile,force", "--data", str(tiny), "--unlabelled", str(robot_bag / "ds"),
                          "--labels", "0.5", "--epochs", "1", "--student-config", str(yaml_path),
                          "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    model, cfg, info = load_checkpoint(out)
    assert model.names == ["tactile", "force"] and cfg.model.modalities == ["tactile", "force"]
    assert cfg.distill.teacher.endswith("omni_small.pt") and cfg.train.label_fraction == 0.5
    assert cfg.train.batch_size == 8 and cfg.model.latent_dim == 128  # the teacher's, overridden
    assert model.router.gate[-1].out_features == 2 and not hasattr(model, "object_head")
    # one of the labelled folder's two episodes keeps its labels; every bag sample is trained on
    # (every 2nd frame) with the teacher's outputs as its only targets
    n_tiny = ShardData(tiny, cfg.model, frame_stride=2, progress=False).n
    assert 0 < info["labelled_samples"] < n_tiny
    assert info["train_samples"] - n_tiny >= len(bag["labelled"]) // 2 - 1, info["train_samples"]
    assert {"distill fused", "distill soft"} <= set(info["history"][0])
    scene = scene_after_one_second(model)
    assert scene.modalities == ["tactile", "force"] and all(scene.present)
    assert len(scene.gate_weights) == 2 and abs(sum(scene.gate_weights) - 1.0) < 1e-5
    assert np.isfinite(scene.fused_latent).all()


def test_a_student_its_teacher_cannot_teach_is_a_clear_error(tiny, tmp_path, teacher):
    _, tcfg, _ = teacher
    cfg = student_config(to_flat_dict(tcfg), ["thermal"], {}, {})
    with pytest.raises(StudentError, match=r"cannot teach \['thermal'\]"):
        check_student(cfg.model, tcfg.model, "omni_small.pt")
    cfg = student_config(to_flat_dict(tcfg), ["camera"], {"model.latent_dim": 64}, {})
    with pytest.raises(StudentError, match="latent_dim 64 differs"):
        check_student(cfg.model, tcfg.model, "omni_small.pt")
    for extra, says in ((["--modalities", "thermal"], "cannot teach ['thermal']"),
                        (["--modalities", "camera", "--scratch", "--unlabelled", str(tiny)],
                         "needs a teacher"),
                        (["--modalities", "sonar"], "model.modalities")):
        run = subprocess.run([*CLI, "distill", "--teacher", "omni_small.pt", "--data", str(tiny),
                              "--out", str(tmp_path / "x.pt"), *extra], capture_output=True,
                             text=True, timeout=600)
        assert run.returncode == 2 and says in run.stdout, run.stdout + run.stderr[-1000:]
        assert not (tmp_path / "x.pt").exists()


def test_which_samples_keep_their_labels(tiny, tmp_path):
    """A folder given as unlabelled keeps none; a fraction keeps whole episodes (at least one);
    samples recorded without ground truth never count as labelled."""
    from omni_ros.core.model.model_config import ModelConfig

    cfg = ModelConfig()
    cfg.modalities = ["force"]
    data = ShardData([tiny, tiny], cfg, progress=False)
    half = data.n // 2
    every = labelled_samples(data, set(), 1.0, 0)
    assert every.all()
    second_unlabelled = labelled_samples(data, {1}, 1.0, 0)
    assert second_unlabelled[:half].all() and not second_unlabelled[half:].any()
    some = labelled_samples(data, set(), 0.25, 0)  # 1 of the 4 episodes
    assert len(np.unique(data.a["episode"][some])) == 1
    assert len(np.unique(data.a["episode"][labelled_samples(data, set(), 0.001, 3)])) == 1
    data.a["labelled"][:] = False  # as converted from a bag without ground truth
    assert not labelled_samples(data, set(), 1.0, 0).any()


def test_a_lone_modality_gets_the_uniformity_term_against_collapse():
    """A camera-only model trained from labels alone collapsed (every fused latent the same
    point; contact and held shape at chance): models without a contrastive pair get the
    uniformity term (0 for coincident latents, -4 for orthogonal ones, t = 2)."""
    from omni_ros.core.model.model_config import OmniConfig
    from omni_ros.learning.losses import uniformity
    from omni_ros.learning.objectives import Objective

    same = torch.nn.functional.normalize(torch.ones(6, 8), dim=-1)
    assert abs(float(uniformity(same))) < 1e-6
    assert abs(float(uniformity(torch.eye(8))) + 4.0) < 1e-5
    cfg = OmniConfig()
    cfg.model.modalities = ["camera"]
    assert not Objective(OmniModel(cfg.model), cfg.train).pairs
    cfg.model.modalities = ["tactile", "force"]
    assert Objective(OmniModel(cfg.model), cfg.train).pairs == [("tactile", "force")]


def test_bench_students_are_chosen_by_name_even_where_a_name_holds_a_comma():
    from omni_ros.benchmarks.distill import ADAPT, ADAPT_CONTROL, parse_students

    assert parse_students("camera, all five, camera at 1/2 width, " + ADAPT) == \
        ("camera", "all five, camera at 1/2 width", ADAPT)
    assert parse_students(f"{ADAPT_CONTROL},camera + lidar") == (ADAPT_CONTROL, "camera + lidar")
    assert parse_students(" ") == ()
    with pytest.raises(ValueError, match="'camera at 1/2 width' is not among"):
        parse_students("camera at 1/2 width")


def test_bench_label_fractions_are_chosen_as_numbers_or_percentages():
    from omni_ros.benchmarks.distill import parse_labels

    assert parse_labels("1, 0.1") == (1.0, 0.1)
    assert parse_labels("2%,100%") == (0.02, 1.0)
    assert parse_labels("") is None
    for bad in ("0.5", "ten"):
        with pytest.raises(ValueError, match=f"'{bad}' is not a label fraction of the students: "
                                             "1, 0.1, 0.02"):
            parse_labels(bad)


def test_the_bench_table_says_what_a_merged_result_does_not_cover():
    import json
    from pathlib import Path

    from omni_ros.benchmarks.distill import markdown

    r = json.loads(Path("bench/distill.json").read_text())
    r.update(note="Not yet rerun: camera + lidar.", adapt_note="Not rerun: older scenes.")
    text = markdown(r)
    assert "\nNot yet rerun: camera + lidar.\n" in text
    assert text.index("Not yet rerun") < text.index("### A camera student in cells")
    assert "Accuracies in %. Not rerun: older scenes." in text
    r.pop("note"), r.pop("adapt_note")
    assert "rerun" not in markdown(r)
