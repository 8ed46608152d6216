"""Helpers shared by tests."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_py(*args, timeout=120, env=None, **kw) -> subprocess.CompletedProcess:
    """Run ``python args...`` with this interpreter from the repo root, capturing text output."""
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT, **kw)
