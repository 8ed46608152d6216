"""One node graph, started two ways: launch/*.launch.py (ROS 2 installs) and ``omni-ros up``
(omni_ros.launcher, pip installs) name the same nodes and parameter files and respawn the same
nodes; the launcher starts, supervises (respawn with back-off) and stops real processes,
including the cloud tier (``omni-ros up --tier cloud``: a process that is not a ROS node)."""

import ast
import io
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
import yaml

from omni_ros import dds_env
from omni_ros.cloud import link
from omni_ros.launcher import (CLEAN_STOP_CODES, GRAPH, TIERS, Graph, LaunchError, NodeSpec,
                               RespawnPolicy, config_dirs, format_options, format_param, graph,
                               load_user_params, plan, respawn_names)

from omni_ros.cli.viz import viz_spec

from _util import ROOT, run_py

LAUNCH_FILES = {False: ROOT / "launch" / "omni_ros.launch.py",
                True: ROOT / "launch" / "sim_demo.launch.py"}


# -- the launch files agree with the launcher's graph table ---------------------------------


def setup_nodes() -> dict[str, str]:
    """setup.py's NODES table: executable name -> module."""
    text = (ROOT / "setup.py").read_text()
    return ast.literal_eval(re.search(r"NODES = (\{.*?\n\})", text, re.S).group(1))


def _terms(expr: ast.expr) -> list[ast.expr]:
    """``a + b + c`` -> [a, b, c]; anything else -> [expr]."""
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        return _terms(expr.left) + _terms(expr.right)
    return [expr]


def _expand(expr: ast.AST, assigns: dict[str, ast.expr], seen=()) -> list[ast.AST]:
    """Every AST node of ``expr``, following local names to what they were assigned."""
    out = []
    for n in ast.walk(expr):
        out.append(n)
        if isinstance(n, ast.Name) and n.id in assigns and n.id not in seen:
            out += _expand(assigns[n.id], assigns, seen + (n.id,))
    return out


def _kind(term: ast.expr, assigns) -> str:
    """What one term of a Node's ``parameters`` is: the node's default file, the user's file
    (the params_file launch argument) or the use_sim_time dict."""
    nodes = _expand(term, assigns)
    yamls = [n.value for n in nodes if isinstance(n, ast.Constant)
             and isinstance(n.value, str) and n.value.endswith(".yaml")]
    if yamls:
        return f"default:{yamls[0]}"
    if any(isinstance(n, ast.Call) and getattr(n.func, "id", "") == "LaunchConfiguration"
           and n.args and getattr(n.args[0], "value", None) == "params_file" for n in nodes):
        return "user"
    for n in nodes:
        if isinstance(n, ast.Dict):
            d = {getattr(k, "value", None): getattr(v, "value", None)
                 for k, v in zip(n.keys, n.values)}
            if d == {"use_sim_time": True}:
                return "use_sim_time"
            if d == {"arm_input": "joint_trajectory"}:
                return "arm_input"
    return ast.unparse(term)


def launch_nodes(path) -> dict[str, dict]:
    """Every ``Node(...)`` of a launch file: name -> executable, package and its parameter
    sources in order."""
    tree = ast.parse(path.read_text())
    assigns = {t.id: n.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
               for t in n.targets if isinstance(t, ast.Name)}
    found = {}
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "Node":
            kw = {k.arg: k.value for k in call.keywords}
            name = kw["name"].value
            assert name not in found, f"{path.name}: node {name} twice"
            found[name] = {"executable": kw["executable"].value, "package": kw["package"].value,
                           "parameters": [_kind(t, assigns) for t in _terms(kw["parameters"])]}
    return found


@pytest.mark.parametrize("sim", [False, True], ids=["omni_ros.launch.py", "sim_demo.launch.py"])
def test_launch_file_starts_the_graph_of_omni_ros_up(sim):
    """Every node the file can start (arm_executor:=true adds the arm executor, viz:=true the
    live viewer, as ``omni-ros up --arm-executor --viz``) with omni-ros up's parameter sources
    in its order."""
    nodes = launch_nodes(LAUNCH_FILES[sim])
    specs, overrides = plan(sim, arm_executor=True)
    specs.append(viz_spec())
    assert sorted(nodes) == sorted(s.name for s in specs)
    assert [s.name for s in graph(sim=sim)] == [s.name for s in specs[:-1] if not s.option]
    for spec in specs:
        node = nodes[spec.name]
        assert node["package"] == "omni_ros"
        assert node["executable"] == spec.executable
        # the same order as omni-ros up: package defaults, user file, sim time, overrides
        # (with the executor, the sim bridge's arm_input; the file adds it only then)
        default = [f"default:{spec.params_file}"] if spec.params_file else []  # viz: none
        assert node["parameters"] == default + ["user"] + (
            ["use_sim_time"] if sim else []) + list(overrides.get(spec.name, {})), spec.name
    assert overrides == ({"sim_bridge": {"arm_input": "joint_trajectory"}} if sim else {})
    text = LAUNCH_FILES[sim].read_text()
    assert re.search(r'DeclareLaunchArgument\(\s*"params_file"', text)
    for arg in ("arm_executor", "viz"):
        assert re.search(rf'DeclareLaunchArgument\(\s*"{arg}", default_value="false"', text)
    imported = {a.name for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Import)
                for a in n.names} | {n.module for n in ast.walk(ast.parse(text))
                                     if isinstance(n, ast.ImportFrom)}
    assert not [m for m in imported if m.split(".")[0].startswith("omni_ros")], imported


RESPAWN_FILES = {"omni_ros.launch.py": graph(sim=False, options=["arm_executor"]) + [viz_spec()],
                 "sim_demo.launch.py": graph(sim=True, options=["arm_executor"]) + [viz_spec()],
                 "sim.launch.py": [s for s in GRAPH if s.name == "sim_bridge"],
                 "tiers.launch.py": graph(sim=True, tiers=TIERS, cloud=True,
                                          options=["arm_executor"])}


def _launch_config(expr: ast.AST, assigns) -> set[str]:
    """Names of the launch arguments ``LaunchConfiguration("...")`` read in ``expr``."""
    return {n.args[0].value for n in _expand(expr, assigns) if isinstance(n, ast.Call)
            and getattr(n.func, "id", "") == "LaunchConfiguration" and n.args
            and isinstance(n.args[0], ast.Constant)}


@pytest.mark.parametrize("name", sorted(RESPAWN_FILES))
def test_launch_files_respawn_the_nodes_omni_ros_up_would(name):
    """Every node gets ``respawn`` (from the ``respawn`` argument, parsed as ``omni-ros up
    --respawn`` parses it) and ``respawn_delay`` (the ``respawn_delay`` argument)."""
    path = ROOT / "launch" / name
    text = path.read_text()
    tree = ast.parse(text)
    for arg, default in (("respawn", "false"), ("respawn_delay", "1.0")):
        assert re.search(rf'DeclareLaunchArgument\(\s*"{arg}", default_value="{default}"', text), arg
    assigns = {t.id: n.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
               for t in n.targets if isinstance(t, ast.Name)}
    specs = RESPAWN_FILES[name]
    calls = [c for c in ast.walk(tree) if isinstance(c, ast.Call)    # nodes, and the cloud
             and getattr(c.func, "id", "") in ("Node", "ExecuteProcess")]
    assert sorted(ast.literal_eval(c.keywords[[k.arg for k in c.keywords].index("name")].value)
                  for c in calls) == sorted(s.name for s in specs)
    for call in calls:
        kw = {k.arg: k.value for k in call.keywords}
        node = kw["name"].value
        # respawn="<node>" in restart, restart = respawned(<the respawn argument>, [graph nodes])
        test = kw["respawn"]
        assert isinstance(test, ast.Compare) and isinstance(test.ops[0], ast.In), node
        assert test.left.value == node
        chosen = assigns[test.comparators[0].id]
        assert getattr(chosen.func, "id", "") == "respawned", node
        assert _launch_config(chosen.args[0], assigns) == {"respawn"}
        assert ast.literal_eval(chosen.args[1]) == [s.name for s in specs]
        assert _launch_config(kw["respawn_delay"], assigns) == {"respawn_delay"}, node
    # The file's parser of the respawn argument agrees with the launcher's.
    func = next(f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == "respawned")
    scope: dict = {}
    exec(compile(ast.Module([func], []), str(path), "exec"), scope)
    names = [s.name for s in specs]
    for value in ("true", "all", "false", "", " False ", names[-1], ",".join(reversed(names)),
                  f" {names[0]} , "):
        assert scope["respawned"](value, names) == respawn_names(value, names), value
    with pytest.raises(ValueError, match="bogus"):
        scope["respawned"]("bogus", names)
    with pytest.raises(LaunchError, match="bogus"):
        respawn_names(f"{names[0]},bogus", names)


@pytest.mark.parametrize("path", sorted((ROOT / "launch").glob("*.launch.py")), ids=lambda p: p.name)
def test_every_launch_file_gives_its_nodes_the_transport_of_omni_ros_up(path):
    """The project's transport, or the one the user exported (omni_ros.dds_env.graph_env)."""
    text = path.read_text()
    var, default = dds_env.TRANSPORT_VAR, dds_env.PROJECT_TRANSPORT
    assert re.search(rf'SetEnvironmentVariable\(\s*"{var}",\s*EnvironmentVariable\(\s*"{var}",'
                     rf'\s*default_value="{default}"\)\)', text)
    assert re.search(r"LaunchDescription\(\[\s*TRANSPORT,", text)


def test_graph_table():
    assert [s.name for s in graph(sim=False)] == ["perception", "teleop", "action"]
    assert sorted(s.name for s in graph(sim=True)) == ["action", "perception", "sim_bridge",
                                                       "teleop"]
    for spec in GRAPH:
        if not spec.ros:  # the cloud: omni-ros cloud, no parameter file
            assert (spec.executable, spec.module, spec.args, spec.params_file) == (
                "omni-ros", "omni_ros.cli", (spec.name,), None)
            continue
        assert spec.name == spec.executable and spec.module == f"omni_ros.nodes.{spec.name}"
        assert spec.params_file == f"{spec.name}.yaml"


def test_tiers_split_perception_into_encoder_and_fusion():
    assert [s.name for s in graph(sim=True, tiers=["edge"])] == ["sim_bridge", "encoder"]
    assert [s.name for s in graph(sim=False, tiers=["edge"])] == ["encoder"]
    assert [s.name for s in graph(sim=True, tiers=["region"])] == ["fusion", "teleop", "action"]
    assert [s.name for s in graph(sim=False, tiers=TIERS)] == ["encoder", "fusion", "teleop",
                                                                "action", "cloud"]
    assert [s.name for s in graph(sim=False, tiers=["region"], cloud=True)] == [
        "fusion", "teleop", "action", "cloud_gateway"]
    assert [s.name for s in graph(sim=False, tiers=["cloud"])] == ["cloud"]
    with pytest.raises(LaunchError, match="tier sky: not one of edge, region, cloud"):
        graph(sim=False, tiers=["sky"])


def test_plan_starts_the_cloud_and_points_the_region_gateway_at_it():
    def names_and_overrides(*args, **kw):
        specs, overrides = plan(*args, **kw)
        return [s.name for s in specs], overrides

    default = link.DEFAULT_LISTEN
    assert names_and_overrides(False, ["cloud"]) == (["cloud"], {"cloud": {"listen": [default]}})
    assert names_and_overrides(False, ["cloud"], cloud_listen=["tcp/127.0.0.1:7500"]) == (
        ["cloud"], {"cloud": {"listen": ["tcp/127.0.0.1:7500"]}})
    # a region pointed at a cloud elsewhere: the gateway connects there
    assert names_and_overrides(True, ["region"], cloud=["tcp/10.0.0.5:7447"]) == (
        ["fusion", "teleop", "action", "cloud_gateway"],
        {"cloud_gateway": {"connect": ["tcp/10.0.0.5:7447"]}})
    # everything on one host: the gateway connects to the local cloud
    assert names_and_overrides(True, ["edge", "region", "cloud"]) == (
        ["sim_bridge", "encoder", "fusion", "teleop", "action", "cloud_gateway", "cloud"],
        {"cloud": {"listen": [default]}, "cloud_gateway": {"connect": ["tcp/127.0.0.1:7447"]}})
    assert names_and_overrides(False, ["region", "cloud"],
                               cloud_listen=["tcp/[::]:7500", "tcp/10.0.0.7:7501"])[1] == {
        "cloud": {"listen": ["tcp/[::]:7500", "tcp/10.0.0.7:7501"]},
        "cloud_gateway": {"connect": ["tcp/[::1]:7500", "tcp/10.0.0.7:7501"]}}
    # no cloud given: the region runs no gateway; the one-host graph is unchanged
    assert names_and_overrides(False, ["region"]) == (["fusion", "teleop", "action"], {})
    assert names_and_overrides(False, []) == (["perception", "teleop", "action"], {})
    # the command lines: the cloud is `python -m omni_ros.cli cloud --listen ...` (no ROS
    # arguments, no sim time); the gateway gets connect after its parameter files
    specs, overrides = plan(True, ["region", "cloud"], cloud_listen=["tcp/0.0.0.0:7500"])
    g = Graph(specs, sim_time=True, overrides=overrides)
    assert g.command("cloud") == [sys.executable, "-m", "omni_ros.cli", "cloud",
                                  "--listen", "tcp/0.0.0.0:7500"]
    assert g.command("cloud_gateway")[-4:] == ["-p", "use_sim_time:=true",
                                               "-p", 'connect:=["tcp/127.0.0.1:7500"]']
    assert yaml.safe_load(g.command("cloud_gateway")[-1].split(":=", 1)[1]) == [
        "tcp/127.0.0.1:7500"]
    assert format_options({"listen": ["a", "b"], "no_lexicon": True, "x": False}) == [
        "--listen", "a", "--listen", "b", "--no-lexicon"]


def test_arm_executor_is_an_option_and_with_sim_the_bridge_takes_trajectories():
    """omni-ros up --arm-executor: the node joins the host or region graph; with --sim the
    bridge gets arm_input joint_trajectory (after the other sources, so it is the one driver of
    the arm); dry_run is left to the parameter files (config/arm_executor.yaml: true)."""
    assert "arm_executor" not in [s.name for s in graph(sim=True)]
    specs, overrides = plan(True, arm_executor=True)
    assert [s.name for s in specs] == ["sim_bridge", "perception", "teleop", "action",
                                       "arm_executor"]
    g = Graph(specs, sim_time=True, overrides=overrides)
    assert g.command("sim_bridge")[-4:] == ["-p", "use_sim_time:=true",
                                            "-p", "arm_input:=joint_trajectory"]
    cmd = g.command("arm_executor")
    assert cmd[cmd.index("--params-file") + 1] == str(ROOT / "config" / "arm_executor.yaml")
    assert not [a for a in cmd if a.startswith("dry_run")]
    assert yaml.safe_load((ROOT / "config" / "arm_executor.yaml").read_text())[
        "/arm_executor"]["ros__parameters"]["dry_run"] is True
    specs, overrides = plan(False, arm_executor=True)
    assert [s.name for s in specs][-1] == "arm_executor" and overrides == {}
    specs, overrides = plan(True, ["edge", "region"], arm_executor=True)
    assert "arm_executor" in [s.name for s in specs] and overrides == {
        "sim_bridge": {"arm_input": "joint_trajectory"}}
    with pytest.raises(LaunchError, match="--arm-executor: the arm executor runs with action"):
        plan(True, ["edge"], arm_executor=True)
    with pytest.raises(LaunchError, match="optional node gripper"):
        graph(sim=False, options=["gripper"])


BAD_TIERS = {
    "gateway without a region": (dict(tiers=["edge"], cloud=["tcp/10.0.0.5:7447"]),
                                 "--cloud points the region's cloud_gateway at a cloud"),
    "one-host graph and --cloud": (dict(tiers=[], cloud=["tcp/10.0.0.5:7447"]),
                                   "--cloud points the region's cloud_gateway"),
    "--cloud and a local cloud": (dict(tiers=["region", "cloud"], cloud=["tcp/10.0.0.5:7447"]),
                                  "the cloud runs on this host"),
    "--cloud-listen without the cloud": (dict(tiers=["region"], cloud_listen=["tcp/0.0.0.0:1"]),
                                         "add cloud to --tier"),
    "sim for the cloud alone": (dict(sim=True, tiers=["cloud"]), "runs no ROS nodes"),
    "not an endpoint": (dict(tiers=["region"], cloud=["10.0.0.5:7447"]),
                        "--cloud: '10.0.0.5:7447' is not a Zenoh endpoint"),
    "bad listen endpoint": (dict(tiers=["cloud"], cloud_listen=["7447"]),
                            "--cloud-listen: '7447' is not a Zenoh endpoint"),
    "unknown tier": (dict(tiers=["cloud", "sky"]), "tier sky"),
}


@pytest.mark.parametrize("case", list(BAD_TIERS))
def test_bad_tier_combinations_are_refused(case):
    kw, message = BAD_TIERS[case]
    with pytest.raises(LaunchError, match=re.escape(message)):
        plan(kw.pop("sim", False), **kw)


def test_a_params_file_has_no_section_for_the_cloud_process(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("/cloud:\n  ros__parameters: {listen: x}\n")
    specs, _ = plan(False, ["cloud"])
    with pytest.raises(LaunchError, match="'/cloud' names no node of this graph"):
        Graph(specs, params_file=path)
    path.write_text("/cloud_gateway:\n  ros__parameters: {robot: r1}\n")
    assert Graph(specs, params_file=path).unused_sections == ["/cloud_gateway"]


def _launch_functions(*names):
    path = ROOT / "launch" / "tiers.launch.py"
    tree = ast.parse(path.read_text())
    scope: dict = {}
    funcs = [f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name in names]
    exec(compile(ast.Module(funcs, []), str(path), "exec"), scope)
    return [scope[n] for n in names], tree


def test_tiers_launch_file_mirrors_the_cloud_tier():
    """tier:=cloud runs omni-ros cloud (ExecuteProcess, cloud_listen); cloud:=ENDPOINT (or the
    cloud in the same launch) adds cloud_gateway to the region with connect after the other
    parameter sources, as omni-ros up does."""
    (endpoints, local), tree = _launch_functions("endpoints", "local")
    text = (ROOT / "launch" / "tiers.launch.py").read_text()
    for arg in ("tier", "cloud", "cloud_listen"):
        assert re.search(rf'DeclareLaunchArgument\(\s*"{arg}"', text), arg
    assert re.search(r'DEFAULT_LISTEN = "([^"]+)"', text).group(1) == link.DEFAULT_LISTEN
    assert re.search(r'TIERS = \(([^)]*)\)', text).group(1) == ", ".join(f'"{t}"' for t in TIERS)
    for listen in ("tcp/0.0.0.0:7447", "tcp/[::]:7500", "tcp/10.0.0.7:7501", "udp/0.0.0.0:1"):
        assert local(listen) == link.local_endpoint(listen)
    assert endpoints(" tcp/10.0.0.5:7447 , tcp/10.0.0.6:7447") == ["tcp/10.0.0.5:7447",
                                                                   "tcp/10.0.0.6:7447"]
    with pytest.raises(ValueError, match="not a Zenoh endpoint"):
        endpoints("10.0.0.5:7447")
    gateway = launch_nodes(ROOT / "launch" / "tiers.launch.py")["cloud_gateway"]
    assert gateway["parameters"][:3] == ["default:cloud_gateway.yaml", "user", "use_sim_time"]
    assert gateway["parameters"][3] == "[{'connect': gateway}]"
    cloud = next(c for c in ast.walk(tree) if isinstance(c, ast.Call)
                 and getattr(c.func, "id", "") == "ExecuteProcess")
    cmd = ast.unparse(next(k.value for k in cloud.keywords if k.arg == "cmd"))
    assert '"omni_ros.cli", "cloud"' in cmd.replace("'", '"') and "--listen" in cmd


def test_every_graph_node_is_a_console_script():
    """setup.py's NODES lists every node of the graph with the module the launcher runs (the
    cloud: the omni-ros console script)."""
    nodes = setup_nodes()
    for spec in GRAPH:
        if not spec.ros:
            assert f'"{spec.executable} = {spec.module}:main"' in (ROOT / "setup.py").read_text()
            continue
        assert nodes.get(spec.executable) == spec.module, f"{spec.executable} not in setup.py NODES"


def test_every_graph_node_has_its_parameter_file():
    for spec in [s for s in GRAPH if s.ros]:
        path = ROOT / "config" / spec.params_file
        assert path.is_file(), f"config/{spec.params_file} is missing"
        assert list(yaml.safe_load(path.read_text())) == [f"/{spec.name}"], path.name


# -- command lines, parameter files, config resolution (no processes) ------------------------


def test_command_line_of_a_node_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # config files come from the package, never the cwd
    (tmp_path / "mine.yaml").write_text("/sim_bridge:\n  ros__parameters:\n    seed: 7\n")
    bridge = [s for s in graph(sim=True) if s.name == "sim_bridge"]
    g = Graph(bridge, params_file="mine.yaml", sim_time=True,
              overrides={"sim_bridge": {"seed": 3, "real_time_factor": 0.0}})
    assert g.command("sim_bridge") == [
        sys.executable, "-m", "omni_ros.nodes.sim_bridge", "--ros-args",
        "-r", "__node:=sim_bridge",
        "--params-file", str(ROOT / "config" / "sim_bridge.yaml"),
        "--params-file", str(tmp_path / "mine.yaml"),
        "-p", "use_sim_time:=true", "-p", "seed:=3", "-p", "real_time_factor:=0.0"]
    plain = Graph(bridge).command("sim_bridge")
    assert plain[-2:] == ["--params-file", str(ROOT / "config" / "sim_bridge.yaml")]
    assert config_dirs()[0] == ROOT / "config"


def test_parameter_values_are_formatted_as_rcl_reads_them():
    assert format_param(True) == "true" and format_param(False) == "false"
    assert format_param(3) == "3" and format_param(0.5) == "0.5" and format_param(1e-5) == "1e-05"
    assert format_param([0.6, -0.2]) == "[0.6, -0.2]"
    assert format_param("red cube") == "red cube"
    assert format_param("true") == '"true"' and format_param("12") == '"12"'
    assert format_param("") == '""'


BAD_PARAMS = {
    "missing": (None, "does not exist"),
    "not yaml": ("/perception: [unclosed\n", "not valid YAML"),
    "empty": ("", "must map node names"),
    "a list": ("- 1\n- 2\n", "must map node names"),
    "unknown node": ("/percepton:\n  ros__parameters: {rate_hz: 5}\n",
                     "'/percepton' names no node of this graph; expected one of /perception, "
                     "/teleop, /action, /sim_bridge, /encoder, /fusion, /arm_executor, "
                     "/cloud_gateway or /**"),
    "no ros__parameters": ("/teleop:\n  rate_hz: 5\n", "ros__parameters"),
    "parameters not a mapping": ("/teleop:\n  ros__parameters: [1]\n", "must be a mapping"),
}


@pytest.mark.parametrize("case", list(BAD_PARAMS))
def test_a_bad_params_file_is_refused_before_anything_starts(case, tmp_path):
    text, message = BAD_PARAMS[case]
    path = tmp_path / "params.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(LaunchError, match=re.escape(message)):
        Graph(graph(sim=False), params_file=path)


def test_a_good_params_file_is_accepted(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("/**:\n  ros__parameters: {qos: reliable}\n"
                    "/perception:\n  ros__parameters: {rate_hz: 5.0}\n"
                    "/sim_bridge:\n  ros__parameters: {seed: 4}\n")
    names = [s.name for s in graph(sim=True)]
    assert load_user_params(path, names) == (path.resolve(), [])
    # one file for both ways: without --sim the bridge's section is allowed and reported unused
    names = [s.name for s in graph(sim=False)]
    assert load_user_params(path, names, ["sim_bridge"]) == (path.resolve(), ["/sim_bridge"])
    monitor = NodeSpec("sensor_monitor", "sensor_monitor", "omni_ros.nodes.sensor_monitor",
                       "sensor_monitor.yaml")
    assert Graph([monitor], params_file=path).unused_sections == ["/perception", "/sim_bridge"]
    with pytest.raises(LaunchError, match="overrides for"):
        Graph(graph(sim=False), overrides={"sim_bridge": {"seed": 1}})


def test_up_help_and_a_bad_params_file_through_the_cli(tmp_path):
    out = run_py("-m", "omni_ros.cli", "up", "--help", timeout=60)
    assert out.returncode == 0, out.stderr
    for flag in ("--sim", "--params", "--seed", "--real-time-factor", "--respawn",
                 "--respawn-delay", "--respawn-max-delay", "--respawn-limit", "--tier",
                 "--cloud", "--cloud-listen"):
        assert flag in out.stdout
    out = run_py("-m", "omni_ros.cli", "up", "--params", str(tmp_path / "nope.yaml"), timeout=60)
    assert out.returncode == 2
    assert "omni-ros up: error: --params:" in out.stderr and "does not exist" in out.stderr
    assert "started" not in out.stdout
    out = run_py("-m", "omni_ros.cli", "up", "--seed", "3", timeout=60)
    assert out.returncode == 2 and "add --sim" in out.stderr
    out = run_py("-m", "omni_ros.cli", "up", "--respawn", "perception,sim_bridge", timeout=60)
    assert out.returncode == 2 and "respawn: sim_bridge: not a node of this graph" in out.stderr
    for args, message in ((["--tier", "edge", "--cloud", "tcp/10.0.0.5:7447"],
                           "--cloud points the region's cloud_gateway at a cloud"),
                          (["--tier", "region", "--cloud-listen", "tcp/0.0.0.0:7447"],
                           "add cloud to --tier"),
                          (["--tier", "cloud", "--sim"], "runs no ROS nodes"),
                          (["--tier", "cloud", "--respawn", "teleop"],
                           "respawn: teleop: not a node of this graph (cloud)")):
        out = run_py("-m", "omni_ros.cli", "up", *args, timeout=60)
        assert out.returncode == 2 and message in out.stderr, (args, out.stderr)
        assert "started" not in out.stdout


@pytest.mark.timeout(600)
def test_up_tier_cloud_runs_the_cloud_under_the_launcher_and_stops_on_ctrl_c():
    """`omni-ros up --tier cloud`: the cloud process, its output prefixed, answering status over
    Zenoh (its language model loads in the background); SIGINT stops it with exit code 0."""
    from test_cloud import _ask, _wait, free_port

    endpoint = f"tcp/127.0.0.1:{free_port()}"
    proc = subprocess.Popen([sys.executable, "-m", "omni_ros.cli", "up", "--tier", "cloud",
                             "--cloud-listen", endpoint, "--respawn"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")))
    reader.start()
    peer = link.open_gateway([endpoint])
    try:
        until(lambda: any(ln.startswith(f"[cloud] cloud: listening on {endpoint}")
                          for ln in lines) or proc.poll() is not None, 300, "no listening")
        assert proc.poll() is None, "".join(lines)
        assert _wait(lambda: link.connected(peer), 60), "".join(lines)
        status = _ask(peer, "status")
        assert status["robots"] == [] and status["lexicon"]["state"] in ("loading", "ready")
        # ready: a command is mapped (the same process the launcher supervises)
        assert _wait(lambda: _ask(peer, "status")["lexicon"]["state"] == "ready", 300, 0.5), \
            _ask(peer, "status")
        assert _ask(peer, "command", text="fetch the azure orb")["command"]["shape"] == "sphere"
        proc.send_signal(signal.SIGINT)  # the terminal's Ctrl-C
        try:
            code = proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            pytest.fail("omni-ros up did not exit 90 s after SIGINT:\n" + "".join(lines))
        assert code == 0, "".join(lines)
    finally:
        peer.close()
        if proc.poll() is None:
            proc.kill()
        reader.join(timeout=10)
    text = "".join(lines)
    assert "[up] respawn: cloud" in text
    assert "[up] started cloud (pid " in text and "-m omni_ros.cli cloud --listen" in text
    assert "[up] all nodes stopped" in text
    assert all(ln.startswith("[") for ln in lines), text


# -- real processes -------------------------------------------------------------------------
# Generic specs of existing nodes, so this runs whatever the graph's nodes are.

MONITOR = NodeSpec("sensor_monitor", "sensor_monitor", "omni_ros.nodes.sensor_monitor",
                   "sensor_monitor.yaml")
TALKER = NodeSpec("demo_talker", "demo_talker", "omni_ros.nodes.demo_talker", None)
QUIET = {"sensor_monitor": {"report_period_s": 0.3},       # logs a table: "it is spinning"
         "demo_talker": {"duration_s": 0.0, "rate_scale": 0.05}}


def wait_for(g: Graph, name: str, text: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in line for line in g.lines(name)):
        codes = g.poll()
        assert codes.get(name) is None, f"{name} exited with {codes[name]}: {g.lines()}"
        assert time.monotonic() < deadline, f"no {text!r} from {name}: {g.lines()}"
        time.sleep(0.05)


@pytest.mark.ros
def test_sigint_stops_every_node_cleanly_and_output_is_prefixed():
    out = io.StringIO()
    with Graph([MONITOR, TALKER], overrides=QUIET, capture=True, out=out) as g:
        g.start()
        assert g.poll() == {"sensor_monitor": None, "demo_talker": None}
        wait_for(g, "demo_talker", "publishing after")
        wait_for(g, "sensor_monitor", "/camera/color/image_raw")
        assert g.stop(timeout=60) == {"sensor_monitor": 0, "demo_talker": 0}
    text = out.getvalue()
    assert "[launcher] started sensor_monitor (pid " in text
    assert "[demo_talker] [INFO]" in text and "[sensor_monitor] topic " in text
    assert all(line.startswith("[") for line in text.splitlines())


@pytest.mark.ros
def test_ctrl_c_on_run_until_exit_returns_0_after_a_clean_shutdown():
    script = ("import sys\n"
              "from omni_ros.launcher import Graph, NodeSpec\n"
              f"specs = [{MONITOR!r}, {TALKER!r}]\n"
              f"sys.exit(Graph(specs, overrides={QUIET!r}, tag='up').run_until_exit())\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")))
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not (any("[demo_talker]" in ln and "publishing after" in ln for ln in lines)
                   and any(ln.startswith("[sensor_monitor] /camera") for ln in lines)):
            assert proc.poll() is None and time.monotonic() < deadline, "".join(lines)
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)  # the terminal's Ctrl-C reaches the launcher only
        try:
            code = proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            pytest.fail("the launcher did not exit 90 s after SIGINT:\n" + "".join(lines))
        assert code == 0, "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(timeout=10)
    text = "".join(lines)
    assert "[up] interrupted; stopping the graph" in text and "[up] all nodes stopped" in text
    assert "[sensor_monitor] topic " in text  # its exit report: it shut down, was not killed


@pytest.mark.ros
def test_a_node_failing_stops_the_graph_with_its_exit_code():
    overrides = {**QUIET, "sensor_monitor": {"qos": "bogus"}}  # exit code 2: bad parameters
    g = Graph([TALKER, MONITOR], overrides=overrides, capture=True, out=io.StringIO())
    assert g.run_until_exit(stop_timeout=60) == 2     # (a hang would hit pytest's timeout)
    codes = g.poll()
    assert codes["sensor_monitor"] == 2 and codes["demo_talker"] in CLEAN_STOP_CODES
    assert any("invalid parameters" in ln and "qos" in ln for ln in g.lines("sensor_monitor"))
    assert ("sensor_monitor exited with code 2 (invalid parameters, see its output above); "
            "stopping the graph") in g.lines("launcher")


@pytest.mark.ros
def test_a_node_finishing_by_itself_stops_the_graph_with_0():
    overrides = {"sensor_monitor": {}, "demo_talker": {"duration_s": 0.5, "rate_scale": 0.05}}
    g = Graph([MONITOR, TALKER], overrides=overrides, capture=True, out=io.StringIO())
    assert g.run_until_exit(stop_timeout=60) == 0, g.lines()
    assert g.poll() == {"sensor_monitor": 0, "demo_talker": 0}
    assert "demo_talker finished (exit code 0); stopping the graph" in g.lines("launcher")


STUBBORN = """
import signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
if "__node:=deaf" in sys.argv:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(60)
"""


def test_nodes_that_ignore_sigint_are_terminated_then_killed(tmp_path):
    (tmp_path / "stubborn_node.py").write_text(STUBBORN)
    specs = [NodeSpec("stubborn", "stubborn", "stubborn_node", None),
             NodeSpec("deaf", "deaf", "stubborn_node", None)]
    g = Graph(specs, capture=True, out=io.StringIO(), env={"PYTHONPATH": str(tmp_path)})
    g.start()
    for name in ("stubborn", "deaf"):
        wait_for(g, name, "ready")
    assert g.stop(timeout=0.3, term_timeout=0.3) == {"stubborn": -signal.SIGTERM,
                                                     "deaf": -signal.SIGKILL}
    said = g.lines("launcher")
    assert "still running 0.3 s after SIGINT: stubborn, deaf; SIGTERM" in said
    assert "killing deaf" in said
    assert not os.path.exists(f"/proc/{g.procs['deaf'].pid}")


# -- respawn: the supervisor restarts dead nodes with back-off (plain processes, no ROS) ------

CRASHY = """
import os, sys, time
print("up", os.getpid(), flush=True)
if "__node:=crashy" in sys.argv:
    sys.exit(3)
time.sleep(600)
"""


def until(condition, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_respawn_policy_backs_off_exponentially_to_its_cap():
    p = RespawnPolicy(delay_s=1.0, max_delay_s=10.0)
    assert [p.delay(k) for k in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    with pytest.raises(LaunchError, match="respawn delay"):
        RespawnPolicy(delay_s=0.0)
    with pytest.raises(LaunchError, match="max_restarts"):
        RespawnPolicy(max_restarts=0)
    with pytest.raises(LaunchError, match="respawn for"):
        Graph(graph(sim=False), respawn=["sim_bridge"])
    assert respawn_names("perception, teleop", [s.name for s in graph(sim=False)]) == [
        "perception", "teleop"]


def test_a_respawning_node_is_restarted_with_back_off_then_given_up(tmp_path):
    """The dead node is restarted after 0.2, 0.4, then 0.5 s (the cap), each restart logged with
    its exit code, while the other node keeps running; after 3 restarts it is given up and the
    graph stops with its exit code, as without respawn."""
    (tmp_path / "crashy_node.py").write_text(CRASHY)
    specs = [NodeSpec("crashy", "crashy", "crashy_node", None),
             NodeSpec("steady", "steady", "crashy_node", None)]
    policy = RespawnPolicy(delay_s=0.2, max_delay_s=0.5, max_restarts=3, window_s=120)
    g = Graph(specs, capture=True, out=io.StringIO(), env={"PYTHONPATH": str(tmp_path)},
              respawn=["crashy"], respawn_policy=policy)
    assert g.run_until_exit(stop_timeout=30) == 3, g.lines()
    restarts = g.restarts["crashy"]
    assert [r.delay_s for r in restarts] == [0.2, 0.4, 0.5]
    assert all(r.code == 3 and r.started_s - r.died_s >= r.delay_s for r in restarts)
    assert len({r.pid for r in restarts}) == 3 and g.gave_up == {"crashy": 3}
    assert [i for _, i, text in g.timed_lines("crashy") if text.startswith("up")] == [0, 1, 2, 3]
    # The other node ran through all of it: one process, stopped at the end.
    assert {i for _, i, _ in g.timed_lines("steady")} == {0} and g.restarts["steady"] == []
    assert g.poll()["steady"] in CLEAN_STOP_CODES
    said = g.lines("launcher")
    assert "respawn: crashy" in said
    assert ("crashy exited with code 3; restarting it in 0.2 s (restart 1, at most 3 within "
            "120 s)") in said
    assert f"restarted crashy (pid {restarts[0].pid})" in said
    assert "crashy exited with code 3 after 3 restarts within 120 s: giving up on it" in said
    assert "crashy exited with code 3; stopping the graph" in said


def test_kill_a_node_and_time_its_restart_back_off_resets_after_it_stayed_up(tmp_path):
    """What a reliability bench does: kill a node, read the restart record and the new
    process's first output line; a quick second death doubles the back-off, a death after
    ``reset_after_s`` of uptime starts it over."""
    (tmp_path / "crashy_node.py").write_text(CRASHY)
    policy = RespawnPolicy(delay_s=0.3, max_delay_s=5.0, reset_after_s=8.0)
    with Graph([NodeSpec("sleepy", "sleepy", "crashy_node", None)], capture=True,
               out=io.StringIO(), env={"PYTHONPATH": str(tmp_path)}, respawn=["sleepy"],
               respawn_policy=policy) as g:
        g.start()

        def first_line(incarnation):
            return next((t for t, i, _ in g.timed_lines("sleepy") if i == incarnation), None)

        until(lambda: first_line(0) is not None, what=str(g.lines()))
        delays = []
        for k in (1, 2, 3):
            if k == 3:  # up longer than reset_after_s before this death
                until(lambda: time.monotonic() - g.restarts["sleepy"][-1].started_s > 8.1)
            sent = g.kill("sleepy")
            until(lambda: first_line(k) is not None, what=str(g.lines()))
            r = g.restarts["sleepy"][-1]
            assert r.code == -signal.SIGKILL and r.died_s >= sent
            assert r.started_s - sent >= r.delay_s and first_line(k) >= r.started_s
            delays.append(r.delay_s)
        # the second death comes right after the first restart (well within reset_after_s, even
        # on a loaded machine: what the launcher measured decides), the third after 8.1 s up
        rs = g.restarts["sleepy"]
        assert rs[1].died_s - rs[0].started_s < policy.reset_after_s, "second death not quick"
        assert delays == [0.3, 0.6, 0.3]
        assert g.poll() == {"sleepy": None} and g.procs["sleepy"].pid == r.pid
        said = g.lines("launcher")
        assert ("sleepy exited with code -9 (killed by SIGKILL); restarting it in 0.3 s "
                "(restart 1, at most 5 within 300 s)") in said
    assert g.poll()["sleepy"] in CLEAN_STOP_CODES
    assert len(g.restarts["sleepy"]) == 3   # stopping the graph restarts nothing


def test_tiers_launch_file_mirrors_arm_executor_on_the_region():
    """arm_executor:=true adds the executor to the region, with the parameter sources omni-ros
    up gives it; with the sim's edge in the same launch the bridge takes trajectories; an edge
    alone is refused with the launcher's advice."""
    nodes = launch_nodes(ROOT / "launch" / "tiers.launch.py")
    specs, overrides = plan(True, ["edge", "region"], arm_executor=True)
    for name in ("sim_bridge", "arm_executor"):
        spec = next(s for s in specs if s.name == name)
        assert nodes[name]["parameters"] == [f"default:{spec.params_file}", "user",
                                             "use_sim_time"] + list(overrides.get(name, {})), name
    text = (ROOT / "launch" / "tiers.launch.py").read_text()
    assert re.search(r'DeclareLaunchArgument\(\s*"arm_executor", default_value="false"', text)
    assert re.search(r'if executor and "region" not in tiers:\s*raise ValueError\(\s*"arm_executor'
                     r':=true: the arm executor runs with action', text)
    with pytest.raises(LaunchError, match="the arm executor runs with action"):
        plan(True, ["edge"], arm_executor=True)
