"""The DDS environment of every process omni_ros starts, chosen in this one place.

Two settings decide whether two ROS 2 processes on one host see each other at all, and both are
environment variables read once, when a process creates its DDS participant:

* Fast DDS's builtin transports (``FASTDDS_BUILTIN_TRANSPORTS``). omni_ros runs on
  ``LARGE_DATA`` (TCP + shared memory for data; full-size images and clouds arrive at ~3 ms
  instead of ~13 ms, see README "Measured results"). A process left on the default transports
  does not talk to one on ``LARGE_DATA``: its topics are silently empty. ``omni-ros up`` gives
  its nodes :func:`graph_env`, and ``omni-ros doctor`` compares the shell's setting with the
  graphs running on this host (:func:`running_graphs`). Between hosts ``LARGE_DATA``'s TCP
  links sometimes never carried data (:func:`across_hosts_caveat`), so a graph whose
  environment names other hosts gets ``DEFAULT`` instead (:func:`default_transport`).
* Discovery scope: ``ROS_DOMAIN_ID``, ``ROS_AUTOMATIC_DISCOVERY_RANGE`` and
  ``ROS_STATIC_PEERS``. Tests, benchmarks and the demo publish ``/omni/action``; they run under
  :func:`isolated_env` (localhost-only discovery, no static peers, a random domain), so no robot
  on the network ever sees them.

A graph started by the launcher leaves a small record (pid, these variables) under
:func:`runtime_dir` while it runs; that is how ``doctor`` knows what a running graph uses.
Plain Python: no rclpy here.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path
from typing import Mapping

TRANSPORT_VAR = "FASTDDS_BUILTIN_TRANSPORTS"
PROJECT_TRANSPORT = "LARGE_DATA"
FASTDDS_DEFAULT = "DEFAULT"          # what Fast DDS uses when the variable is unset
RANGE_VAR = "ROS_AUTOMATIC_DISCOVERY_RANGE"
DOMAIN_VAR = "ROS_DOMAIN_ID"
PEERS_VAR = "ROS_STATIC_PEERS"
SERVER_VAR = "ROS_DISCOVERY_SERVER"
ACROSS_HOSTS_TRANSPORT = "DEFAULT"  # UDP between hosts, shared memory within one
PROFILES_VAR = "FASTDDS_DEFAULT_PROFILES_FILE"
XML_QOS_VAR = "RMW_FASTRTPS_USE_QOS_FROM_XML"
VARIABLES = (DOMAIN_VAR, RANGE_VAR, PEERS_VAR, TRANSPORT_VAR)
# Domain ids 1-101 map to valid ports for every RMW (0 is the default everyone else uses).
ISOLATED_DOMAINS = (1, 101)


def transport(env: Mapping[str, str] | None = None) -> str:
    """The builtin transports a process started with ``env`` uses (``DEFAULT`` when unset)."""
    env = os.environ if env is None else env
    return (env.get(TRANSPORT_VAR) or FASTDDS_DEFAULT).upper()


def memory_profile(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The project's Fast DDS profile (``config/fastdds.xml``: sample buffers freed after use,
    so a huge message does not stay in memory), unless the user set a profiles file."""
    env = os.environ if env is None else env
    if env.get(PROFILES_VAR):
        return {}
    from .launcher import LaunchError, resolve_config  # the launcher imports this module
    try:
        return {PROFILES_VAR: str(resolve_config("fastdds.xml")), XML_QOS_VAR: "1"}
    except LaunchError:
        return {}


def names_other_hosts(env: Mapping[str, str] | None = None) -> bool:
    """Whether ``env`` points discovery at other hosts (static peers or a discovery server)."""
    env = os.environ if env is None else env
    return bool(env.get(PEERS_VAR) or env.get(SERVER_VAR))


def default_transport(env: Mapping[str, str] | None = None) -> str:
    """The transport omni_ros gives a graph whose user exported none: ``LARGE_DATA`` on one
    host, ``DEFAULT`` (UDP between hosts, shared memory within one) when ``env`` names other
    hosts (:func:`across_hosts_caveat` says why)."""
    return ACROSS_HOSTS_TRANSPORT if names_other_hosts(env) else PROJECT_TRANSPORT


def graph_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Variables for the processes of an omni_ros graph on top of ``env`` (default: this
    process's): :func:`default_transport`, unless the user exported one on purpose (then every
    node gets the user's, so the graph stays consistent with the user's other processes), and
    the project's memory profile (:func:`memory_profile`)."""
    env = os.environ if env is None else env
    return {TRANSPORT_VAR: env.get(TRANSPORT_VAR) or default_transport(env), **memory_profile(env)}


def across_hosts_caveat(env: Mapping[str, str] | None = None) -> str:
    """'' unless ``env`` points at other hosts (``ROS_STATIC_PEERS`` or
    ``ROS_DISCOVERY_SERVER`` set) while on ``LARGE_DATA``; then why that is a poor pair, and
    what to export instead. Between two hosts, Fast DDS 3.2's ``LARGE_DATA`` TCP connection was
    established but sometimes never carried data for one pair of nodes (5 of 47 starts of
    ``tests/test_multihost.py`` on a loaded 2-core host; 0 of 40 over UDP)."""
    env = os.environ if env is None else env
    if transport(env) != PROJECT_TRANSPORT or not names_other_hosts(env):
        return ""
    return (f"{TRANSPORT_VAR}={PROJECT_TRANSPORT} with other hosts named ({PEERS_VAR}/"
            f"{SERVER_VAR}): between hosts its TCP links sometimes never carry data (Fast DDS "
            f"3.2); `export {TRANSPORT_VAR}={ACROSS_HOSTS_TRANSPORT}` on every host of this graph")


def isolated_env(domain_id: int | None = None) -> dict[str, str]:
    """Variables that keep a graph on this host and off every other ROS 2 graph: localhost-only
    discovery, no static peers, domain ``domain_id`` (default: a random one in 1-101) and the
    project's transport. For tests, benchmarks and the demo."""
    if domain_id is None:
        domain_id = random.SystemRandom().randint(*ISOLATED_DOMAINS)
    return {**memory_profile(), DOMAIN_VAR: str(domain_id), RANGE_VAR: "LOCALHOST", PEERS_VAR: "",
            TRANSPORT_VAR: PROJECT_TRANSPORT}


def isolate() -> dict[str, str]:
    """Put this process (and every child it starts) under :func:`isolated_env`, keeping a
    domain already chosen by an isolated parent. Call before rclpy creates a participant."""
    keep = (int(os.environ[DOMAIN_VAR]) if os.environ.get(RANGE_VAR) == "LOCALHOST"
            and os.environ.get(DOMAIN_VAR, "").isdigit() else None)
    chosen = isolated_env(keep)
    os.environ.update(chosen)
    return chosen


def settings(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The discovery-relevant variables of ``env``, unset ones as their effective defaults."""
    env = os.environ if env is None else env
    return {DOMAIN_VAR: env.get(DOMAIN_VAR) or "0", RANGE_VAR: env.get(RANGE_VAR) or "SUBNET",
            PEERS_VAR: env.get(PEERS_VAR) or "", TRANSPORT_VAR: transport(env)}


def describe(env: Mapping[str, str] | None = None) -> str:
    """One line: the domain, discovery range, static peers and transport of ``env``."""
    return " ".join(f"{k}={v or '(none)'}" for k, v in settings(env).items())


def runtime_dir() -> Path:
    """Where running graphs leave their records (per user)."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"omni_ros-{os.getuid()}" / "graphs"


def record_graph(env: Mapping[str, str], nodes: list[str]) -> Path:
    """Write this process's graph record (removed by :func:`forget_graph`)."""
    d = runtime_dir()
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{os.getpid()}.json"
    path.write_text(json.dumps({"pid": os.getpid(), "nodes": nodes, **settings(env)}))
    return path


def forget_graph(path: Path | None) -> None:
    if path is not None:
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_graphs() -> list[dict]:
    """Records of the graphs whose launcher still runs (stale records are deleted)."""
    out = []
    d = runtime_dir()
    for path in sorted(d.glob("*.json")) if d.is_dir() else []:
        try:
            rec = json.loads(path.read_text())
            pid = int(rec["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if _alive(pid):
            out.append(rec)
        else:
            path.unlink(missing_ok=True)
    return out


def mismatches(env: Mapping[str, str] | None = None) -> list[str]:
    """Why a process started with ``env`` would not see a running graph (or, when none runs,
    would not match the transport omni_ros would give it, :func:`default_transport`); empty
    when it would."""
    mine = settings(env)
    graphs = running_graphs()
    if not graphs:
        want = default_transport(env)   # (LARGE_DATA with other hosts: across_hosts_caveat)
        if mine[TRANSPORT_VAR] not in {want, PROJECT_TRANSPORT}:
            return [f"{TRANSPORT_VAR} is {mine[TRANSPORT_VAR]} here but omni_ros graphs run on "
                    f"{want}: `export {TRANSPORT_VAR}={want}` before "
                    f"`ros2 topic echo` and other tools, or they see silent topics"]
        return []
    out = []
    for g in graphs:
        diff = [f"{k}={g.get(k)!r} (here {mine[k]!r})" for k in VARIABLES if g.get(k) != mine[k]]
        if diff:
            out.append(f"graph of pid {g['pid']} ({', '.join(g.get('nodes', []))}) uses "
                       + ", ".join(diff) + ": export the same here to see its topics")
    return out


if __name__ == "__main__":  # `python -m omni_ros.dds_env`: this shell's settings, one line
    print(describe())
