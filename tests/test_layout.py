"""Package metadata, launch files and parameter files agree with the code."""

import ast
import dataclasses
import re
import xml.etree.ElementTree as ET

import yaml
from omni_ros_sim.config import SimConfig

from omni_ros.core.config import flatten_tree, from_flat_dict
from omni_ros.nodes.action import ActionNodeConfig
from omni_ros.nodes.arm_executor import ArmExecutorNodeConfig
from omni_ros.nodes.cloud_gateway import CloudGatewayConfig
from omni_ros.nodes.encoder import EncoderConfig
from omni_ros.nodes.fusion import FusionConfig
from omni_ros.nodes.perception import PerceptionConfig
from omni_ros.nodes.sensor_monitor import SensorMonitorConfig
from omni_ros.nodes.sim_bridge import SimBridgeConfig
from omni_ros.nodes.teleop import TeleopConfig

from _util import ROOT

CONFIGS = {"sensor_monitor": SensorMonitorConfig, "sim_bridge": SimBridgeConfig,
           "perception": PerceptionConfig, "teleop": TeleopConfig, "action": ActionNodeConfig,
           "encoder": EncoderConfig, "fusion": FusionConfig, "cloud_gateway": CloudGatewayConfig,
           "arm_executor": ArmExecutorNodeConfig}


def setup_nodes() -> dict[str, str]:
    """setup.py's NODES table: executable name -> module."""
    text = (ROOT / "setup.py").read_text()
    return ast.literal_eval(re.search(r"NODES = (\{.*?\n\})", text, re.S).group(1))


def setup_executables() -> set[str]:
    return set(setup_nodes()) | {"omni-ros"}


def test_every_node_module_has_a_main():
    import importlib

    for exe, module in setup_nodes().items():
        assert callable(importlib.import_module(module).main), exe


def test_launch_files_name_installed_executables_and_existing_configs():
    for launch in (ROOT / "launch").glob("*.launch.py"):
        tree = ast.parse(launch.read_text())
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            kw = {k.arg: k.value for k in call.keywords if isinstance(k.value, ast.Constant)}
            if "executable" in kw:
                assert kw["executable"].value in setup_executables(), launch.name
                assert kw["package"].value == "omni_ros"
        for name in re.findall(r'"([\w]+\.yaml)"', launch.read_text()):
            assert (ROOT / "config" / name).exists(), f"{launch.name} names missing config/{name}"


def test_parameter_files_validate_against_the_config_dataclasses():
    """config/*.yaml: ROS parameter files (/node: ros__parameters:) validate against their node's
    config dataclass; the others are training configs for the OmniConfig tree."""
    from omni_ros.core.model.model_config import OmniConfig

    ros_files = set()
    for path in (ROOT / "config").glob("*.yaml"):
        tree = yaml.safe_load(path.read_text())
        if all(k.startswith("/") for k in tree):
            for node, body in tree.items():
                from_flat_dict(CONFIGS[node.strip("/")], flatten_tree(body["ros__parameters"]))
            ros_files.add(path.stem)
        elif set(tree) <= {f.name for f in dataclasses.fields(SimConfig)}:  # omni-ros dataset --config
            from_flat_dict(SimConfig, flatten_tree(tree))
        else:
            from_flat_dict(OmniConfig, flatten_tree(tree))
    assert ros_files == set(CONFIGS)


def test_package_xml_versions_match_setup_and_both_are_format_3():
    setup_version = re.search(r'version="([\d.]+)"', (ROOT / "setup.py").read_text()).group(1)
    for pkg in (ROOT / "package.xml", ROOT / "msg" / "package.xml"):
        root = ET.parse(pkg).getroot()
        assert root.get("format") == "3"
        assert root.findtext("version") == setup_version, pkg


def test_every_interface_file_is_built_and_every_field_is_documented():
    cmake = (ROOT / "msg" / "CMakeLists.txt").read_text()
    msgs = sorted((ROOT / "msg").glob("*.msg")) + sorted((ROOT / "msg" / "srv").glob("*.srv"))
    assert len(msgs) >= 12
    for m in msgs:
        rel = f"{'srv' if m.suffix == '.srv' else 'msg'}/{m.name}"
        assert f'"{rel}"' in cmake, f"{rel} is not in msg/CMakeLists.txt"
        for line in m.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith(("#", "---")) and "=" not in line:
                assert "#" in line, f"{m.name}: undocumented field: {line}"
