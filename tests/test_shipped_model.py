"""The shipped checkpoints (loaded by name from the package's models/) meet floors set just
below their measured numbers (models/MODEL_CARD.md, bench/cells_model_card.md), on small
held-out sets generated here from fresh seeds."""

import pytest

from omni_ros.core.model.checkpoint import load_checkpoint
from omni_ros.dataset.generate import generate
from omni_ros.learning.data import ShardData
from omni_ros.learning.evaluate import evaluate

FLOORS = {  # metric: (floor, higher is better); measured on this set in the comment
    "object_localisation_median_cm": (0.5, False),      # 0.17
    "object_detection_recall": (0.97, True),            # 0.998
    "shape_colour_acc": (0.96, True),                   # 0.990 (~420 object sightings)
    "contact_state_acc": (0.97, True),                  # 0.991
    "held_identity_without_camera_acc": (0.90, True),   # 1.00
    "retrieval_touch_to_camera_r1": (0.90, True),       # 1.00
    "grounding_acc_when_detected": (0.95, True),        # 1.00
    "grasp_target_error_cm": (0.5, False),              # 0.16
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    model, cfg, info = load_checkpoint("omni_small.pt")  # by name: the package's models/
    assert info["train_time_s"] < 30 * 60
    out = tmp_path_factory.mktemp("heldout")
    generate(out, episodes=2, seed=9000, progress=False)
    return evaluate(model, ShardData(out, cfg.model, frame_stride=2, seed=1, progress=False))


@pytest.mark.parametrize("metric", sorted(FLOORS))
def test_shipped_model_meets_its_floor(results, metric):
    floor, higher = FLOORS[metric]
    value = results["metrics"][metric]
    assert (value >= floor) if higher else (value <= floor), f"{metric} = {value:.3f}"


def test_gated_fusion_beats_every_single_modality(results):
    m = results["metrics"]
    assert m["fused_score"] >= m["best_single_modality_score"]


def test_thermal_variant_loads_by_name_and_its_gate_follows_the_thermal_camera():
    """models/omni_small_thermal.pt fuses six modalities; a dead thermal camera gets gate 0,
    a live one a share of the fusion."""
    import torch

    from omni_ros.core.model.modalities import REGISTRY
    from omni_ros.dataset.assembler import SampleAssembler
    from omni_ros.dataset.generate import episode_items
    from omni_ros_sim.config import SimConfig

    model, cfg, _ = load_checkpoint("omni_small_thermal.pt")
    assert model.names == ["camera", "lidar", "audio", "tactile", "force", "thermal"]
    asm, sample = SampleAssembler.for_config(SimConfig()), None
    gen = episode_items(9100, SimConfig())
    for key, stamp, payload in gen:
        sample = asm.push(key, stamp, payload) if stamp > 1e9 or key != "color" else None
        if sample is not None:
            break
    gen.close()
    inputs = {n: REGISTRY[n].preprocess({k: v[None] for k, v in sample.items()}, getattr(cfg.model, n))
              for n in model.names}
    present = torch.ones(1, 6, dtype=torch.bool)
    with torch.no_grad():
        live = model(inputs, present)["gates"][0]
        present[0, 5] = False
        dead = model(inputs, present)["gates"][0]
    assert live[5] > 0.05 and dead[5] == 0.0 and abs(float(dead.sum()) - 1) < 1e-5


def test_cells_model_loads_by_name_and_sees_through_a_remounted_camera(tmp_path):
    """models/omni_cells.pt (issue 14) on 2 fresh episodes with the camera 15 cm sideways and
    turned 15 deg (a view it never trained on), told the pose: floors below what these two
    episodes measured (recall 0.996, 0.37 cm, shape+colour 0.754; its card on 8 episodes: 0.996,
    0.47 cm, 0.901) and far above a model that ignored the pose (recall 0.001)."""
    from omni_ros.benchmarks.cells import CELLS, cell_config, evaluate_cell

    model, _, _ = load_checkpoint("omni_cells.pt")
    assert model.names == ["camera", "lidar", "audio", "tactile", "force"]
    generate(tmp_path, episodes=2, seed=9300, cfg=cell_config(CELLS["moved 15 cm, turned 15 deg"][1]),
             progress=False, frame_stride=2)
    r = evaluate_cell(model, tmp_path, 1)["geometry_as_input"]
    assert r["object_detection_recall"] >= 0.9, r
    assert r["object_localisation_median_cm"] <= 1.5, r
    assert r["shape_colour_acc"] >= 0.65, r


def test_crop_model_loads_by_name_and_zooms_on_the_workspace_over_the_shoulder(tmp_path):
    """models/omni_cells_crop.pt (issue 14: the workspace crop) on 2 fresh episodes with the
    over-the-shoulder camera, data made for its camera window: floors below what these two
    episodes measured (recall 0.983, 0.72 cm, shape+colour 0.780, grounding 0.935) and, for
    recall and localisation, above what omni_cells.pt (no crop) reads there on 8 episodes
    (bench/cells_model_card.md: recall 0.883, 1.15 cm)."""
    from omni_ros.benchmarks.cells import CELLS, cell_config, evaluate_cell

    model, cfg, _ = load_checkpoint("omni_cells_crop.pt")
    assert model.names == ["camera", "lidar", "audio", "tactile", "force"]
    assert len(cfg.model.camera.workspace_crop_m) == 6
    generate(tmp_path, episodes=2, seed=9300, cfg=cell_config(CELLS["over the shoulder"][1]),
             progress=False, frame_stride=2, camera=cfg.model.camera)
    r = evaluate_cell(model, tmp_path, 1)["geometry_as_input"]
    assert r["object_detection_recall"] >= 0.92, r
    assert r["object_localisation_median_cm"] <= 1.0, r
    assert r["shape_colour_acc"] >= 0.6, r


def test_the_class_breakdown_accounts_for_every_detection(results):
    """Shape+colour by apparent width adds up to the overall figure, and a wrong class is a
    wrong shape, a wrong colour or both."""
    m = results["metrics"]
    n, acc = m["detected_by_width"], m["shape_colour_acc_by_width"]
    total = sum(n.values())
    assert total > 0 and set(acc) == {k for k, v in n.items() if v}
    assert sum(acc[k] * n[k] for k in acc) / total == pytest.approx(m["shape_colour_acc"])
    wrong = 1 - m["shape_colour_acc"]
    shape, colour = m["shape_wrong_of_detected"], m["colour_wrong_of_detected"]
    assert max(shape, colour) - 1e-9 <= wrong <= shape + colour + 1e-9
