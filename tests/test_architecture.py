"""omni_ros/core, omni_ros/learning and sim/ never import ROS (rclpy, message packages,
launch); core depends on nothing else of ours (nodes -> conversions -> core)."""

import ast
import json
from pathlib import Path

import pytest

from _util import ROOT, run_py

ROS_ROOTS = {"rclpy", "rcl_interfaces", "launch", "launch_ros", "rosidl_runtime_py",
             "builtin_interfaces", "message_filters", "tf2_ros"}
PURE_DIRS = [ROOT / "omni_ros" / "core", ROOT / "omni_ros" / "learning", ROOT / "sim"]


def is_ros_module(name: str) -> bool:
    root = name.split(".")[0]
    return root in ROS_ROOTS or root.endswith("_msgs") or root.endswith("_srvs")


def imported_modules(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) \
                in ("import_module", "__import__") and node.args \
                and isinstance(node.args[0], ast.Constant):
            yield node.lineno, str(node.args[0].value)


def test_pure_dirs_exist_and_have_code():
    for d in PURE_DIRS:
        assert list(d.rglob("*.py")), f"{d} has no Python files"


@pytest.mark.parametrize("path", [p for d in PURE_DIRS for p in sorted(d.rglob("*.py"))],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_ros_import_in_source(path):
    bad = [f"{path.relative_to(ROOT)}:{line} imports {mod}"
           for line, mod in imported_modules(path) if is_ros_module(mod)]
    assert not bad, "core/sim must stay ROS-free:\n" + "\n".join(bad)


@pytest.mark.parametrize("path", sorted((ROOT / "omni_ros" / "core").rglob("*.py")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_core_imports_only_core(path):
    tree = ast.parse(path.read_text(), str(path))
    ours = [(n.lineno, ("." * n.level) + (n.module or "")) for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and (n.level > 0 or (n.module or "").startswith("omni_ros"))]
    depth = len(path.relative_to(ROOT / "omni_ros" / "core").parts)  # dots that stay inside core
    bad = [f"line {line}: {mod}" for line, mod in ours
           if (mod.startswith("omni_ros") and not mod.startswith("omni_ros.core"))
           or len(mod) - len(mod.lstrip(".")) > depth]
    assert not bad, f"{path.relative_to(ROOT)} reaches outside omni_ros/core: {bad}"


def test_checker_catches_ros_imports(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("import rclpy\nfrom sensor_msgs.msg import Image\n"
                 "import importlib\nimportlib.import_module('std_srvs.srv')\nimport numpy\n")
    assert [m for _, m in imported_modules(f) if is_ros_module(m)] == \
        ["rclpy", "sensor_msgs.msg", "std_srvs.srv"]


def test_importing_core_and_sim_loads_no_ros_module():
    """Transitive check: import every core/sim module in a fresh interpreter, list sys.modules."""
    modules = []
    for base, pkg in ((ROOT / "omni_ros" / "core", "omni_ros.core"), (ROOT / "sim", "omni_ros_sim")):
        for p in sorted(base.rglob("*.py")):
            rel = p.relative_to(base).with_suffix("")
            parts = [x for x in rel.parts if x != "__init__"]
            modules.append(".".join([pkg, *parts]))
    code = ("import importlib, json, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print(json.dumps(sorted(sys.modules)))")
    out = run_py("-c", code)
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert not [m for m in loaded if is_ros_module(m)]


AREAS = ("model", "perception", "speech", "manipulation")
MAY_IMPORT = {"perception": {"model"}}   # every area imports the base; perception also the model


CORE = ROOT / "omni_ros" / "core"


def _core_target(path: Path, node: ast.ImportFrom, core: Path) -> str:
    """Dotted module (relative to omni_ros.core) that an import in a core file reaches."""
    if node.level == 0:
        return (node.module or "").removeprefix("omni_ros.core").lstrip(".")
    base = list(path.relative_to(core).parent.parts)
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def core_area_violations(path: Path, core: Path = CORE) -> list[str]:
    rel = path.relative_to(core).parts
    area = rel[0] if len(rel) > 1 else ""      # "" = the shared base
    bad = []
    for n in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(n, ast.ImportFrom) or not (n.level or (n.module or "").startswith("omni_ros.core")):
            continue
        target = _core_target(path, n, core).split(".")[0]
        if target in AREAS and target != area and target not in MAY_IMPORT.get(area, set()):
            bad.append(f"line {n.lineno}: {'base' if not area else area} imports core.{target}")
    return bad


def test_core_has_the_four_areas_over_a_small_base():
    core = ROOT / "omni_ros" / "core"
    assert sorted(p.name for p in core.iterdir() if p.is_dir() and p.name != "__pycache__") == sorted(AREAS)
    base = sorted(p.stem for p in core.glob("*.py") if p.stem != "__init__")
    assert len(base) <= 8, f"the base should stay small: {base}"


@pytest.mark.parametrize("path", sorted((ROOT / "omni_ros" / "core").rglob("*.py")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_each_core_area_imports_only_the_base(path):
    bad = core_area_violations(path)
    assert not bad, f"{path.relative_to(ROOT)}: {bad}"


def test_area_checker_catches_a_cross_area_import(tmp_path):
    (tmp_path / "speech").mkdir()
    probe = tmp_path / "speech" / "x.py"
    probe.write_text("from ..manipulation.plans import PlanConfig\nfrom ..types import INTENTS\n"
                     "from omni_ros.core.perception import pipeline\n")
    assert core_area_violations(probe, tmp_path) == ["line 1: speech imports core.manipulation",
                                                     "line 3: speech imports core.perception"]
    base = tmp_path / "labels.py"
    base.write_text("from .model.omni import OmniModel\n")
    assert core_area_violations(base, tmp_path) == ["line 1: base imports core.model"]
