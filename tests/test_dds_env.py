"""One DDS environment for everything omni_ros starts (omni_ros.dds_env): the launcher gives its
nodes the project's transport, doctor warns about a shell that would not see a running graph,
and the tests' own traffic never leaves this host."""

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest

from omni_ros import dds_env
from omni_ros.cli import doctor
from omni_ros.launcher import Graph, NodeSpec

from _util import ROOT

PROBE = str(ROOT / "tests" / "dds_probe.py")


def test_isolated_env_is_localhost_only_without_peers_on_a_random_domain():
    envs = [dds_env.isolated_env() for _ in range(40)]
    for env in envs:
        assert env[dds_env.RANGE_VAR] == "LOCALHOST" and env[dds_env.PEERS_VAR] == ""
        assert env[dds_env.TRANSPORT_VAR] == dds_env.PROJECT_TRANSPORT
        assert 1 <= int(env[dds_env.DOMAIN_VAR]) <= 101
    assert len({e[dds_env.DOMAIN_VAR] for e in envs}) > 1
    # This very test session runs isolated (conftest), and children inherit it.
    assert os.environ[dds_env.RANGE_VAR] == "LOCALHOST"
    assert dds_env.transport() == dds_env.PROJECT_TRANSPORT


def test_graph_env_sets_the_project_transport_and_profile_unless_the_user_chose_them():
    profile = {dds_env.PROFILES_VAR: str(ROOT / "config" / "fastdds.xml"), dds_env.XML_QOS_VAR: "1"}
    assert dds_env.graph_env({}) == {dds_env.TRANSPORT_VAR: "LARGE_DATA", **profile}
    assert dds_env.graph_env({dds_env.TRANSPORT_VAR: "UDPv4"}) == {dds_env.TRANSPORT_VAR: "UDPv4",
                                                                   **profile}
    mine = {dds_env.PROFILES_VAR: "/etc/my_fastdds.xml"}
    assert dds_env.graph_env(mine) == {dds_env.TRANSPORT_VAR: "LARGE_DATA"}
    assert dds_env.transport({}) == "DEFAULT"


def test_a_graph_that_names_other_hosts_runs_on_udp_and_large_data_there_is_flagged(
        tmp_path, monkeypatch):
    """Across hosts LARGE_DATA's TCP links sometimes never carried data (tests/test_multihost.py,
    README "Across hosts"): static peers or a discovery server make the default DEFAULT, a
    LARGE_DATA the user exported anyway is kept but doctor and the launcher say why not."""
    for named in ({dds_env.PEERS_VAR: "10.0.1.3"}, {dds_env.SERVER_VAR: "10.0.1.3:11811"}):
        assert dds_env.graph_env(named)[dds_env.TRANSPORT_VAR] == "DEFAULT"
        assert dds_env.across_hosts_caveat(named) == ""
        chosen = {**named, dds_env.TRANSPORT_VAR: "LARGE_DATA"}
        assert dds_env.graph_env(chosen)[dds_env.TRANSPORT_VAR] == "LARGE_DATA"
        assert "export FASTDDS_BUILTIN_TRANSPORTS=DEFAULT" in dds_env.across_hosts_caveat(chosen)
    assert dds_env.across_hosts_caveat({dds_env.TRANSPORT_VAR: "LARGE_DATA"}) == ""
    assert dds_env.graph_env({dds_env.PEERS_VAR: ""})[dds_env.TRANSPORT_VAR] == "LARGE_DATA"

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))        # no graph runs
    monkeypatch.setenv(dds_env.PEERS_VAR, "10.0.1.3")
    monkeypatch.setenv(dds_env.TRANSPORT_VAR, "DEFAULT")
    assert "FASTDDS_BUILTIN_TRANSPORTS=DEFAULT" in doctor._dds()  # what the README says: no warning
    monkeypatch.setenv(dds_env.TRANSPORT_VAR, "LARGE_DATA")
    with pytest.raises(doctor.Warn, match="export FASTDDS_BUILTIN_TRANSPORTS=DEFAULT` on every host"):
        doctor._dds()
    out = io.StringIO()
    g = Graph([NodeSpec("probe", "probe", "omni_ros.dds_env", None)], capture=True, out=out)
    g.start()
    try:
        assert "warning: FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA with other hosts" in out.getvalue()
    finally:
        g.stop()


def test_the_launcher_gives_every_node_the_transport_and_leaves_a_record_while_it_runs(
        tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv(dds_env.TRANSPORT_VAR)          # a user's shell that never set it
    probe = NodeSpec("probe", "probe", "omni_ros.dds_env", None)
    g = Graph([probe], capture=True, out=io.StringIO())
    g.start()
    try:
        graphs = dds_env.running_graphs()
        assert [r["pid"] for r in graphs] == [os.getpid()]
        assert graphs[0][dds_env.TRANSPORT_VAR] == "LARGE_DATA" and graphs[0]["nodes"] == ["probe"]
        # ... and doctor, run from this (unset) shell, says why it would see nothing.
        with pytest.raises(doctor.Warn, match="FASTDDS_BUILTIN_TRANSPORTS='LARGE_DATA'"):
            doctor._dds()
        monkeypatch.setenv(dds_env.TRANSPORT_VAR, "LARGE_DATA")
        assert "matches 1 running graph" in doctor._dds()
        deadline = time.monotonic() + 120
        while g.poll()["probe"] is None and time.monotonic() < deadline:
            time.sleep(0.05)                             # the probe prints and exits
    finally:
        codes = g.stop()
    assert codes == {"probe": 0}
    assert any("FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA" in ln for ln in g.lines("probe"))
    assert dds_env.running_graphs() == []               # the record went with the graph


def test_doctor_warns_without_a_graph_when_the_shell_is_off_the_project_transport(
        tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv(dds_env.TRANSPORT_VAR, "DEFAULT")
    out = subprocess.run([sys.executable, "-m", "omni_ros.cli", "doctor", "--json"], cwd=ROOT,
                         capture_output=True, text=True, timeout=240)
    dds = next(r for r in json.loads(out.stdout) if r["check"] == "DDS")
    assert dds["ok"] and dds["warning"], dds
    assert "export FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA" in dds["detail"]
    # A stale record (its launcher is gone) is ignored and removed.
    stale = dds_env.runtime_dir() / "999999999.json"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text(json.dumps({"pid": 999999999, **dds_env.settings()}))
    assert dds_env.running_graphs() == [] and not stale.exists()


# -- the tests' traffic stays on this host -------------------------------------------------------

def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


@pytest.fixture
def two_hosts():
    """Two network namespaces joined by a veth pair (10.231.N.1 <-> 10.231.N.2): two hosts on
    one subnet, made here and removed after. Needs root and iproute2."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 (ip netns) to make two test hosts")
    tag = uuid.uuid4().hex[:6]
    a, b = f"omni_a_{tag}", f"omni_b_{tag}"
    net = 200 + int(tag, 16) % 50
    try:
        _ip("netns", "add", a)
        _ip("netns", "add", b)
        _ip("link", "add", f"va{tag}", "type", "veth", "peer", "name", f"vb{tag}")
        for ns, dev, host in ((a, f"va{tag}", 1), (b, f"vb{tag}", 2)):
            _ip("link", "set", dev, "netns", ns)
            _ip("-n", ns, "addr", "add", f"10.231.{net}.{host}/24", "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "route", "add", "default", "dev", dev)   # multicast discovery
    except subprocess.CalledProcessError as err:
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        pytest.skip(f"cannot make network namespaces here: {err.stderr.strip()}")
    yield a, b
    for ns in (a, b):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.mark.ros
@pytest.mark.timeout(300)
def test_a_robot_on_the_network_never_receives_the_tests_omni_action(two_hosts):
    """Host A runs a publisher of /omni/action with exactly the environment the tests run in,
    plus control publishers with a robot's ordinary settings (default discovery range, each
    transport) on the SAME domain. A listener on host B with a robot's settings hears every
    control - so discovery across the link works - but never the tests' publisher."""
    host_a, host_b = two_hosts
    base = {k: v for k, v in os.environ.items() if k not in dds_env.VARIABLES}
    tests_env = dict(base, **dds_env.isolated_env(int(os.environ[dds_env.DOMAIN_VAR])))
    robot = {"default": dict(base, ROS_DOMAIN_ID=tests_env["ROS_DOMAIN_ID"]),
             "large": dict(base, ROS_DOMAIN_ID=tests_env["ROS_DOMAIN_ID"],
                           FASTDDS_BUILTIN_TRANSPORTS="LARGE_DATA")}

    def start(ns, env, *args):
        return subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, PROBE, *args], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    pubs = [start(host_a, tests_env, "pub", "tests")]
    pubs += [start(host_a, env, "pub", f"control_{name}") for name, env in robot.items()]
    listeners = {name: start(host_b, env, "listen", "30", "150", f"control_{name}")
                 for name, env in robot.items()}
    try:
        heard = {}
        for name, proc in listeners.items():
            out, err = proc.communicate(timeout=200)
            line = next((ln for ln in out.splitlines() if ln.startswith("HEARD ")), None)
            assert line is not None, err[-2000:]
            heard[name] = json.loads(line[len("HEARD "):])
    finally:
        for p in pubs + list(listeners.values()):
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in pubs + list(listeners.values()):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
    for name, got in heard.items():
        assert got.get(f"control_{name}", 0) >= 30, (name, got)   # the link and discovery work
        assert "tests" not in got, (name, got)                     # the tests' traffic does not
