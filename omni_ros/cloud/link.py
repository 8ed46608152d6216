"""Zenoh sessions and key expressions of the cloud tier (plain Python + zenoh, no rclpy).

The cloud listens as a Zenoh router; a robot's gateway is a peer that connects to it and never
waits for it: ``open`` returns at once and the connection is retried in the background every
``RETRY_MAX_MS`` at most, so the link comes back within about a second of the cloud being
reachable again. Multicast scouting is off on both sides: a session talks only to the endpoints
it is given (tests and benches stay on this host).
"""

from __future__ import annotations

import json
import re

UP = "omni/{robot}/up{topic}"          # a ROS topic's messages sent up (topic starts with /)
UP_ALL = "omni/*/up/**"
QUESTION = "omni/cloud/{name}"         # a question to the cloud (JSON in, JSON out)
QUESTIONS = ("objects", "status", "command")   # what the cloud answers
DEFAULT_LISTEN = "tcp/0.0.0.0:7447"    # where `omni-ros cloud` listens unless told
MAX_QUESTION = 64 << 10                # bytes of a question's payload; larger ones are refused
RETRY_INIT_MS, RETRY_MAX_MS = 200, 500
ROBOT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _config(mode: str, connect=(), listen=()):
    import zenoh

    c = zenoh.Config()
    c.insert_json5("mode", json.dumps(mode))
    c.insert_json5("connect/endpoints", json.dumps(list(connect)))
    c.insert_json5("listen/endpoints", json.dumps(list(listen)))
    c.insert_json5("scouting/multicast/enabled", "false")
    c.insert_json5("connect/exit_on_failure", "false")
    c.insert_json5("connect/retry", json.dumps({"period_init_ms": RETRY_INIT_MS,
                                                "period_max_ms": RETRY_MAX_MS,
                                                "period_increase_factor": 1.5}))
    return c


def open_cloud(listen: list[str]):
    """The cloud's session: a Zenoh router listening on ``listen`` (e.g. tcp/0.0.0.0:7447)."""
    import zenoh

    return zenoh.open(_config("router", listen=listen))


def open_gateway(connect: list[str]):
    """A robot's session: a peer connecting to the cloud at ``connect``, retried in the
    background (returns without the cloud)."""
    import zenoh

    return zenoh.open(_config("peer", connect=connect))


def connected(session) -> bool:
    """True while the session has a router (the cloud) to talk to."""
    return any(True for _ in session.info.routers_zid())


ENDPOINT = re.compile(r"^[a-z][a-z0-9-]*/\S+$")


def check_endpoint(endpoint: str) -> str:
    """A Zenoh endpoint ``<protocol>/<address>`` (e.g. tcp/10.0.0.5:7447); ValueError if not."""
    if not ENDPOINT.match(endpoint):
        raise ValueError(f"{endpoint!r} is not a Zenoh endpoint <protocol>/<address>, e.g. "
                         "tcp/10.0.0.5:7447")
    return endpoint


def local_endpoint(listen: str) -> str:
    """Where a process on the same host reaches a cloud listening on ``listen``: a wildcard
    address (0.0.0.0, [::]) becomes the loopback one (127.0.0.1, [::1])."""
    proto, _, address = listen.partition("/")
    host, sep, port = address.rpartition(":")
    if sep and host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif sep and host in ("[::]", "::"):
        host = "[::1]"
    return f"{proto}/{host}{sep}{port}" if sep else listen


def check_robot(name: str) -> str:
    if not ROBOT_NAME.match(name):
        raise ValueError(f"robot name {name!r}: 1-64 letters, digits, '_' or '-' (it is a Zenoh "
                         "key segment)")
    return name


def robot_of(key: str) -> str:
    """The robot a key ``omni/<robot>/up/...`` came from."""
    return key.split("/", 2)[1]


def topic_of(key: str) -> str:
    """The ROS topic of a key ``omni/<robot>/up/<topic>``."""
    return "/" + key.split("/up/", 1)[1]
