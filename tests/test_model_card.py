"""The model card's generated sections: put in place or replaced (never duplicated), and the
thermal variant's section says from which base it was fine-tuned, from its recorded hash, and
the impact caveat counts the impacts of the eval set it was given."""

import json
from pathlib import Path

from omni_ros.learning.model_card import impact_limitation, put_section, thermal_section

CARD = "# m\n\n## Variants\n\n| a |\n\n### Thermal variant (x)\n\nold text\n\n## Limitations\n\n- l\n"


def test_a_section_is_replaced_in_place_or_put_before_the_named_heading(tmp_path):
    card = tmp_path / "card.md"
    card.write_text(CARD)
    for _ in range(2):  # idempotent
        put_section(card, "### Thermal variant (x)", "\n\nnew text\n", before="## Limitations")
        text = card.read_text()
        assert "old text" not in text and text.count("### Thermal variant (x)") == 1
        assert text.index("new text") < text.index("## Limitations") and "- l" in text
    card.write_text(CARD.replace("### Thermal variant (x)\n\nold text\n\n", ""))
    put_section(card, "### Thermal variant (x)", "\n\nnew text\n", before="## Limitations")
    text = card.read_text()
    assert text.index("| a |") < text.index("new text") < text.index("## Limitations")
    put_section(card, "## Students", "\n\nrows\n")
    assert card.read_text().rstrip().endswith("rows")


def test_the_thermal_section_says_which_base_it_was_fine_tuned_from():
    results = json.loads(Path("models/eval_thermal.json").read_text())
    info = {"epochs": 10, "train_samples": 6620, "train_episodes": 240, "train_seeds": [[0, 239]],
            "train_time_s": 1986.0, "init_from_sha256": "ab" * 32}
    cfg = {"model.thermal.width": 80, "model.thermal.height": 60}
    same = thermal_section("omni_small_thermal.pt", info, cfg, results, "omni_small.pt", "ab" * 32)
    other = thermal_section("omni_small_thermal.pt", info, cfg, results, "omni_small.pt", "cd" * 32)
    unknown = thermal_section("omni_small_thermal.pt", {**info, "init_from_sha256": None}, cfg,
                              results, "omni_small.pt", "cd" * 32)
    assert "this card's `omni_small.pt`" in same and "earlier" not in same
    assert "an earlier `omni_small.pt` (sha256 abababababab" in other
    assert "before checkpoints recorded" in unknown
    dead = next(line for line in same.splitlines() if line.startswith("| thermal dead"))
    assert dead.endswith("thermal 0.00 |")   # a dead sensor's gate is zero, shown as such
    m = results["metrics"]
    assert f"| all six | {m['contact_state_acc']:.3f} |" in same and "80×60" in same


def test_the_students_table_goes_in_once(tmp_path):
    from omni_ros.learning.model_card import STUDENTS_HEADING, add_students

    card = tmp_path / "card.md"
    card.write_text(CARD)
    for _ in range(2):
        add_students(card, Path("bench/distill.json"))
    text = card.read_text()
    assert text.count(STUDENTS_HEADING) == 1 and "| camera | 100% | distilled |" in text
    assert text.index("## Limitations") < text.index(STUDENTS_HEADING)


def test_the_impact_caveat_counts_the_eval_sets_impacts():
    data = {"episodes": 40, "seeds": [[5000, 5019]], "frame_stride": 2}
    assert "holds 72 at every 2nd frame, so one impact is 1.4 points" in impact_limitation(
        {"data": data, "impact_samples": 72})
    assert "holds 50 at every frame, so one impact is 2.0 points" in impact_limitation(
        {"data": {**data, "frame_stride": 1}, "impact_samples": 50})
    assert "does not say how many" in impact_limitation({"data": data})  # an older eval file
    assert "holds none" in impact_limitation({"data": data, "impact_samples": 0})


def test_a_cells_card_names_its_script_and_says_when_the_camera_window_is_a_crop(tmp_path):
    """The cells card (write_cells_card): the training script it was given, the crop box of a
    workspace-crop model (and nothing about a crop without one), every fixed cell a row."""
    from omni_ros.learning.model_card import write_cells_card

    results = json.loads(Path("bench/cells_model.json").read_text())
    info = {"train_samples": 10, "train_episodes": 2, "train_seeds": [[1, 2]], "epochs": 1,
            "train_time_s": 60.0}
    box = (0.38, 0.64, -0.24, 0.24, 0.0, 0.08)
    crop = write_cells_card(tmp_path / "a.md", info, results, "a.pt", "bash x", script="tools/x.sh",
                            crop_m=box).read_text()
    plain = write_cells_card(tmp_path / "b.md", info, results, "b.pt", "bash y").read_text()
    assert "tools/x.sh" in crop and "tools/train_cells.sh" in plain
    assert str(list(box)) in crop and "--model-config" in crop and "workspace crop" not in plain
    for name in results["cells"]["cells"]:
        assert f"| {name} |" in crop
