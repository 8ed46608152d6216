"""The omni-ros CLI: doctor, the live demo, and the idempotent set-up."""

import json
import sys

import pytest

from omni_ros.core.speech.commands import parse_command

from _util import ROOT, run_py


def test_doctor_passes_in_the_venv():
    out = run_py("-m", "omni_ros.cli", "doctor", "--json", timeout=120)
    results = json.loads(out.stdout)
    assert out.returncode == 0, [r for r in results if not r["ok"]]
    assert {r["check"] for r in results} >= {"python", "rclpy", "omni_ros_msgs", "torch",
                                             "pybullet", "open3d", "libusb-1.0"}
    rclpy = next(r for r in results if r["check"] == "rclpy")
    assert "rmw_" in rclpy["detail"]


def test_doctor_reports_a_failure_with_its_fix_and_nonzero_exit(monkeypatch, capsys):
    from omni_ros.cli import doctor, main

    def broken():
        raise ImportError("No module named 'pybullet'")

    monkeypatch.setattr(doctor, "CHECKS", [("pybullet", broken, "pip install pybullet==3.2.7")])
    assert main(["doctor"]) == 1
    text = capsys.readouterr().out
    assert "[FAIL] pybullet" in text and "fix: pip install pybullet==3.2.7" in text


def test_help_lists_the_subcommands():
    out = run_py("-m", "omni_ros.cli", "--help")
    assert out.returncode == 0
    assert "doctor" in out.stdout and "demo" in out.stdout


@pytest.mark.ros
def test_synthetic_demo_streams_every_sensor_type_between_two_processes():
    # (every 4th message malformed: enough that a busy machine dropping some still shows each)
    out = run_py("-m", "omni_ros.cli", "demo", "--synthetic", "--duration", "3", "--garbage-every", "4",
                 timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    for topic in ("/camera/color/image_raw", "/camera/depth/image_raw", "/camera/camera_info",
                  "/lidar/points", "/audio", "/tactile", "/wrist/wrench"):
        row = next(line for line in out.stdout.splitlines() if line.startswith(topic))
        ok, bad = (int(x) for x in row.split()[2:4])
        assert ok > 0 and bad > 0, row
    assert "demo: OK" in out.stdout


@pytest.mark.ros
def test_sim_demo_runs_the_voice_and_point_story_and_writes_a_figure(tmp_path):
    """What `make demo` runs: the sim graph, a spoken pick + point and "put it here" + point."""
    png = tmp_path / "demo.png"
    out = run_py("-m", "omni_ros.cli", "demo", "--seed", "4", "--png", str(png), timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("demo: ")]
    heard = next(ln for ln in lines if ln.startswith("demo: heard: "))
    said = [parse_command(h) for h in heard.removeprefix("demo: heard: ").strip("'").split("'; '")]
    assert [(c.intent if c else None) for c in said] == ["pick", "place"], heard
    assert any(ln.startswith("demo: grounded target: ") for ln in lines)
    gates = next(ln for ln in lines if ln.startswith("demo: gate weights"))
    assert all(m in gates for m in ("camera", "lidar", "audio", "tactile", "force"))
    assert sum(ln.startswith("demo: stage ") for ln in lines) == 6
    assert any("SUCCESS" in ln for ln in lines if ln.startswith("demo: result: "))
    assert png.stat().st_size > 20_000 and png.read_bytes()[:4] == b"\x89PNG"


def test_second_setup_run_does_nothing():
    """`make setup` is idempotent: with nothing changed no step runs again."""
    out = run_py(str(ROOT / "tools" / "bootstrap.py"), timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "done in" not in out.stdout, out.stdout
    assert "ready in" in out.stdout
    assert sys.prefix.startswith(str(ROOT / ".venv"))


def test_conversion_benchmark_reports_ratios_against_a_copy():
    from omni_ros.benchmarks.transport import conversion_costs

    rows = conversion_costs(repeat=3)
    assert [r["what"] for r in rows] == ["image 1 MB rgb8", "cloud 100k xyz+i"]
    for r in rows:
        assert r["bytes"] >= 1_000_000
        assert r["encode_vs_copy"] > 0 and r["decode_vs_copy"] > 0


def test_a_bench_table_names_the_command_that_made_it_without_its_output_paths():
    """bench/*.md say how to rerun them: the plain suite is `make bench`'s, any other option is
    kept (quoted as a shell would need it) and --json / --markdown are dropped."""
    from omni_ros.cli.bench import made_by

    assert made_by("live", ["bench", "--suite", "live", "--json", "a.json", "--markdown", "b.md"]) \
        == "`make bench` (`omni-ros bench --suite live`)"
    assert made_by("live", ["bench", "--suite", "live", "--cell", "moved 12 cm", "--json=a.json",
                            "--episodes", "8", "--markdown", "b.md"]) \
        == "`omni-ros bench --suite live --cell 'moved 12 cm' --episodes 8`"


@pytest.mark.parametrize("text", ["640", "640x", "0x480", "641x480", "640x481", "axb"])
def test_a_camera_size_outside_what_the_sim_makes_is_refused_with_what_is_allowed(text):
    import argparse

    from omni_ros.cli.bench import camera_size

    assert camera_size("640x480") == (640, 480) and camera_size("64X48") == (64, 48)
    with pytest.raises(argparse.ArgumentTypeError, match=r"width 16\.\.640, height 16\.\.480"):
        camera_size(text)


@pytest.mark.parametrize("extra", [["--cell", "moved 13 cm"], ["--episodes", "0"]])
def test_the_cells_bench_refuses_an_unknown_cell_or_no_episodes_with_what_is_allowed(extra, capsys):
    from omni_ros.cli import main

    assert main(["bench", "--suite", "cells", *extra]) == 2
    out = capsys.readouterr().out
    assert "error:" in out and ("moved 12 cm" in out or "at least 1 episode" in out)
