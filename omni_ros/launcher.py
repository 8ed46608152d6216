"""Start the omni_ros node graph as separate processes, without ROS 2's ``launch``.

There are no ``launch``/``launch_ros`` wheels, so on a pip-only install ``omni-ros up`` starts
the graph with this module; on a ROS 2 install ``ros2 launch omni_ros omni_ros.launch.py`` (or
``sim_demo.launch.py``) starts the same nodes with the same parameter files. :data:`GRAPH` is
the one table of the graph's processes; ``tests/test_launch.py`` checks the launch files against
it.

The tiered graph (:data:`TIERS`): ``edge`` (sensor hosts: the encoder, with sim the sim bridge),
``region`` (fusion, teleop, action; with a cloud also ``cloud_gateway``) and ``cloud`` (the
``omni-ros cloud`` process: a Zenoh router without ROS, started and supervised like a node).
:func:`plan` turns ``omni-ros up``'s tier flags into the processes and their overrides: the
region's ``cloud_gateway`` is started when the region is given a cloud (``--cloud ENDPOINT``,
its ``connect``) or when the cloud tier runs on the same host (it then connects to the local
cloud's ``--cloud-listen`` endpoints); combinations that make no sense raise
:class:`LaunchError`.

Each node runs as ``<python> -m <module> --ros-args -r __node:=<name> --params-file
<config>/<name>.yaml [--params-file USER_FILE] [-p use_sim_time:=true] [-p key:=value ...]``
(a process that is not a ROS node, the cloud, as ``<python> -m <module> <args> [--key value
...]``: its overrides are command-line options) in its own process group, so a Ctrl-C in the terminal reaches only the launcher, which then
stops the nodes in order: SIGINT to every node, a wait, then SIGTERM and finally SIGKILL for any
that are still running. rcl applies parameter sources in command-line order, later wins: the
package defaults, then the user's file, then sim time, then the per-node overrides.

A node that dies stops the graph, unless it is started with respawn (:class:`RespawnPolicy`):
then it is restarted with the same command line after an exponential back-off while the rest of
the graph keeps running, and every restart is logged with the dead node's exit code.

Parameter files are resolved against the installed package, never the working directory (as
models are in :mod:`omni_ros.core.model.checkpoint`): first the source checkout's ``config/`` (this is
where an editable ``pip install -e .`` finds them, since it installs no data files), then
``share/omni_ros/config`` under every prefix on ``AMENT_PREFIX_PATH`` (a colcon workspace or a
ROS 2 install) and under ``sys.prefix`` (a regular ``pip install .``, where setup.py's
data_files put them). The first directory holding the file wins.

This module is plain Python (no rclpy): it only builds command lines and manages processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, TextIO

import yaml

from . import dds_env

PACKAGE = "omni_ros"


@dataclass(frozen=True)
class NodeSpec:
    """One process of the graph: its ROS node name (also the process's label), the console
    script a ROS install runs, the Python module run here with ``-m``, and its parameter file (a
    name in the package's ``config/`` folder, or an absolute path; None = no file). ``ros``:
    False for a process that is not a ROS node (no --ros-args, parameter files or sim time; run
    as ``-m module *args``, its overrides as ``--key value`` options)."""

    name: str
    executable: str
    module: str
    params_file: str | None
    sim_only: bool = False  # started only with sim (``--sim``, sim_demo.launch.py)
    tiers: tuple[str, ...] = ("host",)  # the layouts it runs in (see TIERS)
    with_cloud: bool = False  # started only when the region is given a cloud (see plan())
    ros: bool = True
    args: tuple[str, ...] = ()  # ros=False: the module's arguments before the options
    option: str = ""  # started only when asked for (graph()'s options; e.g. --arm-executor)


# Where a node runs: "host" is the one-host graph (perception does everything); the tiered graph
# splits it into "edge" (sensor hosts: the sim or the robot's drivers and an encoder per
# modality or host, latents out), "region" (fusion, teleop and action, latents in; the
# cloud_gateway when given a cloud) and "cloud" (omni-ros cloud: the fleet's Zenoh router).
TIERS = ("edge", "region", "cloud")

# The graph: node name = executable name = console script in setup.py's NODES (the cloud: the
# omni-ros console script's `cloud` subcommand).
GRAPH: tuple[NodeSpec, ...] = (
    NodeSpec("sim_bridge", "sim_bridge", "omni_ros.nodes.sim_bridge", "sim_bridge.yaml",
             sim_only=True, tiers=("host", "edge")),
    NodeSpec("perception", "perception", "omni_ros.nodes.perception", "perception.yaml"),
    NodeSpec("encoder", "encoder", "omni_ros.nodes.encoder", "encoder.yaml", tiers=("edge",)),
    NodeSpec("fusion", "fusion", "omni_ros.nodes.fusion", "fusion.yaml", tiers=("region",)),
    NodeSpec("teleop", "teleop", "omni_ros.nodes.teleop", "teleop.yaml",
             tiers=("host", "region")),
    NodeSpec("action", "action", "omni_ros.nodes.action", "action.yaml",
             tiers=("host", "region")),
    # PrimitiveCommand -> JointTrajectory for a joint_trajectory_controller (--arm-executor,
    # arm_executor:=true); with sim the bridge then takes trajectories (ARM_EXECUTOR_SIM)
    NodeSpec("arm_executor", "arm_executor", "omni_ros.nodes.arm_executor", "arm_executor.yaml",
             tiers=("host", "region"), option="arm_executor"),
    NodeSpec("cloud_gateway", "cloud_gateway", "omni_ros.nodes.cloud_gateway",
             "cloud_gateway.yaml", tiers=("region",), with_cloud=True),
    NodeSpec("cloud", "omni-ros", "omni_ros.cli", None, tiers=("cloud",), ros=False,
             args=("cloud",)),
)

# With the arm executor in the sim graph the bridge's arm follows JointTrajectory messages (the
# executor's) instead of executing PrimitiveCommands itself: one driver of the arm.
ARM_EXECUTOR_SIM = {"sim_bridge": {"arm_input": "joint_trajectory"}}
OPTIONS = ("arm_executor",)

# Exit codes after our SIGINT that count as a clean stop: 0 (the node shut down), or killed by
# the SIGINT itself (it arrived before rclpy installed its handler, e.g. during imports).
CLEAN_STOP_CODES = (0, -signal.SIGINT)


@dataclass(frozen=True)
class RespawnPolicy:
    """How the launcher restarts a node that died (a non-zero exit code or a signal; a node that
    finishes by itself with 0 ends the graph, respawn or not). Seconds.

    The first restart comes ``delay_s`` after the death, each next one waits twice as long, up
    to ``max_delay_s``; a node that had stayed up ``reset_after_s`` before dying starts again
    from ``delay_s``. A node that died ``max_restarts`` times within ``window_s`` after as many
    restarts is given up: it then counts as failed, as without respawn (``omni-ros up`` stops
    the graph with exit code 1)."""

    delay_s: float = 1.0
    max_delay_s: float = 30.0
    reset_after_s: float = 60.0
    max_restarts: int = 5
    window_s: float = 300.0

    def __post_init__(self):
        if not 0 < self.delay_s <= self.max_delay_s:
            raise LaunchError(f"respawn delay {self.delay_s:g} s: must be > 0 and <= the "
                              f"largest delay ({self.max_delay_s:g} s)")
        if self.max_restarts < 1 or self.window_s <= 0 or self.reset_after_s <= 0:
            raise LaunchError(f"respawn: max_restarts ({self.max_restarts}), window_s "
                              f"({self.window_s:g}) and reset_after_s ({self.reset_after_s:g}) "
                              f"must be > 0")

    def delay(self, streak: int) -> float:
        """Back-off before restart number ``streak`` + 1 of a run of quick deaths [s]."""
        return min(self.delay_s * 2.0 ** streak, self.max_delay_s)


@dataclass
class Restart:
    """One restart of a node, in ``time.monotonic()`` seconds (for benches): when the launcher
    saw the node dead and its exit code, the back-off it waited, and when the new process
    started (with its pid; None until then)."""

    died_s: float
    code: int
    delay_s: float
    started_s: float | None = None
    pid: int | None = None


def respawn_names(value: str, names: Iterable[str]) -> list[str]:
    """The nodes ``--respawn`` / ``respawn:=`` asks for, in graph order: ``all`` or ``true``
    (every node), ``false`` or empty (none), or node names separated by commas. Raises
    :class:`LaunchError` for a name that is not in ``names``. (The launch files parse their
    ``respawn`` argument the same way; ``tests/test_launch.py`` checks that they agree.)"""
    names = list(names)
    text = value.strip()
    if text.lower() in ("all", "true"):
        return names
    if text.lower() in ("", "false"):
        return []
    chosen = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in names]
    if unknown:
        raise LaunchError(f"respawn: {', '.join(unknown)}: not a node of this graph "
                          f"({', '.join(names)})")
    return [n for n in names if n in chosen]


class LaunchError(Exception):
    """The graph cannot be started as asked (bad parameter file, unknown node, missing config);
    the message says what and how to fix it. Raised before any process starts."""


def graph(sim: bool, tiers: Iterable[str] = (), cloud: bool = False,
          options: Iterable[str] = ()) -> list[NodeSpec]:
    """The graph's nodes: perception, teleop and action; with ``sim`` also the sim bridge;
    ``options`` (of :data:`OPTIONS`): the optional nodes asked for (``arm_executor``).
    ``tiers`` (of :data:`TIERS`): the nodes of those tiers instead (edge: the sim bridge with
    ``sim`` and the encoder; region: fusion, teleop and action, with ``cloud`` also the
    cloud_gateway; cloud: the omni-ros cloud process; several: those tiers on one host). Raises
    :class:`LaunchError` for an unknown tier."""
    tiers = list(tiers)
    unknown = [t for t in tiers if t not in TIERS]
    if unknown:
        raise LaunchError(f"tier {', '.join(unknown)}: not one of {', '.join(TIERS)}")
    options = list(options)
    unknown = [o for o in options if o not in OPTIONS]
    if unknown:
        raise LaunchError(f"optional node {', '.join(unknown)}: not one of {', '.join(OPTIONS)}")
    wanted = set(tiers or ["host"])
    return [s for s in GRAPH if (sim or not s.sim_only) and (cloud or not s.with_cloud)
            and (not s.option or s.option in options) and wanted & set(s.tiers)]


def plan(sim: bool, tiers: Iterable[str] = (), cloud: Iterable[str] = (),
         cloud_listen: Iterable[str] = (), arm_executor: bool = False,
         ) -> tuple[list[NodeSpec], dict[str, dict[str, Any]]]:
    """The processes ``omni-ros up`` starts and their overrides, from its flags: ``tiers``
    (``--tier``), ``cloud`` (``--cloud``: Zenoh endpoints of a cloud elsewhere, for the region's
    cloud_gateway) and ``cloud_listen`` (``--cloud-listen``: where this host's cloud listens;
    default :data:`omni_ros.cloud.link.DEFAULT_LISTEN`). The region runs cloud_gateway when it
    is given a cloud: ``--cloud``, or the cloud tier on this host (then it connects to that
    cloud's endpoints, a wildcard address as the loopback one). Raises :class:`LaunchError` for
    combinations that make no sense (say which and what to do instead).

    ``arm_executor`` (``--arm-executor``): also the arm_executor node (host or region tier);
    with ``sim`` the bridge's ``arm_input`` is then ``joint_trajectory`` (:data:`ARM_EXECUTOR_SIM`),
    so primitives reach the arm only through the executor. Its ``dry_run`` comes from the
    parameter files (true unless the user's says false), with or without sim."""
    from .cloud.link import DEFAULT_LISTEN, check_endpoint, local_endpoint

    tiers, cloud, listen = list(tiers), list(cloud), list(cloud_listen)
    chosen = graph(sim, tiers)  # an unknown tier first
    if arm_executor and not any(s.name == "arm_executor"
                                for s in graph(sim, tiers, options=OPTIONS)):
        raise LaunchError("--arm-executor: the arm executor runs with action (the one-host "
                          "graph or --tier region); on an edge host set the bridge's arm_input "
                          "to joint_trajectory in --params instead")
    if cloud and "region" not in tiers:
        raise LaunchError("--cloud points the region's cloud_gateway at a cloud: start the "
                          "region on this host (--tier region, or edge,region)")
    if cloud and "cloud" in tiers:
        raise LaunchError("--cloud: the cloud runs on this host (--tier ...,cloud) and the "
                          "region's gateway connects to it; set where it listens with "
                          "--cloud-listen, or leave cloud out of --tier to use another cloud")
    if listen and "cloud" not in tiers:
        raise LaunchError("--cloud-listen sets where this host's cloud listens: add cloud to "
                          "--tier (e.g. --tier cloud); for a cloud elsewhere use --cloud")
    if sim and not any(s.ros for s in chosen):
        raise LaunchError("--sim: the cloud tier runs no ROS nodes (no sim bridge, no sim "
                          "time): start it without --sim, or add edge / region to --tier")
    for flag, endpoints in (("--cloud", cloud), ("--cloud-listen", listen)):
        for endpoint in endpoints:
            try:
                check_endpoint(endpoint)
            except ValueError as err:
                raise LaunchError(f"{flag}: {err}") from None
    gateway = bool(cloud) or ("region" in tiers and "cloud" in tiers)
    overrides: dict[str, dict[str, Any]] = {}
    if "cloud" in tiers:
        listen = listen or [DEFAULT_LISTEN]
        overrides["cloud"] = {"listen": listen}
    if gateway:
        overrides["cloud_gateway"] = {"connect": cloud or [local_endpoint(e) for e in listen]}
    if arm_executor and sim and any(s.name == "sim_bridge" for s in chosen):
        for node, values in ARM_EXECUTOR_SIM.items():
            overrides.setdefault(node, {}).update(values)
    return graph(sim, tiers, cloud=gateway,
                 options=["arm_executor"] if arm_executor else []), overrides


def config_dirs() -> list[Path]:
    """Where parameter files are looked up, in order (see the module docstring)."""
    here = Path(__file__).resolve().parents[1] / "config"          # source / editable install
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    shares = [Path(p) / "share" / PACKAGE / "config" for p in prefixes + [sys.prefix]]
    return list(dict.fromkeys([here] + shares))


def resolve_config(name: str | Path) -> Path:
    """The package's parameter file ``name`` (e.g. ``perception.yaml``); an absolute path is
    used as is. Raises :class:`LaunchError` naming the directories searched."""
    p = Path(name)
    if p.is_absolute():
        if p.is_file():
            return p
        raise LaunchError(f"parameter file {p} not found")
    for d in config_dirs():
        if (d / p).is_file():
            return d / p
    raise LaunchError(f"parameter file {str(p)!r} not found in {[str(d) for d in config_dirs()]}"
                      " - is omni_ros installed (pip install -e . / colcon build)?")


def section_keys(node: str) -> tuple[str, ...]:
    """Top-level keys of a ROS parameter file that address ``node`` (in the root namespace)."""
    return (f"/{node}", node, f"/**/{node}")


WILDCARD_KEYS = ("/**", "/*")


def load_user_params(path: str | Path, nodes: Iterable[str],
                     others: Iterable[str] = ()) -> tuple[Path, list[str]]:
    """Check a user parameter file for the graph ``nodes``; return its absolute path and the
    sections it holds for ``others`` (known nodes not started this time, e.g. the sim bridge
    without sim: rcl ignores them, as ``ros2 launch`` would).

    It must exist, parse as YAML, and be a mapping of sections ``/<node>:`` (or ``/**:`` for
    every node), each holding a ``ros__parameters:`` mapping; every section must name one of
    ``nodes`` or ``others`` (a typo is refused, not silently ignored). Raises
    :class:`LaunchError` with the reason otherwise.
    """
    p = Path(path).expanduser().resolve()  # relative to the working directory, as typed
    if not p.is_file():
        raise LaunchError(f"--params: {path} does not exist")
    try:
        tree = yaml.safe_load(p.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise LaunchError(f"--params: {path} is not valid YAML: {err}") from None
    nodes, others = list(nodes), [n for n in others if n not in nodes]
    if not isinstance(tree, dict) or not tree:
        example = f"/{nodes[0] if nodes else 'node'}: {{ros__parameters: {{name: value}}}}"
        raise LaunchError(f"--params: {path} must map node names to parameters, e.g. {example}")
    allowed = {k for n in nodes for k in section_keys(n)} | set(WILDCARD_KEYS)
    ignored = {k for n in others for k in section_keys(n)}
    for key, body in tree.items():
        if key not in allowed | ignored:
            raise LaunchError(
                f"--params: {path}: section {key!r} names no node of this graph; expected one of "
                f"{', '.join('/' + n for n in nodes + others)} or /**")
        if not isinstance(body, dict) or list(body) != ["ros__parameters"]:
            got = list(body) if isinstance(body, dict) else body
            raise LaunchError(f"--params: {path}: section {key!r} must hold exactly one key, "
                              f"ros__parameters (got {got!r})")
        if not isinstance(body["ros__parameters"], dict):
            raise LaunchError(f"--params: {path}: {key}: ros__parameters must be a mapping of "
                              f"parameter names to values")
    return p, [k for k in tree if k in ignored]


def format_options(options: Mapping[str, Any]) -> list[str]:
    """Overrides of a process that is not a ROS node as its command-line options: ``{"listen":
    ["a", "b"], "no_lexicon": True}`` -> ``--listen a --listen b --no-lexicon`` (a list repeats
    the option, True is the bare flag, False or None leave it out)."""
    out: list[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if v is True:
                out.append(flag)
            elif v is not False and v is not None:
                out += [flag, str(v)]
    return out


def format_param(value: Any) -> str:
    """A value as rcl's ``-p name:=value`` parses it (YAML): true/false, numbers, [lists],
    strings (quoted when YAML would read them as something else, and always in a list)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):  # strings quoted: ':', '[' or ',' inside a list
        return "[" + ", ".join(json.dumps(v) if isinstance(v, str) else format_param(v)
                               for v in value) + "]"
    text = str(value)
    try:
        plain = text != "" and yaml.safe_load(text) == text
    except yaml.YAMLError:
        plain = False
    return text if plain else json.dumps(text)


class Graph:
    """The processes of one node graph.

    ``params_file``: the user's parameter file (sections per node), passed to every node after
    its package defaults (sections for nodes of :data:`GRAPH` that are not started are allowed,
    and said at start); ``sim_time``: ``-p use_sim_time:=true`` for every node; ``overrides``:
    ``{node: {parameter: value}}``, applied last. Everything is validated here, before any
    process starts (:class:`LaunchError`).

    Every output line of a node (stdout and stderr) is written to ``out`` (default stdout)
    prefixed with ``[name] ``; with ``capture`` the lines are also kept (:meth:`lines`,
    :meth:`timed_lines`). Every node gets this process's environment plus
    :func:`omni_ros.dds_env.graph_env` (one Fast DDS transport for the whole graph) plus
    ``env``. While it runs, the graph leaves a record for ``omni-ros doctor``
    (:func:`omni_ros.dds_env.record_graph`).

    ``respawn``: names of nodes restarted when they die, under ``respawn_policy``, by a
    supervisor thread that :meth:`start` starts (so restarts happen whether or not
    :meth:`run_until_exit` runs). Each restart is in :attr:`restarts`; a node given up is in
    :attr:`gave_up` with its last exit code. For benches: :meth:`kill` a node, then read
    :attr:`restarts` and the new process's first lines in :meth:`timed_lines`.
    """

    def __init__(self, specs: Iterable[NodeSpec], *, params_file: str | Path | None = None,
                 sim_time: bool = False, overrides: Mapping[str, Mapping[str, Any]] | None = None,
                 capture: bool = False, out: TextIO | None = None,
                 env: Mapping[str, str] | None = None, tag: str = "launcher",
                 respawn: Iterable[str] = (), respawn_policy: RespawnPolicy = RespawnPolicy()):
        self.specs = list(specs)
        names = [s.name for s in self.specs]
        if len(set(names)) != len(names):
            raise LaunchError(f"node names must be unique: {names}")
        self.user_params, self.unused_sections = None, []
        if params_file is not None:  # sections for the table's other nodes are allowed
            self.user_params, self.unused_sections = load_user_params(
                params_file, [s.name for s in self.specs if s.ros],
                [s.name for s in GRAPH if s.ros])
        unknown = sorted(set(overrides or {}) - set(names))
        if unknown:
            raise LaunchError(f"overrides for {unknown}: not nodes of this graph ({names})")
        self.overrides = {n: dict((overrides or {}).get(n, {})) for n in names}
        respawn = list(respawn)
        unknown = sorted(set(respawn) - set(names))
        if unknown:
            raise LaunchError(f"respawn for {unknown}: not nodes of this graph ({names})")
        self.respawn = {n: respawn_policy for n in names if n in respawn}
        self.restarts: dict[str, list[Restart]] = {n: [] for n in names}
        self.gave_up: dict[str, int] = {}        # node -> its last exit code
        self.sim_time = sim_time
        self.defaults = {s.name: None if s.params_file is None else resolve_config(s.params_file)
                         for s in self.specs}
        self.capture = capture
        self.out = out
        self.env = dict(env or {})
        self.tag = tag
        self.procs: dict[str, subprocess.Popen] = {}
        self._record: Path | None = None
        self._readers: list[threading.Thread] = []
        self._lines: list[tuple[str, str, float, int]] = []  # name, text, time, incarnation
        self._lock = threading.Lock()
        self._env: dict[str, str] = {}
        self._started_s: dict[str, float] = {}   # when each node's current process started
        self._spawns: dict[str, int] = {}        # processes started per node
        self._streak: dict[str, int] = {}        # quick deaths in a row (the back-off's exponent)
        self._pending: dict[str, Restart] = {}   # dead nodes waiting for their restart
        self._procs_lock = threading.Lock()      # starting processes vs. stopping the graph
        self._stopping = False
        self._done = threading.Event()
        self._supervisor: threading.Thread | None = None

    # -- command lines -----------------------------------------------------------------------

    def command(self, name: str) -> list[str]:
        """The command line that starts node ``name``."""
        spec = next(s for s in self.specs if s.name == name)
        if not spec.ros:
            return [sys.executable, "-m", spec.module, *spec.args,
                    *format_options(self.overrides[name])]
        cmd = [sys.executable, "-m", spec.module, "--ros-args", "-r", f"__node:={spec.name}"]
        if self.defaults[name] is not None:
            cmd += ["--params-file", str(self.defaults[name])]
        if self.user_params is not None:
            cmd += ["--params-file", str(self.user_params)]
        if self.sim_time:
            cmd += ["-p", "use_sim_time:=true"]
        for key, value in self.overrides[name].items():
            cmd += ["-p", f"{key}:={format_param(value)}"]
        return cmd

    # -- output ------------------------------------------------------------------------------

    def _emit(self, name: str, text: str, incarnation: int = 0) -> None:
        with self._lock:
            if self.capture:
                self._lines.append((name, text, time.monotonic(), incarnation))
            out = self.out or sys.stdout
            try:
                out.write(f"[{name}] {text}\n")
                out.flush()
            except (OSError, ValueError):  # our stdout is gone (closed pipe): keep managing
                pass

    def say(self, text: str) -> None:
        """A line from the launcher itself, prefixed with its tag."""
        self._emit(self.tag, text)

    def lines(self, name: str | None = None) -> list[str]:
        """Captured lines (``capture=True``) of node ``name`` (or the launcher's tag); all lines,
        each with its ``[name] `` prefix, when ``name`` is None."""
        with self._lock:
            if name is None:
                return [f"[{n}] {t}" for n, t, _, _ in self._lines]
            return [t for n, t, _, _ in self._lines if n == name]

    def timed_lines(self, name: str) -> list[tuple[float, int, str]]:
        """Captured lines of node ``name`` as (``time.monotonic()`` when read, incarnation,
        text); incarnation 0 is the first process, k the one after the k-th restart."""
        with self._lock:
            return [(t, i, text) for n, text, t, i in self._lines if n == name]

    def _pump(self, name: str, stream, incarnation: int) -> None:
        for line in iter(stream.readline, ""):
            self._emit(name, line.rstrip("\n"), incarnation)
        stream.close()

    # -- processes ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start every node, each in its own process group. If one cannot be started, the ones
        already running are stopped and :class:`LaunchError` is raised."""
        if self.procs:
            raise LaunchError("the graph is already started")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **dds_env.graph_env(), **self.env}
        self._env = env
        self.say(f"DDS: {dds_env.describe(env)}")
        if caveat := dds_env.across_hosts_caveat(env):
            self.say(f"warning: {caveat}")
        ros_nodes = [s.name for s in self.specs if s.ros]
        self._record = dds_env.record_graph(env, ros_nodes) if ros_nodes else None
        if self.unused_sections:
            self.say(f"{self.user_params}: not started, so not used: "
                     f"{', '.join(map(str, self.unused_sections))}")
        for spec in self.specs:
            try:
                proc = self._spawn(spec.name)
            except OSError as err:
                self.stop()
                raise LaunchError(f"cannot start {spec.name}: {err}") from None
            self.say(f"started {spec.name} (pid {proc.pid}): {' '.join(proc.args)}")
        if self.respawn:
            self.say(f"respawn: {', '.join(self.respawn)}")
            self._supervisor = threading.Thread(target=self._supervise, name="respawn",
                                                daemon=True)
            self._supervisor.start()

    def _spawn(self, name: str) -> subprocess.Popen:
        """Start node ``name``'s process (its first, or a restart) and the reader of its output."""
        proc = subprocess.Popen(
            self.command(name), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1, env=self._env,
            start_new_session=True, preexec_fn=_die_with_parent)
        self.procs[name] = proc
        self._started_s[name] = time.monotonic()
        incarnation = self._spawns.get(name, 0)  # 0: the first process, k: the k-th restart
        self._spawns[name] = incarnation + 1
        reader = threading.Thread(target=self._pump, args=(name, proc.stdout, incarnation),
                                  name=f"output of {name}", daemon=True)
        reader.start()
        self._readers.append(reader)
        return proc

    # -- respawn -----------------------------------------------------------------------------

    def _supervise(self, poll_s: float = 0.05) -> None:
        """The supervisor thread: restart dead respawning nodes until the graph is stopped. It
        lives until :meth:`stop` has finished: the nodes it started get SIGTERM when it ends
        (:func:`_die_with_parent`)."""
        while not self._done.wait(poll_s):
            with self._procs_lock:
                if self._stopping:
                    continue
                for name, policy in self.respawn.items():
                    try:
                        self._respawn(name, policy, time.monotonic())
                    except OSError as err:  # e.g. out of processes: try again next round
                        self.say(f"cannot restart {name}: {err}")

    def _respawn(self, name: str, policy: RespawnPolicy, now: float) -> None:
        """One supervision step for node ``name``: note its death and when to restart it, or
        restart it when its back-off is over."""
        pending = self._pending.get(name)
        if pending is not None:
            if now >= pending.died_s + pending.delay_s:
                proc = self._spawn(name)
                pending.started_s, pending.pid = self._started_s[name], proc.pid
                del self._pending[name]
                self.say(f"restarted {name} (pid {proc.pid})")
            return
        code = self.procs[name].poll()
        if code in (None, 0) or name in self.gave_up:
            return
        recent = [r for r in self.restarts[name] if now - r.died_s < policy.window_s]
        if len(recent) >= policy.max_restarts:
            self.gave_up[name] = code
            self.say(f"{name} exited with code {code}{_code_hint(code)} after {len(recent)} "
                     f"restarts within {policy.window_s:g} s: giving up on it")
            return
        if now - self._started_s[name] >= policy.reset_after_s:
            self._streak[name] = 0  # it had been up a while: the back-off starts over
        streak = self._streak.get(name, 0)
        self._streak[name] = streak + 1
        restart = Restart(died_s=now, code=code, delay_s=policy.delay(streak))
        self.restarts[name].append(restart)
        self._pending[name] = restart
        self.say(f"{name} exited with code {code}{_code_hint(code)}; restarting it in "
                 f"{restart.delay_s:g} s (restart {len(recent) + 1}, at most "
                 f"{policy.max_restarts} within {policy.window_s:g} s)")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> float:
        """Send ``sig`` to node ``name`` (and its process group), e.g. to test respawn; returns
        the ``time.monotonic()`` at which it was sent."""
        sent = time.monotonic()
        self._signal(name, sig)
        return sent

    def poll(self) -> dict[str, int | None]:
        """Exit code of every started node, None while it runs (negative: killed by that
        signal)."""
        return {name: proc.poll() for name, proc in self.procs.items()}

    def _signal(self, name: str, sig: int) -> None:
        proc = self.procs[name]
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)  # the node and anything it started
            except ProcessLookupError:
                pass

    def _wait(self, names: list[str], deadline: float) -> list[str]:
        """Wait until ``deadline`` for ``names`` to exit; the ones still running."""
        while True:
            running = [n for n in names if self.procs[n].poll() is None]
            if not running or time.monotonic() >= deadline:
                return running
            time.sleep(0.02)

    def stop(self, timeout: float = 10.0, term_timeout: float = 3.0) -> dict[str, int]:
        """Stop every running node: SIGINT to all, wait up to ``timeout`` s, then SIGTERM to the
        ones left, ``term_timeout`` s more, then SIGKILL. A Ctrl-C while waiting goes straight
        to SIGKILL. Returns every node's exit code."""
        with self._procs_lock:  # no restart from here on
            self._stopping = True
            self._pending.clear()
        running = [n for n, c in self.poll().items() if c is None]
        try:
            for name in running:
                self._signal(name, signal.SIGINT)
            left = self._wait(running, time.monotonic() + timeout)
            if left:
                self.say(f"still running {timeout:g} s after SIGINT: {', '.join(left)}; SIGTERM")
                for name in left:
                    self._signal(name, signal.SIGTERM)
                left = self._wait(left, time.monotonic() + term_timeout)
        except KeyboardInterrupt:
            left = [n for n in running if self.procs[n].poll() is None]
        if left:
            self.say(f"killing {', '.join(left)}")
            for name in left:
                self._signal(name, signal.SIGKILL)
        for proc in self.procs.values():
            proc.wait()
        self._done.set()  # every node is reaped: the supervisor may end
        if self._supervisor is not None:
            self._supervisor.join()
        for reader in self._readers:
            reader.join(timeout=2.0)  # the rest of their output, unless a grandchild holds it
        dds_env.forget_graph(self._record)
        self._record = None
        return {name: proc.returncode for name, proc in self.procs.items()}

    def run_until_exit(self, stop_timeout: float = 10.0, poll_s: float = 0.1) -> int:
        """Start the graph (unless started) and supervise it (what ``omni-ros up`` runs).

        Returns 0 after Ctrl-C (or SIGTERM) once every node stopped cleanly; as soon as a node
        dies with a non-zero code, says which and with what, stops the rest and returns that
        code (1 if it was a signal) - a node with respawn only once it is given up (the
        supervisor restarts it meanwhile, the rest keeps running); when a node finishes by
        itself with 0 (e.g. the sim bridge with ``duration_s``), stops the rest and returns 0
        if they stop cleanly. Returns 1 when a node had to be killed or failed while stopping.
        """
        restore = _sigterm_as_interrupt()
        try:
            if not self.procs:
                self.start()
            while True:
                codes = self.poll()
                failed = {n: c for n, c in codes.items() if c not in (None, 0)
                          and (n not in self.respawn or n in self.gave_up)}
                if failed:
                    for name, code in failed.items():
                        self.say(f"{name} exited with code {code}{_code_hint(code)}; stopping "
                                 f"the graph")
                    self._stop_rest(stop_timeout, set(codes) - set(failed))
                    first = next(iter(failed.values()))
                    return first if 0 < first < 256 else 1
                finished = [n for n, c in codes.items() if c == 0]
                if finished:
                    self.say(f"{', '.join(finished)} finished (exit code 0); stopping the graph")
                    return self._stop_rest(stop_timeout, set(codes) - set(finished))
                time.sleep(poll_s)
        except KeyboardInterrupt:
            self.say("interrupted; stopping the graph")
            down = set(self._pending)  # dead, waiting for their restart: nothing to judge
            return self._stop_rest(stop_timeout, set(self.procs) - down)
        finally:
            restore()
            if any(c is None for c in self.poll().values()):  # an unexpected error: no orphans
                self.stop(stop_timeout)

    def _stop_rest(self, timeout: float, names: set[str]) -> int:
        """Stop the graph; 0 if every node in ``names`` stopped cleanly, else 1 (with a line
        naming each that did not)."""
        codes = self.stop(timeout)
        unclean = {n: c for n, c in codes.items() if n in names and c not in CLEAN_STOP_CODES}
        for name, code in unclean.items():
            self.say(f"{name} did not stop cleanly: exit code {code}{_code_hint(code)}")
        if not unclean:
            self.say("all nodes stopped")
        return 1 if unclean else 0

    def __enter__(self) -> Graph:
        return self

    def __exit__(self, *exc) -> None:
        if self.procs and not self._done.is_set():
            self.stop()


def _code_hint(code: int) -> str:
    if code < 0:
        try:
            return f" (killed by {signal.Signals(-code).name})"
        except ValueError:
            return f" (killed by signal {-code})"
    if code == 2:
        return " (invalid parameters, see its output above)"
    return ""


def _prctl():
    """libc's prctl, looked up in the parent (no dlopen between fork and exec); None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _prctl()


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the launcher dies, even by SIGKILL, so a killed
    launcher leaves no nodes behind (Linux; strictly: when the thread that started the process
    ends - :meth:`Graph.start`'s caller, or the respawn supervisor for a restarted node - so
    start the graph from a thread that outlives it)."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    # A blocked or ignored SIGINT survives exec: a node started from a thread that blocks it
    # (the respawn supervisor, a test runner's thread) would then ignore the stop's SIGINT and
    # end only by SIGTERM. Every node starts with SIGINT and SIGTERM unblocked and default.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _sigterm_as_interrupt():
    """While supervising, treat SIGTERM to the launcher like Ctrl-C (a clean stop of the graph).
    Only possible in the main thread; returns a function that restores the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum, frame):
        raise KeyboardInterrupt

    # Ctrl-C must reach us even if whoever started us ignored or blocked SIGINT (both survive
    # exec; seen in the test suite: a launcher that never saw the SIGINT sent to it).
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    old_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    old = signal.signal(signal.SIGTERM, handler)

    def restore():
        signal.signal(signal.SIGTERM, old)
        signal.signal(signal.SIGINT, old_int)
    return restore
