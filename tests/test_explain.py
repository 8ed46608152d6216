"""``omni-ros explain``: a real session (the sim graph over DDS, lidar killed for a while, a
typed pick) recorded to MCAP turns into plots and a summary whose counts equal a recount from
the reference decoder; over a dataset with a modality forced absent, that modality is reported
as never used; the statistics themselves on a trace built by hand."""

import json
from pathlib import Path

import numpy as np
import pytest

from omni_ros.cli import main
from omni_ros.core.model.explain import NONE, Trace, row_combinations, summarise
from omni_ros.core.model.router import parse_rules

OUTPUTS = ("timeline.png", "combinations.png", "summary.md", "summary.json")
NAMES = ["camera", "lidar", "audio", "tactile", "force"]


def _written(out: Path) -> dict:
    for name in OUTPUTS:
        assert (out / name).stat().st_size > 0, name
    import matplotlib.image as mpimg

    for name in OUTPUTS[:2]:
        h, w, _ = mpimg.imread(out / name).shape
        assert h > 300 and w > 800, (name, h, w)
    return json.loads((out / "summary.json").read_text())


# --- the statistics, on a trace built by hand ------------------------------------------------

def test_combinations_rules_branches_and_absences_of_a_known_trace():
    # 6 rows: lidar absent in rows 2-3; audio never above 0.05; force dominant when present.
    present = np.ones((6, 5), bool)
    present[2:4, 1] = False
    gates = np.array([[0.3, 0.2, 0.05, 0.15, 0.3]] * 6)
    gates[2:4] = [0.4, 0.0, 0.05, 0.15, 0.4]
    t = Trace(NAMES, np.arange(6) * 0.5, present, gates, gates * 0.5, np.zeros(6, bool))
    s = summarise(t, gate_min=0.1, min_gate=0.1, rule_share=0.3)
    present_counts = {r["combination"]: r["count"] for r in s["combinations"]["present"]}
    assert present_counts == {"camera+lidar+audio+tactile+force": 4, "camera+audio+tactile+force": 2}
    used_counts = {r["combination"]: r["count"] for r in s["combinations"]["used"]}
    assert used_counts == {"camera+lidar+tactile+force": 4, "camera+tactile+force": 2}
    assert s["never_used"] == ["audio"] and s["rarely_used"] == ["audio"]
    assert s["absences"]["lidar"] == {"rows": 2, "spans_s": [(1.0, 1.5)], "max_gate_while_absent": 0.0}
    rules = {r["combination"]: r for r in s["proposed_rules"]}
    assert set(rules) == set(present_counts)  # both cover >= 30 %
    full = rules["camera+lidar+audio+tactile+force"]
    assert full["spread"] < 1e-6 and full["stable"] and full["dominant"] == "camera"
    weights = parse_rules([full["rule"]])[frozenset(NAMES)]
    assert weights == {"camera": 0.3, "lidar": 0.2, "audio": 0.05, "tactile": 0.15, "force": 0.3}
    assert s["branches"]["force"]["mean_gate_all_present"] == pytest.approx(0.3)
    nothing = Trace(NAMES, np.zeros(1), np.zeros((1, 5), bool), np.zeros((1, 5)), np.zeros((1, 5)),
                    np.zeros(1, bool))
    assert row_combinations(nothing) == ([NONE], [NONE])


# --- a recorded session ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """A short live session recorded like `omni-ros demo` records it: every sensor, then the
    lidar killed (the bridge stops publishing it), a typed "pick up the <object>" with a click on
    it, the lidar back."""
    from omni_ros.benchmarks.live import live_graph, mute, wait_task
    from omni_ros.dataset.session import SessionRecorder

    path = tmp_path_factory.mktemp("session") / "session.mcap"
    with live_graph(5) as (graph, op):
        rec = SessionRecorder(op, path)
        # volatile topics: a click or a typed command before discovery matched would be lost
        assert op.spin_until(lambda: op.point_pub.get_subscription_count() > 0
                             and op.text_pub.get_subscription_count() > 0, 120)
        assert op.spin_until(lambda: op.scene is not None and op.truth is not None
                             and all(op.scene.present), 120)
        op.spin_until(lambda: False, 1.0)
        lidar = op.scene.modalities.index("lidar")
        assert mute(op, "lidar")
        n = len(op.scenes)
        assert op.spin_until(lambda: sum(not s.present[lidar] for _, s in op.scenes[n:]) >= 10, 60)
        target = op.truth.objects[0]
        op.click(target.position)
        op.spin_until(lambda: False, 0.3)
        n_status = len(op.statuses)
        text = f"pick up the {target.color} {target.shape}"
        for _ in range(3):  # typed again if it was not heard (a loaded machine)
            n_heard = len(op.heard)
            op.type(text)
            if op.spin_until(lambda: len(op.heard) > n_heard, 30):
                break
        done = wait_task(op, n_status, "pick", 120)
        assert done is not None, [s.state for s in op.statuses]
        assert mute(op, "")
        n = len(op.scenes)
        assert op.spin_until(lambda: sum(s.present[lidar] for _, s in op.scenes[n:]) >= 10, 60)
        rec.close()
    return path, text, done.state


def _decoded_scenes(path: Path) -> list:
    """The /omni/scene messages as the reference MCAP decoder (mcap_ros2) reads them."""
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        return [m for _, _, _, m in reader.iter_decoded_messages(topics=["/omni/scene"])]


@pytest.mark.ros
@pytest.mark.timeout(600)
def test_explain_a_recorded_session(session, tmp_path):
    path, text, state = session
    out = tmp_path / "explain"
    assert main(["explain", "--mcap", str(path), "--out", str(out)]) == 0
    s = _written(out)
    scenes = _decoded_scenes(path)
    assert s["samples"] == len(scenes) > 50
    names = list(scenes[0].modalities)
    assert s["modalities"] == names

    def recount(mask_of) -> dict:
        counts = {}
        for m in scenes:
            combo = "+".join(n for n, on in zip(names, mask_of(m)) if on) or NONE
            counts[combo] = counts.get(combo, 0) + 1
        return counts

    assert {r["combination"]: r["count"] for r in s["combinations"]["present"]} == \
        recount(lambda m: m.present)
    assert {r["combination"]: r["count"] for r in s["combinations"]["used"]} == \
        recount(lambda m: [p and g >= 0.1 for p, g in zip(m.present, m.gate_weights)])
    # The killed lidar: gate 0 in every scene it was absent from, in no combination then.
    i = names.index("lidar")
    dead = [m for m in scenes if not m.present[i]]
    assert len(dead) >= 10 and all(m.gate_weights[i] == 0.0 for m in dead)
    assert s["absences"]["lidar"]["rows"] == len(dead)
    assert s["absences"]["lidar"]["max_gate_while_absent"] == 0.0
    from omni_ros.dataset.session import read_session

    trace = read_session(path).trace
    combos = row_combinations(trace)
    off = np.flatnonzero(~trace.present[:, i])
    assert len(off) == len(dead)
    assert all("lidar" not in combos[k][r].split("+") for k in (0, 1) for r in off)
    # ... and alive again afterwards: present and weighted in the later scenes.
    assert scenes[-1].present[i]
    assert s["branches"]["lidar"]["present_share"] == pytest.approx(1 - len(dead) / len(scenes))
    # The events: the typed command, the task's end, the touch of the grasp.
    commands = [m for m in s["marks"] if m["kind"] == "command"]
    assert [m["label"] for m in commands] == [text]
    assert any(m["kind"] == "status" and m["label"].startswith(f"pick {state}") for m in s["marks"])
    if state == "succeeded":
        assert s["events"].get("contact", 0) >= 1
    md = (out / "summary.md").read_text()
    assert "## Absences" in md and "- lidar: absent in" in md and "](timeline.png)" in md
    for r in s["proposed_rules"]:
        parse_rules([r["rule"]])


# --- a checkpoint over a dataset ---------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    from omni_ros.dataset.generate import generate

    out = tmp_path_factory.mktemp("tiny")
    generate(out, episodes=1, seed=11, progress=False)
    return out


def test_explain_a_checkpoint_over_a_dataset_reports_a_forced_absent_modality_never_used(
        tiny_dataset, tmp_path):
    out = tmp_path / "explain"
    assert main(["explain", "--checkpoint", "omni_small.pt", "--data", str(tiny_dataset),
                 "--absent", "audio", "--out", str(out)]) == 0
    s = _written(out)
    assert s["never_used"] == ["audio"] and "audio" in s["rarely_used"]
    assert s["branches"]["audio"]["present_share"] == 0.0
    assert s["branches"]["audio"]["mean_gate"] == 0.0
    for key in ("present", "used"):
        assert sum(r["count"] for r in s["combinations"][key]) == s["samples"]
        assert all("audio" not in r["combination"].split("+") for r in s["combinations"][key])
    assert "--prune-branches audio" in s["prune_command"]
    for r in s["proposed_rules"]:
        assert frozenset(r["combination"].split("+")) in parse_rules([r["rule"]])
    # the model's other branches carry the fusion: gates sum to 1 over the present ones
    total = sum(b["mean_gate"] for b in s["branches"].values())
    assert total == pytest.approx(1.0, abs=1e-4)
    assert "never used" in (out / "summary.md").read_text()


def test_a_rarely_used_but_present_branch_is_left_to_compress_auto(tiny_dataset, tmp_path):
    """Present branches below --min-gate are proposed through ``--prune-branches auto``, which
    keeps one the fused decisions need, never pruned by name."""
    out = tmp_path / "explain"
    assert main(["explain", "--checkpoint", "omni_small.pt", "--data", str(tiny_dataset),
                 "--min-gate", "0.99", "--out", str(out)]) == 0
    s = _written(out)
    assert s["never_used"] == [] and len(s["rarely_used"]) == 5
    assert "--prune-branches auto --min-gate 0.99" in s["prune_command"]
    assert "auto` keeps a candidate" in (out / "summary.md").read_text()


def test_explain_refuses_bad_arguments_with_a_reason(tmp_path, tiny_dataset, capsys):
    from omni_ros.dataset.mcap_io import McapWriter
    from std_msgs.msg import String

    assert main(["explain", "--mcap", str(tmp_path / "nope.mcap")]) == 2
    assert "no recording" in capsys.readouterr().out
    assert main(["explain", "--checkpoint", "omni_small.pt"]) == 2
    assert "needs --data" in capsys.readouterr().out
    assert main(["explain", "--checkpoint", "omni_small.pt", "--data", str(tiny_dataset),
                 "--absent", "sonar", "--out", str(tmp_path / "x")]) == 2
    assert "cannot force ['sonar'] absent" in capsys.readouterr().out
    assert main(["explain", "--checkpoint", "omni_small.pt", "--data", str(tmp_path)]) == 2
    assert "not dataset folders" in capsys.readouterr().out
    assert main(["explain", "--mcap", str(tmp_path / "nope.mcap"), "--gate-min", "2"]) == 2
    assert "must be in [0, 1]" in capsys.readouterr().out
    other = tmp_path / "other.mcap"
    w = McapWriter(other)
    w.write("/chatter", String(data="hi"), 1)
    w.close()
    assert main(["explain", "--mcap", str(other), "--out", str(tmp_path / "y")]) == 2
    assert "no /omni/scene scene" in capsys.readouterr().out


def test_malformed_scenes_in_a_recording_are_skipped_and_counted(tmp_path, capsys):
    from omni_ros_msgs.msg import SceneUnderstanding

    from omni_ros.dataset.mcap_io import McapWriter

    def scene(sec, gates, present=(True, True)):
        m = SceneUnderstanding(modalities=["camera", "force"], present=list(present),
                               ages=[0.0, 0.0], gate_weights=list(gates), contributions=[0.5, 0.5])
        m.header.stamp.sec = sec
        return m

    path = tmp_path / "bad.mcap"
    w = McapWriter(path)
    for sec, gates in enumerate([(0.7, 0.3), (2.0, 0.3), (0.6, 0.4)]):   # the 2nd: gate > 1
        w.write("/omni/scene", scene(sec, gates), sec * 10**9)
    w.write("/omni/scene", scene(3, (0.0, 1.0), (False, True)), 3 * 10**9)
    w.close()
    out = tmp_path / "explain"
    assert main(["explain", "--mcap", str(path), "--out", str(out)]) == 0
    assert "skipped 1 message(s): malformed scene" in capsys.readouterr().out
    s = json.loads((out / "summary.json").read_text())
    assert s["samples"] == 3 and sum(s["skipped"].values()) == 1
    assert {r["combination"]: r["count"] for r in s["combinations"]["present"]} == \
        {"camera+force": 2, "force": 1}
    assert s["absences"]["camera"]["spans_s"] == [[3.0, 3.0]]
