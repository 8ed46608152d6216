"""Supervision and safe degradation with real processes over real DDS (isolated: localhost
discovery, a random domain - tests/conftest.py):

* every node exits cleanly on the first SIGINT and on the first SIGTERM, whenever it comes:
  during start-up, right after its first output, while it is being built, while it runs;
* perception SIGKILLed mid-task: the action node's watchdog stops the arm and says why on
  /omni/task_status, nothing resumes by itself, and the launcher respawns perception while the
  rest of the graph keeps running.

Back-off, limits and the bench API of respawn with plain processes: tests/test_launch.py; the
watchdog's logic without ROS: tests/test_watchdog.py."""

import io
import re
import signal
import threading
import time
import traceback

import pytest

from omni_ros.launcher import GRAPH, Graph, NodeSpec, RespawnPolicy, graph

pytestmark = [pytest.mark.ros, pytest.mark.timeout(600)]

DEADLINE_S = 90.0  # bounds a hang only: every wait below ends on an observable event


@pytest.fixture(scope="module")
def observer():
    """A node of the test's own (own context, spun in a thread): which nodes are in the ROS graph,
    and since when each node has been publishing /diagnostics (``time.monotonic()``)."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor

    context = rclpy.Context()
    rclpy.init(context=context, args=[])
    node = rclpy.create_node("signal_observer", context=context)
    heard: dict[str, list[float]] = {}

    def on_diagnostics(msg):
        for status in msg.status:
            heard.setdefault(status.hardware_id, []).append(time.monotonic())

    node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 50)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    yield node, heard
    executor.shutdown()
    node.destroy_node()
    rclpy.shutdown(context=context)
    spinner.join(timeout=10)


def _until(condition, what: str, timeout: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


# When a signal is sent, by what can be observed of the node's life: while it imports (numpy,
# torch, scipy.signal loaded: past the interpreter's own start-up, where a SIGINT is a fatal
# error of Python's, exit 1), right after its first output line (sim_bridge's, while it
# imports; the other nodes print their first line once built), while it is being built (it is
# in the ROS graph), while it runs (it publishes /diagnostics). The last two cost a whole start
# each: every node meets one of them per signal, and both across the two signals.
LIBRARIES = {"start-up": "_multiarray_umath", "importing": "libtorch_cpu",
             "importing scipy": "_sigtools"}


def points(index: int, name: str, sig: int) -> tuple[str, ...]:
    third = "first output" if name == "sim_bridge" else "importing scipy"
    late = ("being built", "running")[(index + (sig == signal.SIGTERM)) % 2]
    return ("start-up", "importing", third, late)


def _loaded(pid: int, library: str) -> bool:
    """Whether process ``pid`` has mapped a shared library whose path contains ``library``."""
    try:
        with open(f"/proc/{pid}/maps") as maps:
            return library in maps.read()
    except OSError:
        return False


def _stop_once(name: str, sig: int, point: str, observer) -> tuple[int, bool, float, list[str]]:
    """Start node ``name`` as ``omni-ros up`` does (under a name of its own), send ``sig`` at
    ``point`` of its life; returns (exit code, whether it was in the ROS graph when the signal
    went out, seconds from the signal to its exit, its output)."""
    node, heard = observer
    spec = next(s for s in GRAPH if s.name == name)
    # A name of its own (same executable and parameter file): no other process - an earlier
    # round, another test run - can be mistaken for this one in the ROS graph.
    name = f"{name}_{signal.Signals(sig).name}_{point.replace(' ', '_').replace('-', '_')}".lower()
    g = Graph([NodeSpec(name, spec.executable, spec.module, spec.params_file)], capture=True,
              out=io.StringIO())
    g.start()
    started = time.monotonic()
    try:
        pid = g.procs[name].pid
        if point in LIBRARIES:
            _until(lambda: _loaded(pid, LIBRARIES[point]), f"{name} to load {LIBRARIES[point]}")
        elif point == "first output":
            _until(lambda: g.lines(name), f"{name}'s output")
        elif point == "being built":   # rclpy is up, the node exists: its constructor runs
            _until(lambda: name in node.get_node_names(), f"{name} in the graph")
        else:                          # it publishes its diagnostics (every 1 s)
            _until(lambda: any(t > started for t in heard.get(name, [])), f"{name} running")
        assert g.poll()[name] is None, g.lines()
        # rclpy is up once the node was seen in the graph or heard publishing; the graph cache
        # may lag a received message, so only the earlier points ask it
        in_graph = point in ("being built", "running") or name in node.get_node_names()
        sent = g.kill(name, sig)
        _until(lambda: g.poll()[name] is not None, f"{name} to exit after {sig!r} at {point}")
        return g.poll()[name], in_graph, time.monotonic() - sent, g.lines(name)
    finally:
        g.stop(timeout=5, term_timeout=5)


@pytest.mark.slow
def test_every_node_exits_cleanly_on_the_first_sigint_and_on_the_first_sigterm(observer):
    """Each node, SIGINT then SIGTERM, each at four points of its life (the four nodes side by
    side): exit code 0 - or killed by that very signal, but only if it came before rclpy was up
    (the node was not in the ROS graph yet). A node that ignored its signal fails the wait."""
    results: dict[str, list] = {}
    errors: dict[str, str] = {}

    def rounds(index: int, name: str) -> None:
        try:
            results[name] = [(sig, point, _stop_once(name, sig, point, observer))
                             for sig in (signal.SIGINT, signal.SIGTERM)
                             for point in points(index, name, sig)]
        except Exception:  # noqa: BLE001 - reported below, with the other nodes' results
            errors[name] = traceback.format_exc()

    threads = [threading.Thread(target=rounds, args=(i, s.name))
               for i, s in enumerate(graph(sim=True))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, "\n".join(errors.values())
    bad = []
    for name, runs in results.items():
        for sig, point, (code, in_graph, took, lines) in runs:
            clean = (0,) if in_graph else (0, -sig)
            if code not in clean:
                bad.append(f"{name}, {signal.Signals(sig).name} at {point}: exit code {code} "
                           f"after {took:.1f} s\n" + "\n".join(lines[-15:]))
    assert not bad, "\n\n".join(bad)
    # Each node met each signal at least once while up (rclpy initialised).
    for name, runs in results.items():
        for sig in (signal.SIGINT, signal.SIGTERM):
            assert any(s == sig and in_graph for s, _, (_, in_graph, _, _) in runs), (name, sig)


def test_perception_killed_mid_task_stops_the_arm_and_is_respawned():
    """The arm approaches an object; perception gets SIGKILL. Within scene_timeout_s (1 s sim)
    the action node sends a stop and reports why; the launcher restarts perception (exit code
    logged) while the bridge, teleop and action keep running; scenes come back and the task
    stays stopped."""
    import rclpy
    from omni_ros_msgs.msg import PrimitiveStatus

    from omni_ros import dds_env
    from omni_ros.nodes.common import RELIABLE_QOS
    from omni_ros.nodes.operator import SimOperator

    dds_env.isolate()
    g = Graph(graph(sim=True), sim_time=True, overrides={"sim_bridge": {"seed": 4}},
              capture=True, out=io.StringIO(), respawn=["perception"],
              respawn_policy=RespawnPolicy(delay_s=1.0))
    context = rclpy.Context()
    rclpy.init(context=context, args=[])
    g.start()
    op = SimOperator(context=context)
    executed: list = []
    op.create_subscription(PrimitiveStatus, "/omni/action_status",
                           lambda m: executed.append((m.primitive, m.state)), RELIABLE_QOS)
    try:
        assert op.spin_until(lambda: op.scene is not None and op.truth is not None
                             and op.text_pub.get_subscription_count() > 0
                             and op.point_pub.get_subscription_count() > 0, 240), g.lines()[-30:]
        target = op.truth.objects[0]
        op.click(target.position)
        op.spin_until(lambda: False, 0.3)
        n = len(op.statuses)
        op.type(f"pick up the {target.color} {target.shape}")
        assert op.spin_until(lambda: any(s.primitive == "approach" for s in op.statuses[n:]),
                             DEADLINE_S), [(s.state, s.primitive, s.reason) for s in op.statuses]
        n, n_exec = len(op.statuses), len(executed)
        g.kill("perception")
        assert op.spin_until(lambda: any(s.state == "stopped" for s in op.statuses[n:]),
                             DEADLINE_S), [(s.state, s.reason) for s in op.statuses[n:]]
        stopped = next(s for s in op.statuses[n:] if s.state == "stopped")
        assert re.fullmatch(r"perception silent for \d+\.\d s \(limit 1 s\): stopped the arm",
                            stopped.reason), stopped.reason
        assert stopped.intent == "pick"
        # The stop primitive reached the arm's executor.
        assert op.spin_until(lambda: any(p == "stop" for p, _ in executed[n_exec:]), DEADLINE_S)
        # Perception is restarted, the rest kept running all along, scenes come back ...
        assert op.spin_until(lambda: any(r.started_s for r in g.restarts["perception"]),
                             DEADLINE_S), g.lines("launcher")
        restart = g.restarts["perception"][0]
        assert restart.code == -signal.SIGKILL
        assert ("perception exited with code -9 (killed by SIGKILL); restarting it in 1 s "
                "(restart 1, at most 5 within 300 s)") in g.lines("launcher")
        n_scenes = len(op.scenes)
        assert op.spin_until(lambda: len(op.scenes) > n_scenes + 10, 240), g.lines()[-30:]
        assert g.poll() == dict.fromkeys(g.procs), g.poll()   # the same processes, all up
        # ... and the task stays stopped: nothing resumed by itself.
        after = [s.state for s in op.statuses[op.statuses.index(stopped) + 1:]]
        assert "executing" not in after, after
    finally:
        op.destroy_node()
        rclpy.shutdown(context=context)
        codes = g.stop()
    assert all(c == 0 for c in codes.values()), (codes, g.lines()[-40:])
