"""Helpers shared by tests."""

import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_py(*args, timeout=120, env=None, **kw) -> subprocess.CompletedProcess:
    """Run ``python args...`` with this interpreter from the repo root, capturing text output."""
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT, **kw)


def call_service(client, request, spin_once, timeout_s: float = 120.0, attempt_s: float = 15.0):
    """Call a ROS service and return its response, waiting on events, not on time.

    A reply can be lost when the server answers before it has discovered the client's reply
    reader (both sides say "ready" at different moments; seen on loaded machines). So the
    request is sent again every ``attempt_s`` until a reply arrives or ``timeout_s`` passes.
    Only for requests that are safe to repeat. ``spin_once()`` spins the client's executor once.
    """
    import time

    end = time.monotonic() + timeout_s
    assert client.wait_for_service(timeout_sec=timeout_s), f"{client.srv_name}: no server"
    while time.monotonic() < end:
        future = client.call_async(request)
        retry = min(end, time.monotonic() + attempt_s)
        while not future.done() and time.monotonic() < retry:
            spin_once()
        if future.done():
            return future.result()
        client.remove_pending_request(future)
    raise AssertionError(f"{client.srv_name}: no reply in {timeout_s:g} s")


def scene_after_one_second(model, seed: int = 3):
    """The scene the live pipeline (no ROS) fuses for ``model`` from the first second of sim
    episode ``seed``'s streams."""
    from omni_ros.core.perception.pipeline import Perception
    from omni_ros.dataset.generate import episode_items
    from omni_ros_sim.config import SimConfig

    pipe = Perception(model)
    items = episode_items(seed, SimConfig())
    for key, stamp, payload in items:
        pipe.push(key, stamp, payload)
        if stamp > 1.0e9:
            break
    items.close()
    return pipe.fuse(stamp)


def node_entities(node) -> tuple:
    """(subscription topics, publisher topics, timer count, guard condition count) of an rclpy
    node: what a lifecycle node's configure makes and its cleanup must undo."""
    return (sorted(s.topic_name for s in node.subscriptions),
            sorted(p.topic_name for p in node.publishers), len(list(node.timers)),
            len(list(node.guards)))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
