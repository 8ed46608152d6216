"""Check that everything omni_ros needs is installed and working, and say how to fix what is not.

The DDS check reports this shell's discovery settings and transport, and warns when they differ
from those of an omni_ros graph running on this host (or, with none running, from the project's
transport): such a shell's `ros2 topic echo` sees nothing.

Exit code 0 when every check passes (warnings included), 1 otherwise.
"""

from __future__ import annotations

import ctypes.util
import importlib
import sys
from typing import Callable

HELP = "check the installation (Python, ROS 2, messages, torch, pybullet, open3d, DDS settings)"
SETUP_FIX = "run `make setup` in the omni_ros checkout (it builds .venv), then use .venv/bin/omni-ros"


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def _python() -> str:
    v = sys.version_info
    if (v.major, v.minor) not in ((3, 10), (3, 11), (3, 12)):
        raise RuntimeError(f"Python {v.major}.{v.minor}: the ROS 2 wheels need 3.10-3.12")
    return f"{v.major}.{v.minor}.{v.micro} ({sys.executable})"


def _version(module: str) -> Callable[[], str]:
    def check() -> str:
        mod = importlib.import_module(module)
        return str(getattr(mod, "__version__", "ok"))
    return check


def _rclpy() -> str:
    import rclpy
    from rclpy.utilities import get_rmw_implementation_identifier

    context = rclpy.Context()
    rclpy.init(context=context, args=[])
    try:
        return f"context ok, RMW {get_rmw_implementation_identifier()}"
    finally:
        rclpy.shutdown(context=context)


def _messages() -> str:
    from omni_ros_msgs.msg import AudioChunk, SceneUnderstanding  # noqa: F401
    import omni_ros_msgs

    return f"omni_ros_msgs from {omni_ros_msgs.__file__.rsplit('/', 2)[0]}"


def _ros_messages() -> str:
    names = ("std_msgs", "sensor_msgs", "geometry_msgs", "visualization_msgs", "diagnostic_msgs",
             "rosgraph_msgs", "std_srvs")
    for name in names:
        importlib.import_module(f"{name}.{'srv' if name.endswith('srvs') else 'msg'}")
    return ", ".join(names)


def _torch() -> str:
    import torch

    return f"{torch.__version__}, {torch.get_num_threads()} threads, cuda={torch.cuda.is_available()}"


def _libusb() -> str:
    found = ctypes.util.find_library("usb-1.0")
    if not found:
        raise RuntimeError("libusb-1.0 not found")
    return found


class Warn(Exception):
    """A check that passes with a caveat (the message says what to do)."""


def _dds() -> str:
    from .. import dds_env

    here = dds_env.describe()
    problems = dds_env.mismatches()
    if caveat := dds_env.across_hosts_caveat():
        problems.append(caveat)
    if problems:
        raise Warn(f"{here}; " + "; ".join(problems))
    graphs = dds_env.running_graphs()
    return here + (f" (matches {len(graphs)} running graph(s))" if graphs else "")


def _pybullet() -> str:
    import pybullet

    cid = pybullet.connect(pybullet.DIRECT)
    pybullet.disconnect(cid)
    return f"API {pybullet.getAPIVersion()}, DIRECT ok"


CHECKS: list[tuple[str, Callable[[], str], str]] = [
    ("python", _python, "install CPython 3.11 (or 3.10/3.12) and run `make setup`"),
    ("rclpy", _rclpy, SETUP_FIX),
    ("omni_ros_msgs", _messages, "run `make setup` (builds msg/), or `colcon build` and source "
                                 "install/setup.bash in a ROS 2 workspace"),
    ("ROS messages", _ros_messages, SETUP_FIX),
    ("numpy", _version("numpy"), SETUP_FIX),
    ("scipy", _version("scipy"), SETUP_FIX),
    ("torch", _torch, "pip install torch==2.13.0 (CPU build), or `make setup`"),
    ("pybullet", _pybullet, "pip install pybullet==3.2.7, or `make setup`"),
    ("libusb-1.0", _libusb, "sudo apt-get install libusb-1.0-0 (open3d needs it)"),
    ("open3d", _version("open3d"), "sudo apt-get install libusb-1.0-0, then pip install "
                                   "open3d-cpu==0.20.0 (or `make setup`)"),
    ("DDS", _dds, "export the variables named above in this shell (README: \"from another "
                  "terminal\")"),
]


def run_checks() -> list[dict]:
    results = []
    for name, check, fix in CHECKS:
        try:
            results.append({"check": name, "ok": True, "detail": check()})
        except Warn as warn:
            results.append({"check": name, "ok": True, "warning": True, "detail": str(warn),
                            "fix": fix})
        except Exception as err:  # each failure is reported, never raised
            detail = f"{type(err).__name__}: {err}".splitlines()[0][:160]
            results.append({"check": name, "ok": False, "detail": detail, "fix": fix})
    return results


def run(args) -> int:
    results = run_checks()
    if args.json:
        import json

        print(json.dumps(results, indent=2))
    else:
        for r in results:
            mark = "FAIL" if not r["ok"] else "warn" if r.get("warning") else "ok  "
            print(f"[{mark}] {r['check']:<16} {r['detail']}")
            if "fix" in r:
                print(f"       fix: {r['fix']}")
        bad = sum(not r["ok"] for r in results)
        print("all checks passed" if not bad else f"{bad} check(s) failed")
    return 0 if all(r["ok"] for r in results) else 1
