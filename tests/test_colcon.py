"""The ROS 2 workspace path: colcon (from PyPI) builds omni_ros_msgs and omni_ros against the
venv's ROS, and the installed result imports and runs."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from _util import ROOT

pytestmark = pytest.mark.slow


def test_colcon_builds_both_packages_and_the_result_works(tmp_path):
    venv = Path(sys.prefix)
    env = dict(os.environ, AMENT_PREFIX_PATH=str(venv), CMAKE_PREFIX_PATH=str(venv),
               PATH=f"{venv / 'bin'}:{os.environ['PATH']}")
    build = subprocess.run(
        [str(venv / "bin" / "colcon"), "--log-base", str(tmp_path / "log"), "build",
         "--base-paths", str(ROOT), str(ROOT / "msg"),
         "--build-base", str(tmp_path / "build"), "--install-base", str(tmp_path / "install"),
         "--cmake-args", "-DBUILD_TESTING=OFF", f"-DPython3_EXECUTABLE={sys.executable}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    for pkg in ("omni_ros_msgs", "omni_ros"):
        assert f"Finished <<< {pkg} [" in build.stdout, build.stdout[-2000:]

    install = tmp_path / "install"
    for exe in ("sensor_monitor", "demo_talker", "omni-ros"):
        assert (install / "omni_ros" / "lib" / "omni_ros" / exe).exists(), exe
    assert (install / "omni_ros" / "share" / "omni_ros" / "package.xml").exists()

    probe = (
        "import rclpy, omni_ros, omni_ros_msgs, omni_ros_sim\n"
        "from omni_ros_msgs.msg import AudioChunk\n"
        f"assert omni_ros_msgs.__file__.startswith({str(install)!r}), omni_ros_msgs.__file__\n"
        f"assert omni_ros.__file__.startswith({str(install)!r}), omni_ros.__file__\n"
        "rclpy.init()\n"
        "node = rclpy.create_node('colcon_probe')\n"
        "node.create_publisher(AudioChunk, '/audio', 1).publish(AudioChunk(sample_rate=16000))\n"
        "rclpy.shutdown()\n"
        "print('probe ok')\n")
    clean = {k: v for k, v in env.items() if k not in ("PYTHONPATH", "AMENT_PREFIX_PATH")}
    run = subprocess.run(
        ["sh", "-c", f'. "{install}/setup.sh" && "{sys.executable}" -c "$PROBE"'],
        env=dict(clean, PROBE=probe), capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "probe ok" in run.stdout
