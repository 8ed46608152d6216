"""Start the omni_ros node graph as separate processes, without ROS 2's ``launch``.

There are no ``launch``/``launch_ros`` wheels, so on a pip-only install ``omni-ros up`` starts
the graph with this module; on a ROS 2 install ``ros2 launch omni_ros omni_ros.launch.py`` (or
``sim_demo.launch.py``) starts the same nodes with the same parameter files. :data:`GRAPH` is
the one table of the graph's nodes; ``tests/test_launch.py`` checks the launch files against it.

Each node runs as ``<python> -m <module> --ros-args -r __node:=<name> --params-file
<config>/<name>.yaml [--params-file USER_FILE] [-p use_sim_time:=true] [-p key:=value ...]``
in its own process group, so a Ctrl-C in the terminal reaches only the launcher, which then
stops the nodes in order: SIGINT to every node, a wait, then SIGTERM and finally SIGKILL for any
that are still running. rcl applies parameter sources in command-line order, later wins: the
package defaults, then the user's file, then sim time, then the per-node overrides.

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
    """One node of the graph: its ROS node name (also the process's label), the console script
    a ROS install runs, the Python module run here with ``-m``, and its parameter file (a name in
    the package's ``config/`` folder, or an absolute path; None = no file)."""

    name: str
    executable: str
    module: str
    params_file: str | None
    sim_only: bool = False  # started only with sim (``--sim``, sim_demo.launch.py)


# The node graph: node name = executable name = console script in setup.py's NODES.
GRAPH: tuple[NodeSpec, ...] = (
    NodeSpec("sim_bridge", "sim_bridge", "omni_ros.nodes.sim_bridge", "sim_bridge.yaml",
             sim_only=True),
    NodeSpec("perception", "perception", "omni_ros.nodes.perception", "perception.yaml"),
    NodeSpec("teleop", "teleop", "omni_ros.nodes.teleop", "teleop.yaml"),
    NodeSpec("action", "action", "omni_ros.nodes.action", "action.yaml"),
)

# Exit codes after our SIGINT that count as a clean stop: 0 (the node shut down), or killed by
# the SIGINT itself (it arrived before rclpy installed its handler, e.g. during imports).
CLEAN_STOP_CODES = (0, -signal.SIGINT)


class LaunchError(Exception):
    """The graph cannot be started as asked (bad parameter file, unknown node, missing config);
    the message says what and how to fix it. Raised before any process starts."""


def graph(sim: bool) -> list[NodeSpec]:
    """The graph's nodes: perception, teleop and action; with ``sim`` also the sim bridge."""
    return [s for s in GRAPH if sim or not s.sim_only]


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


def format_param(value: Any) -> str:
    """A value as rcl's ``-p name:=value`` parses it (YAML): true/false, numbers, [lists],
    strings (quoted when YAML would read them as something else)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_param(v) for v in value) + "]"
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
    prefixed with ``[name] ``; with ``capture`` the lines are also kept (:meth:`lines`).
    Every node gets this process's environment plus :func:`omni_ros.dds_env.graph_env` (one
    Fast DDS transport for the whole graph) plus ``env``. While it runs, the graph leaves a
    record for ``omni-ros doctor`` (:func:`omni_ros.dds_env.record_graph`).
    """

    def __init__(self, specs: Iterable[NodeSpec], *, params_file: str | Path | None = None,
                 sim_time: bool = False, overrides: Mapping[str, Mapping[str, Any]] | None = None,
                 capture: bool = False, out: TextIO | None = None,
                 env: Mapping[str, str] | None = None, tag: str = "launcher"):
        self.specs = list(specs)
        names = [s.name for s in self.specs]
        if len(set(names)) != len(names):
            raise LaunchError(f"node names must be unique: {names}")
        self.user_params, self.unused_sections = None, []
        if params_file is not None:  # sections for the table's other nodes are allowed
            self.user_params, self.unused_sections = load_user_params(
                params_file, names, [s.name for s in GRAPH])
        unknown = sorted(set(overrides or {}) - set(names))
        if unknown:
            raise LaunchError(f"overrides for {unknown}: not nodes of this graph ({names})")
        self.overrides = {n: dict((overrides or {}).get(n, {})) for n in names}
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
        self._lines: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    # -- command lines -----------------------------------------------------------------------

    def command(self, name: str) -> list[str]:
        """The command line that starts node ``name``."""
        spec = next(s for s in self.specs if s.name == name)
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

    def _emit(self, name: str, text: str) -> None:
        with self._lock:
            if self.capture:
                self._lines.append((name, text))
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
                return [f"[{n}] {t}" for n, t in self._lines]
            return [t for n, t in self._lines if n == name]

    def _pump(self, name: str, stream) -> None:
        for line in iter(stream.readline, ""):
            self._emit(name, line.rstrip("\n"))
        stream.close()

    # -- processes ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start every node, each in its own process group. If one cannot be started, the ones
        already running are stopped and :class:`LaunchError` is raised."""
        if self.procs:
            raise LaunchError("the graph is already started")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **dds_env.graph_env(), **self.env}
        self.say(f"DDS: {dds_env.describe(env)}")
        self._record = dds_env.record_graph(env, [s.name for s in self.specs])
        if self.unused_sections:
            self.say(f"{self.user_params}: not started, so not used: "
                     f"{', '.join(map(str, self.unused_sections))}")
        for spec in self.specs:
            cmd = self.command(spec.name)
            try:
                proc = subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1, env=env,
                    start_new_session=True,
                    preexec_fn=_die_with_parent if _PRCTL is not None else None)
            except OSError as err:
                self.stop()
                raise LaunchError(f"cannot start {spec.name}: {err}") from None
            self.procs[spec.name] = proc
            reader = threading.Thread(target=self._pump, args=(spec.name, proc.stdout),
                                      name=f"output of {spec.name}", daemon=True)
            reader.start()
            self._readers.append(reader)
            self.say(f"started {spec.name} (pid {proc.pid}): {' '.join(cmd)}")

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
        for reader in self._readers:
            reader.join(timeout=2.0)  # the rest of their output, unless a grandchild holds it
        dds_env.forget_graph(self._record)
        self._record = None
        return {name: proc.returncode for name, proc in self.procs.items()}

    def run_until_exit(self, stop_timeout: float = 10.0, poll_s: float = 0.1) -> int:
        """Start the graph (unless started) and supervise it (what ``omni-ros up`` runs).

        Returns 0 after Ctrl-C (or SIGTERM) once every node stopped cleanly; as soon as a node
        dies with a non-zero code, says which and with what, stops the rest and returns that
        code (1 if it was a signal); when a node finishes by itself with 0 (e.g. the sim bridge
        with ``duration_s``), stops the rest and returns 0 if they stop cleanly. Returns 1 when
        a node had to be killed or failed while stopping.
        """
        restore = _sigterm_as_interrupt()
        try:
            if not self.procs:
                self.start()
            while True:
                codes = self.poll()
                failed = {n: c for n, c in codes.items() if c not in (None, 0)}
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
            return self._stop_rest(stop_timeout, set(self.procs))
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
        if any(c is None for c in self.poll().values()):
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
    launcher leaves no nodes behind (Linux; strictly: when the thread that called
    :meth:`Graph.start` ends, so start the graph from a thread that outlives it)."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


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
