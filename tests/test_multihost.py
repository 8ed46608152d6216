"""The tiered graph across two hosts, without extra hardware: the edge (sim bridge + encoder) and
the region (fusion + a scene listener) run in two network namespaces joined only by a veth pair
(10.231.0.1 <-> 10.231.0.2), so every latent crosses a network link, found through discovery
configured as a user would between two machines (same ROS_DOMAIN_ID, subnet range, the other
host as a static peer). Each host also gets its own ``/dev/shm`` and ``/etc/machine-id`` (bind
mounts private to its processes): Fast DDS decides "same host" from the machine id and then
delivers through shared memory, so with one shared ``/dev/shm`` and id the two namespaces were
not two hosts to it and could deliver through shared memory, skipping the link. Nothing else is reachable from the
namespaces: no robot on a real network sees this graph. Needs root, iproute2 (``ip netns``)
and ``mount``; skipped otherwise.
"""

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

pytestmark = [pytest.mark.ros, pytest.mark.timeout(400)]

EDGE_IP, REGION_IP = "10.231.0.1", "10.231.0.2"

# The region's listener: prints one JSON line once 20 scenes with every modality present came
# from fusion (or what it saw after 150 s) and exits.
LISTENER = r"""
import json, sys, time
import rclpy
from omni_ros_msgs.msg import SceneUnderstanding
rclpy.init()
node = rclpy.create_node("multihost_listener")
seen = {"scenes": 0, "complete": 0, "modalities": []}
def on_scene(msg):
    seen["scenes"] += 1
    seen["modalities"] = list(msg.modalities)
    seen["complete"] += all(msg.present)
node.create_subscription(SceneUnderstanding, "/omni/scene", on_scene, 10)
end = time.monotonic() + 150
while seen["complete"] < 20 and time.monotonic() < end:
    rclpy.spin_once(node, timeout_sec=0.1)
print(json.dumps(seen), flush=True)
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _can_make_namespaces() -> str:
    """'' when this process can make network namespaces, else why not."""
    if os.geteuid() != 0:
        return "needs root (ip netns add)"
    if shutil.which("ip") is None:
        return "needs iproute2 (ip)"
    if shutil.which("mount") is None or not os.path.isdir("/dev/shm"):
        return "needs mount and /dev/shm (each host's own shared memory)"
    probe = f"omni_probe_{uuid.uuid4().hex[:6]}"
    try:
        _ip("netns", "add", probe)
    except subprocess.CalledProcessError as err:
        return f"ip netns add failed: {err.stderr.strip()}"
    _ip("netns", "del", probe)
    return ""


def _own_host_files(root) -> list[str]:
    """A command prefix that gives the process this host's ``/dev/shm`` and ``/etc/machine-id``
    (created under ``root`` on first use), bind-mounted inside the mount namespace that
    ``ip netns exec`` makes for each process, so nothing changes outside it."""
    shm, machine_id = root / "shm", root / "machine-id"
    if not shm.exists():
        shm.mkdir(parents=True)
        machine_id.write_text(uuid.uuid4().hex + "\n")
    mounts = [f"mount --bind {shm} /dev/shm"] + [
        f"mount --bind {machine_id} {target}"
        for target in ("/etc/machine-id", "/var/lib/dbus/machine-id") if os.path.exists(target)]
    return ["sh", "-c", " && ".join(mounts) + ' && exec "$@"', "sh"]


def _rx_bytes(ns: str, dev: str) -> int:
    out = subprocess.run(["ip", "netns", "exec", ns, "cat", f"/sys/class/net/{dev}/statistics/rx_bytes"],
                         check=True, capture_output=True, text=True).stdout
    return int(out.strip())


@pytest.fixture
def two_hosts():
    why = _can_make_namespaces()
    if why:
        pytest.skip(why)
    tag = uuid.uuid4().hex[:6]
    edge, region = f"omni_edge_{tag}", f"omni_region_{tag}"
    dev_e, dev_r = f"ve{tag}", f"vr{tag}"
    _ip("netns", "add", edge)
    try:
        _ip("netns", "add", region)
        _ip("link", "add", dev_e, "type", "veth", "peer", "name", dev_r)
        _ip("link", "set", dev_e, "netns", edge)
        _ip("link", "set", dev_r, "netns", region)
        for ns, dev, ip in ((edge, dev_e, EDGE_IP), (region, dev_r, REGION_IP)):
            _ip("-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up", "multicast", "on")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield {"edge": (edge, dev_e, EDGE_IP, REGION_IP), "region": (region, dev_r, REGION_IP, EDGE_IP)}
    finally:
        for ns in (edge, region):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


UP = "as omni-ros up picks"   # the transport omni_ros.dds_env.graph_env gives this environment


@pytest.mark.parametrize("discovery,transport", [("static peer", UP),
                                                 ("subnet multicast", "UDPv4"),
                                                 ("discovery server", "UDPv4")])
def test_edge_and_region_on_two_network_hosts_over_a_veth_link(two_hosts, tmp_path, discovery,
                                                                transport):
    """Three ways to find the other host: ROS_STATIC_PEERS naming it (unicast, what works across
    routers), subnet-range multicast discovery alone (ROS 2's default range), or a Fast DDS
    discovery server on the region host (`omni-ros discovery`, ROS_DISCOVERY_SERVER). The static
    peer case runs on the transport `omni-ros up` gives an environment naming other hosts
    (DEFAULT: UDP between hosts; LARGE_DATA's TCP links between hosts sometimes never carried
    data, README "Across hosts"), the others on plain UDP."""
    domain = dds_env.isolated_env()[dds_env.DOMAIN_VAR]
    procs: list[subprocess.Popen] = []

    def start(host: str, args: list[str], **kw) -> subprocess.Popen:
        ns, _, _, peer = two_hosts[host]
        # what a user sets on each of two machines: one domain, subnet discovery, (static
        # peer) the other host; the received-bytes check below shows the data took the link
        env = {**os.environ, dds_env.DOMAIN_VAR: domain, dds_env.RANGE_VAR: "SUBNET",
               dds_env.PEERS_VAR: peer if discovery == "static peer" else ""}
        if discovery == "discovery server":
            env[dds_env.SERVER_VAR] = f"{REGION_IP}:11811"
        env.pop(dds_env.TRANSPORT_VAR, None)
        if transport != UP:
            env[dds_env.TRANSPORT_VAR] = transport
        env.update(dds_env.graph_env(env))
        if transport == UP:
            assert env[dds_env.TRANSPORT_VAR] == dds_env.ACROSS_HOSTS_TRANSPORT == "DEFAULT"
        log = open(tmp_path / f"{host}_{len(procs)}.log", "w")
        p = subprocess.Popen(["ip", "netns", "exec", ns, *_own_host_files(tmp_path / host),
                              sys.executable, *args], env=env,
                             stdout=kw.get("stdout", log), stderr=log, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        procs.append(p)
        return p

    sim = ["--ros-args", "-p", "use_sim_time:=true"]
    try:
        if discovery == "discovery server":
            start("region", ["-m", "omni_ros.cli", "discovery", "--address", REGION_IP])
        start("edge", ["-m", "omni_ros.nodes.sim_bridge", "--ros-args", "-p", "seed:=2"])
        start("edge", ["-m", "omni_ros.nodes.encoder", *sim])
        start("region", ["-m", "omni_ros.nodes.fusion", *sim])
        listener = start("region", ["-c", LISTENER], stdout=subprocess.PIPE)
        out, _ = listener.communicate(timeout=300)
        seen = json.loads(out.strip().splitlines()[-1])
        for p in procs[:-1]:
            assert p.poll() is None, f"a node exited with {p.returncode}: " + "\n".join(
                f.read_text()[-2000:] for f in tmp_path.glob("*.log"))
        if seen["complete"] < 20:
            pytest.fail(f"region listener saw {seen}; logs:\n" + "\n".join(
                f"--- {f.name}\n{f.read_text()[-1500:]}" for f in sorted(tmp_path.glob("*.log"))),
                pytrace=False)
        assert seen["modalities"] == ["camera", "lidar", "audio", "tactile", "force"]
        # the latents (and discovery) crossed the link: the region's end received them
        ns, dev, _, _ = two_hosts["region"]
        assert _rx_bytes(ns, dev) > 200_000
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGINT)
        end = time.monotonic() + 20
        for p in procs:
            try:
                p.wait(timeout=max(end - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
