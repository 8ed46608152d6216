"""``omni-ros cloud``: the fleet's cloud process, a Zenoh router without a ROS graph.

It receives what each robot's ``cloud_gateway`` sends up (CDR bytes of ROS messages, the type
name in the Zenoh attachment), turns them back into messages with rclpy's serialization (no
node, no DDS) and keeps the fleet's object memory (:mod:`.memory`) from every scene. It answers
``omni/cloud/objects`` ({"description": "red cube", "robot": ""} -> the newest sightings of
matching objects per robot, across robots) and ``omni/cloud/status`` (robots, scenes, messages
refused). A payload that is not a message of its type, too large or of an unknown type is
refused, counted and logged; the process keeps serving.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from . import link
from .memory import FleetMemory

log = logging.getLogger("omni_ros.cloud")
MAX_PAYLOAD = 16 << 20   # bytes; larger messages are refused before deserializing
MAX_COUNTED = 1024       # robots counted by name; more are counted together as "(others)"


def type_name(msg_type: type) -> str:
    """A message class's ROS type name, e.g. omni_ros_msgs/msg/SceneUnderstanding (what a
    gateway puts in the attachment)."""
    return f"{msg_type.__module__.split('.')[0]}/msg/{msg_type.__name__}"


def message_types() -> dict[str, type]:
    """The message types robots may send up, by ROS type name."""
    from omni_ros_msgs.msg import SceneUnderstanding, TaskStatus

    return {type_name(t): t for t in (SceneUnderstanding, TaskStatus)}


class CloudServer:
    def __init__(self, listen: list[str], memory: FleetMemory | None = None):
        self.memory = memory or FleetMemory()
        self.types = message_types()
        self.received: dict[str, int] = {}
        self.refused: dict[str, int] = {}
        self._lock = threading.Lock()
        self.session = link.open_cloud(listen)
        self._entities = [
            self.session.declare_subscriber(link.UP_ALL, self._on_up),
            *(self.session.declare_queryable(link.QUESTION.format(name=q),
                                             lambda query, q=q: self._answer(q, query))
              for q in link.QUESTIONS)]

    def close(self) -> None:
        for e in self._entities:
            e.undeclare()
        self.session.close()

    def _count(self, book: dict, key: str) -> None:
        with self._lock:
            if key not in book and len(book) >= MAX_COUNTED:  # memory does not grow with names
                key = "(others)"
            book[key] = book.get(key, 0) + 1

    def _on_up(self, sample) -> None:
        """(a Zenoh thread) one message from a robot."""
        from rclpy.serialization import deserialize_message

        key = str(sample.key_expr)
        robot = link.robot_of(key)
        try:
            type_name = sample.attachment.to_bytes().decode() if sample.attachment else ""
            msg_type = self.types.get(type_name)
            if msg_type is None:
                raise ValueError(f"type {type_name!r} is not one the cloud reads "
                                 f"({', '.join(self.types)})")
            payload = sample.payload.to_bytes()
            if len(payload) > MAX_PAYLOAD:
                raise ValueError(f"{len(payload)} bytes, at most {MAX_PAYLOAD}")
            msg = deserialize_message(payload, msg_type)
        except Exception as err:  # bad bytes or type: refused, counted, the cloud keeps serving
            self._count(self.refused, robot)
            log.warning("refused %s from %s: %s", key, robot, err)
            return
        self._count(self.received, robot)
        if type_name.endswith("SceneUnderstanding"):
            stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
            objects = [(o.id, o.shape, o.color,
                        (o.pose.position.x, o.pose.position.y, o.pose.position.z))
                       for o in msg.objects]
            self.memory.add_scene(robot, msg.header.frame_id, stamp, objects, time.time())

    def _answer(self, question: str, query) -> None:
        """(a Zenoh thread) answer one question; a malformed one gets an error reply."""
        try:
            args = json.loads(query.payload.to_bytes() or b"{}") if query.payload else {}
            if not isinstance(args, dict):
                raise ValueError("the question's payload must be a JSON object")
            if question == "objects":
                answer = {"sightings": self.memory.find(str(args.get("description", "")),
                                                        str(args.get("robot", "")))}
            else:
                with self._lock:
                    answer = {"robots": self.memory.robots(), "scenes": self.memory.scenes,
                              "received": dict(self.received), "refused": dict(self.refused)}
            query.reply(query.key_expr, json.dumps(answer).encode())
        except Exception as err:
            query.reply_err(json.dumps({"error": f"{type(err).__name__}: {err}"}).encode())


def serve(listen: list[str], ready=None, stop: threading.Event | None = None) -> None:
    """Run the cloud until ``stop`` is set (or Ctrl-C); ``ready()`` once it listens."""
    server = CloudServer(listen)
    try:
        if ready is not None:
            ready()
        (stop or threading.Event()).wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
