"""The per-Python locks resolve from the public index alone, and the check (make check-lock,
tools/lock.py --check) fails, naming the pin, when one does not: a local-version pin such as
torch's +cpu build, which only a local wheel folder can serve, or a version that does not
exist for that Python. Runs the checker on a copy of requirements/ (needs PyPI, as set-up does)."""

import shutil
import subprocess
import sys

import pytest

from _util import ROOT


@pytest.fixture
def checkout(tmp_path):
    (tmp_path / "tools").mkdir()
    shutil.copy(ROOT / "tools" / "lock.py", tmp_path / "tools")
    shutil.copy(ROOT / "requirements.txt", tmp_path)
    shutil.copytree(ROOT / "requirements", tmp_path / "requirements")
    return tmp_path


def check(root, python):
    return subprocess.run([sys.executable, str(root / "tools" / "lock.py"), "--check", "--python",
                           python], capture_output=True, text=True, timeout=300)


def edit_lock(root, python, old, new):
    lock = root / "requirements" / "lock" / f"py{python}.txt"
    text = lock.read_text()
    assert f"\n{old}\n" in text
    lock.write_text(text.replace(f"\n{old}\n", f"\n{new}\n"))


@pytest.mark.slow
def test_a_local_version_pin_fails_the_check_and_is_named(checkout):
    ok = check(checkout, "3.12")
    assert ok.returncode == 0, ok.stdout + ok.stderr          # the copy resolves as it is
    edit_lock(checkout, "3.12", "torch==2.13.0", "torch==2.13.0+cpu")
    bad = check(checkout, "3.12")
    assert bad.returncode == 1
    assert "torch==2.13.0+cpu is a local version" in bad.stdout
    assert "does not resolve from https://pypi.org/simple (torch==2.13.0+cpu)" in bad.stdout


@pytest.mark.slow
def test_a_pin_that_does_not_exist_for_that_python_fails_the_check(checkout):
    edit_lock(checkout, "3.10", "numpy==2.2.6", "numpy==2.4.6")     # 2.3+ dropped Python 3.10
    bad = check(checkout, "3.10")
    assert bad.returncode == 1 and "(numpy==2.4.6)" in bad.stdout, bad.stdout


def test_requirements_name_no_local_versions_or_other_package_sources():
    for path in [ROOT / "requirements.txt", *sorted((ROOT / "requirements").rglob("*.txt"))]:
        for line in path.read_text().splitlines():
            assert "+cpu" not in line and "+cu" not in line, (path, line)
            assert not line.strip().startswith(("-f", "--find-links", "-i", "--index-url",
                                                "--extra-index-url")), (path, line)
