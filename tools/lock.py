#!/usr/bin/env python3
"""The per-Python locks in requirements/lock/: write them (``make lock``) or prove they install
from the public package index alone (``make check-lock``, run by ``make test``).

One lock per supported Python (3.10, 3.11, 3.12) for Linux x86_64 with glibc >= 2.35 (the ROS 2
wheels are manylinux x86_64, open3d-cpu needs manylinux_2_35), resolved by uv from
requirements.txt against https://pypi.org/simple only. uv runs isolated: ``--no-config``, no
``UV_*``/``PIP_*`` variables, no find-links, no interpreter downloads. So a pin that exists only
in a local wheel folder (``torch==2.13.0+cpu``) or only for another Python cannot pass.

torch is locked as the public index has it (``torch==2.13.0``, the CUDA build's dependencies
listed too, with markers). ``make setup`` installs with the lock as *constraints*: the CPU build
from the PyTorch CPU index (``2.13.0+cpu`` satisfies ``==2.13.0``) pulls none of the CUDA
packages; see tools/bootstrap.py.

  python tools/lock.py                 re-resolve, keeping every pin that still fits
  python tools/lock.py --upgrade       re-resolve to the newest versions requirements allow
  python tools/lock.py --check         dry run: fail naming the pin that does not resolve, or
                                       the Python whose lock differs from a fresh resolution
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHONS = ("3.10", "3.11", "3.12")
PLATFORM = "x86_64-manylinux_2_35"
PUBLIC_INDEX = "https://pypi.org/simple"
REQUIREMENTS = ROOT / "requirements.txt"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?:\s*;.*)?$")
# Options that point pip/uv somewhere other than the public index.
FOREIGN_SOURCE = re.compile(r"^\s*(-f|--find-links|-i|--index-url|--extra-index-url|--trusted-host)\b")


def lock_path(python: str) -> Path:
    """requirements/lock/py<X.Y>.txt: the full pinned set for Python ``python``."""
    return ROOT / "requirements" / "lock" / f"py{python}.txt"


def pins(path: Path) -> dict[str, str]:
    """{normalised name: version} of every ``name==version`` line of a lock file."""
    out = {}
    for line in path.read_text().splitlines():
        m = PIN.match(line.strip())
        if m:
            out[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
    return out


def find_uv() -> str:
    here = Path(sys.executable).parent / "uv"
    uv = str(here) if here.exists() else shutil.which("uv")
    if not uv:
        sys.exit("lock: uv not found: run `make setup` (requirements/python.txt installs it)")
    return uv


def uv_compile(python: str, out: Path, *extra: str) -> subprocess.CompletedProcess:
    """``uv pip compile requirements.txt`` for ``python`` on the public index only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_"))}
    cmd = [find_uv(), "pip", "compile", str(REQUIREMENTS.relative_to(ROOT)), "--no-config",
           "--no-python-downloads", "--index-url", PUBLIC_INDEX, "--python-version", python,
           "--python-platform", PLATFORM, "--custom-compile-command", "make lock",
           "--quiet", "-o", str(out), *extra]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)


def local_pin_problems(path: Path) -> list[str]:
    """Pins no public index can serve: local versions (``+cpu``), or sources other than it."""
    problems = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        m = PIN.match(line.strip())
        if m and "+" in m.group(2):
            problems.append(f"{path.relative_to(ROOT)}:{n}: {m.group(1)}=={m.group(2)} is a local "
                            f"version: the public index has no such file")
        if FOREIGN_SOURCE.match(line):
            problems.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()!r} names a package "
                            f"source other than {PUBLIC_INDEX}")
    return problems


def unresolved_names(error: str, locked: dict[str, str]) -> list[str]:
    """The locked pins uv's error message names (the ones that do not resolve)."""
    text = error.lower()
    return [f"{n}=={v}" for n, v in locked.items() if re.search(rf"\b{re.escape(n)}\b", text)]


def check_one(python: str) -> list[str]:
    """Problems with Python ``python``'s lock; empty when it resolves from the public index
    to exactly the pins it holds."""
    lock = lock_path(python)
    if not lock.exists():
        return [f"Python {python}: {lock.relative_to(ROOT)} is missing: run `make lock`"]
    problems = local_pin_problems(lock)
    locked = pins(lock)
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "fresh.txt"
        proc = uv_compile(python, fresh, "--constraint", str(lock))
        if proc.returncode != 0:
            named = unresolved_names(proc.stderr, locked)
            problems.append(f"Python {python}: {lock.relative_to(ROOT)} does not resolve from "
                            f"{PUBLIC_INDEX}" + (f" ({', '.join(named[:3])})" if named else "")
                            + ":\n    " + "\n    ".join(proc.stderr.strip().splitlines()[-6:]))
            return problems
        got = pins(fresh)
    added = sorted(f"{n}=={v}" for n, v in got.items() if locked.get(n) != v)
    dropped = sorted(f"{n}=={v}" for n, v in locked.items() if n not in got)
    if added or dropped:
        problems.append(f"Python {python}: {lock.relative_to(ROOT)} is out of date with "
                        f"requirements.txt (resolution adds {added or 'nothing'}, drops "
                        f"{dropped or 'nothing'}): run `make lock`")
    return problems


def check(pythons) -> int:
    with ThreadPoolExecutor(len(pythons)) as pool:
        results = dict(zip(pythons, pool.map(check_one, pythons)))
    bad = [p for probs in results.values() for p in probs]
    for python, probs in results.items():
        if not probs:
            print(f"check-lock: Python {python}: {len(pins(lock_path(python)))} pins resolve from "
                  f"{PUBLIC_INDEX} ({PLATFORM})")
    for p in bad:
        print(f"check-lock: FAIL {p}")
    return 1 if bad else 0


def write(pythons, upgrade: bool) -> int:
    rc = 0
    for python in pythons:
        lock = lock_path(python)
        lock.parent.mkdir(parents=True, exist_ok=True)
        # uv keeps the pins of an existing output file where they still fit (--upgrade: not).
        proc = uv_compile(python, lock, *(["--upgrade"] if upgrade else []))
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            rc = 1
            continue
        print(f"lock: Python {python}: {len(pins(lock))} pins -> {lock.relative_to(ROOT)}")
    return rc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="dry run: prove the locks resolve")
    ap.add_argument("--upgrade", action="store_true", help="newest versions requirements allow")
    ap.add_argument("--python", action="append", choices=PYTHONS, help="only this Python")
    args = ap.parse_args()
    pythons = tuple(args.python or PYTHONS)
    return check(pythons) if args.check else write(pythons, args.upgrade)


if __name__ == "__main__":
    sys.exit(main())
