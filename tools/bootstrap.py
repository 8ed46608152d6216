#!/usr/bin/env python3
"""Set up everything omni_ros needs, idempotently: ``make setup`` runs this.

Steps (each skipped when its inputs have not changed since it last succeeded):
  1. check this interpreter is CPython 3.10-3.12 (the ROS 2 wheels exist for those only);
  2. create .venv with it;
  3. check system libraries (libusb-1.0 for open3d, cmake and a C++ compiler for msg/),
     installing them with apt-get when running as root, otherwise saying what to run;
  4. pip install torch: the CPU build from the PyTorch CPU index when it can be reached
     (TORCH_INDEX_URL, below), else the package index's default build; then the requirements
     (requirements.txt) constrained by this Python's lock, requirements/lock/py3.X.txt;
  5. fix the ROS wheels' cmake files, which hard-code the wheel builder's Python paths;
  6. build and install the interface package msg/ (omni_ros_msgs) into .venv;
  7. pip install -e . (omni_ros and omni_ros_sim).

Stamps live in .venv/.omni_ros_setup/, so deleting .venv starts from scratch.
Run with the interpreter to use: ``python3.11 tools/bootstrap.py``.

TORCH_INDEX_URL (environment, or ``make setup TORCH_INDEX_URL=...``):
  unset       the PyTorch CPU index if it answers within a few seconds, else the package index's
              default torch (on Linux x86_64 that is the CUDA build, several GB with its nvidia-*
              packages; the CPU build is about 0.2 GB);
  a URL       that index for torch (e.g. .../whl/cu128); an error if it cannot be reached;
  ``default`` the package index's default torch, without asking the CPU index.
It decides only what an install of torch takes (any 2.13.0 build satisfies the lock): to switch
builds later, ``.venv/bin/pip uninstall torch`` and run ``make setup`` again.
Every other package comes from pip's own configuration (PyPI unless you set a mirror).
"""

from __future__ import annotations

import ctypes.util
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
STAMPS = VENV / ".omni_ros_setup"
BUILD = ROOT / "build"
SUPPORTED = ((3, 10), (3, 11), (3, 12))
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
APT_PACKAGES = {"libusb-1.0": "libusb-1.0-0", "cmake": "cmake", "c++": "g++"}
# Optional: headless Chromium for `omni-ros viz --screenshot` and the viewer's browser test
# (tests/test_viz.py skips it, saying why, when it is missing and cannot be installed).
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def say(msg: str) -> None:
    print(f"[setup] {msg}", flush=True)


def die(msg: str) -> None:
    print(f"[setup] ERROR: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def run(cmd: list[str], **kw) -> None:
    """Run ``cmd``; on failure show its output and stop."""
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if proc.returncode != 0:
        print(proc.stdout[-6000:], file=sys.stderr)
        die(f"command failed ({proc.returncode}): {' '.join(cmd)}")


def digest(*paths: Path, extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for p in paths:
        files = sorted(p.rglob("*")) if p.is_dir() else [p]
        for f in files:
            if f.is_file():
                h.update(str(f.relative_to(ROOT)).encode())
                h.update(f.read_bytes())
    return h.hexdigest()


def step(name: str, key: str, action) -> None:
    """Run ``action`` unless stamp ``name`` already records ``key``."""
    stamp = STAMPS / name
    if stamp.exists() and stamp.read_text() == key:
        return
    t0 = time.monotonic()
    action()
    STAMPS.mkdir(parents=True, exist_ok=True)
    stamp.write_text(key)
    say(f"{name}: done in {time.monotonic() - t0:.1f} s")


def check_python() -> None:
    v = sys.version_info[:2]
    if sys.implementation.name != "cpython" or v not in SUPPORTED:
        die(f"Python {sys.version.split()[0]} ({sys.executable}) is not supported: the ROS 2 "
            f"wheels exist for CPython 3.10, 3.11 and 3.12 only. Install one of them and run "
            f"`make PYTHON=python3.11 ...` (3.11 is preferred).")


def venv_python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv() -> None:
    want = f"{sys.version_info[0]}.{sys.version_info[1]}"
    py = venv_python()
    if py.exists():
        got = subprocess.run([str(py), "-c", "import sys;print('%d.%d'%sys.version_info[:2])"],
                             capture_output=True, text=True).stdout.strip()
        if got == want:
            return
        say(f".venv has Python {got or '?'}; recreating it with {want}")
    say(f"creating .venv with Python {want}")
    run([sys.executable, "-m", "venv", "--clear", str(VENV)])
    # colcon must never crawl into the venv (its share/ holds ROS package.xml files).
    (VENV / "COLCON_IGNORE").touch()


def missing_system_tools() -> list[str]:
    missing = []
    if ctypes.util.find_library("usb-1.0") is None:
        missing.append("libusb-1.0")
    if shutil.which("cmake") is None:
        missing.append("cmake")
    if shutil.which("c++") is None and shutil.which("g++") is None:
        missing.append("c++")
    return missing


def ensure_browser() -> None:
    """Install Debian's chromium when no Chromium-family browser is on PATH: as root with
    apt-get; otherwise only say what to run (the browser is optional)."""
    if any(shutil.which(b) for b in BROWSERS):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say("installing system package: chromium (headless browser for the viewer's test)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  env=env)
            if proc.returncode != 0:  # optional: say so, go on (the viewer's test will fail)
                say(f"warning: {' '.join(cmd)} failed ({proc.returncode}): "
                    f"{proc.stdout[-2000:]}")
                return
        return
    say("note: no chromium: `omni-ros viz --screenshot` and the viewer's browser test need it "
        "(Debian/Ubuntu: sudo apt-get install -y chromium)")


def ensure_system() -> None:
    ensure_browser()
    missing = missing_system_tools()
    if not missing:
        return
    pkgs = [APT_PACKAGES[m] for m in missing]
    cmd = "apt-get update && apt-get install -y " + " ".join(pkgs)
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say(f"installing system packages: {' '.join(pkgs)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "update", "-qq"], env=env)
        run(["apt-get", "install", "-y", "-qq", *pkgs], env=env)
        if missing_system_tools():
            die(f"still missing after apt-get: {', '.join(missing_system_tools())}")
        return
    die(f"missing system packages: {', '.join(missing)} (open3d needs libusb-1.0; building "
        f"msg/ needs cmake and a C++ compiler). On Debian/Ubuntu run:\n    sudo {cmd}")


def lock_file() -> Path:
    """This Python's full pinned set (``make lock`` writes one per supported Python)."""
    return ROOT / "requirements" / "lock" / f"py{sys.version_info[0]}.{sys.version_info[1]}.txt"


def locked_version(name: str) -> str:
    for line in lock_file().read_text().splitlines():
        if line.lower().startswith(f"{name}=="):
            return line.split("==", 1)[1].split(";")[0].strip()
    die(f"{name} is not pinned in {lock_file()}: run `make lock`")


def reachable(index: str) -> bool:
    try:
        req = urllib.request.Request(index.rstrip("/") + "/torch/", method="HEAD")
        with urllib.request.urlopen(req, timeout=8) as resp:
            return resp.status < 400
    except OSError:
        return False


def torch_index() -> str | None:
    """The index to take torch from, or None for the package index's default build."""
    asked = os.environ.get("TORCH_INDEX_URL", "").strip()
    if asked == "default":
        return None
    index = asked or CPU_TORCH_INDEX
    if reachable(index):
        return index
    if asked:
        die(f"TORCH_INDEX_URL={asked} cannot be reached; unset it to fall back to the package "
            f"index's default torch, or set TORCH_INDEX_URL=default")
    say(f"the PyTorch CPU index ({CPU_TORCH_INDEX}) cannot be reached: installing the package "
        f"index's default torch instead (on Linux x86_64 the CUDA build: several GB)")
    return None


def installed_torch(version: str) -> list[str]:
    """dist-info folders of torch ``version`` (any build: 2.13.0, 2.13.0+cpu...) in .venv."""
    return glob.glob(str(VENV / "lib" / "python3.*" / "site-packages" / f"torch-{version}*.dist-info"))


def install_requirements() -> None:
    pip = [str(venv_python()), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    torch = f"torch=={locked_version('torch')}"
    index = None if installed_torch(locked_version("torch")) else torch_index()
    if index:
        say(f"installing {torch} from {index}")
        run([*pip, "--no-deps", "--index-url", index, torch])
    # The lock pins torch as the public index has it; a CPU build already installed
    # (2.13.0+cpu) satisfies ==2.13.0, so its CUDA packages are never pulled in.
    run([*pip, "-r", str(ROOT / "requirements.txt"), "-c", str(lock_file())])


def site_include_dirs() -> tuple[str, str]:
    code = ("import sysconfig, numpy; "
            "print(sysconfig.get_paths()['include']); print(numpy.get_include())")
    out = subprocess.run([str(venv_python()), "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    return out[0], out[1]


def fix_wheel_cmake_files() -> None:
    """The wheels' *__rosidl_generator_pyExport.cmake name /opt/python/cp3XX-cp3XX/... include
    dirs of the machine that built them; point them at this venv's Python and numpy."""
    py_inc, np_inc = site_include_dirs()
    pattern_py = re.compile(r"/opt/python/cp3\d+-cp3\d+/include/python3\.\d+")
    pattern_np = re.compile(
        r"/opt/python/cp3\d+-cp3\d+/lib/python3\.\d+/site-packages/numpy/_core/include")
    for f in glob.glob(str(VENV / "share" / "*" / "cmake" / "*__rosidl_generator_pyExport.cmake")):
        text = Path(f).read_text()
        fixed = pattern_py.sub(py_inc, pattern_np.sub(np_inc, text))
        if fixed != text:
            Path(f).write_text(fixed)


def build_messages() -> None:
    py = str(venv_python())
    env = dict(os.environ, AMENT_PREFIX_PATH=str(VENV), CMAKE_PREFIX_PATH=str(VENV))
    out = BUILD / "msg"
    shutil.rmtree(out, ignore_errors=True)
    say("building msg/ (omni_ros_msgs), ~20 s")
    run(["cmake", "-S", str(ROOT / "msg"), "-B", str(out), f"-DCMAKE_INSTALL_PREFIX={VENV}",
         f"-DPython3_EXECUTABLE={py}", "-DBUILD_TESTING=OFF"], env=env)
    run(["cmake", "--build", str(out), f"-j{os.cpu_count() or 2}"], env=env)
    run(["cmake", "--install", str(out)], env=env)
    run([py, "-c", "from omni_ros_msgs.msg import AudioChunk"])


def install_package() -> None:
    # --use-pep517: an editable wheel whose finder maps omni_ros_sim to sim/ (setup.py's
    # package_dir). Without it, older pips (23.0, Python 3.10's) fall back to `setup.py
    # develop`, which only puts the checkout on sys.path: no omni_ros_sim.
    run([str(venv_python()), "-m", "pip", "install", "--disable-pip-version-check", "-q",
         "--no-deps", "--no-build-isolation", "--use-pep517", "-e", str(ROOT)])


def main() -> None:
    t0 = time.monotonic()
    check_python()
    ensure_venv()
    ensure_system()
    py_tag = f"{sys.version_info[0]}.{sys.version_info[1]}"
    deps = digest(ROOT / "requirements.txt", ROOT / "requirements", extra=py_tag)
    if not installed_torch("*"):
        (STAMPS / "requirements").unlink(missing_ok=True)   # torch was removed: install it again
    step("requirements", deps, install_requirements)
    fix_wheel_cmake_files()
    step("messages", digest(ROOT / "msg", extra=deps), build_messages)
    step("package", digest(ROOT / "setup.py", ROOT / "setup.cfg", ROOT / "package.xml",
                           ROOT / "resource", ROOT / "launch", ROOT / "config"), install_package)
    # (models/ is found in the checkout by omni_ros.core.model.checkpoint; no reinstall needed)
    say(f"ready in {time.monotonic() - t0:.1f} s ({VENV})")


if __name__ == "__main__":
    main()
