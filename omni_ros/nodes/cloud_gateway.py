"""cloud_gateway: a robot's (region's) link to the cloud tier over Zenoh (``omni-ros cloud``).

Started by hand (``cloud_gateway --ros-args -p "connect:=['tcp/HOST:7447']"``), or by
``omni-ros up --tier region --cloud tcp/HOST:7447`` (``ros2 launch omni_ros tiers.launch.py
tier:=region cloud:=tcp/HOST:7447``), which sets ``connect``; with the cloud tier on the same
host (``--tier edge,region,cloud``) it connects to the local cloud.

Up: each topic in ``up_topics`` is received as its CDR bytes (no decoding) and sent to the cloud
as ``omni/<robot>/up/<topic>`` with its type name, at most ``up_rate_hz`` messages per second per
topic (the rest are skipped and counted). Questions: a JSON object on /omni/cloud/ask
(std_msgs/String, e.g. ``{"id": 7, "question": "objects", "description": "red cube"}``, or
``{"id": "teleop-...-3", "question": "command", "text": "fetch the azure orb"}`` - teleop's
``cloud_lexicon``) is asked on a worker thread and answered on /omni/cloud/answer
(std_msgs/String JSON: ``id`` as asked, ``question``, ``status`` = ok | timeout | unreachable |
error | busy, ``answer`` or ``error``, ``elapsed_s``). Every node sees every answer: askers
match them by ``id`` (:class:`omni_ros.cloud.asker.CloudAsker`).

Nothing here waits on the cloud: sending is a non-blocking Zenoh put (dropped while the link is
down, counted), questions are asked off the executor thread with ``answer_timeout_s``, and the
Zenoh session reconnects in the background (about every 0.5 s) when the cloud is back.
/diagnostics reports the link (up / down), what was sent, skipped or sent while down, and the
answers by status. Perception, teleop and action never depend on this node.
"""

from __future__ import annotations

import json
import queue
import socket
import sys
import threading
import time
from dataclasses import dataclass

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from omni_ros_msgs.msg import SceneUnderstanding, TaskStatus
from rclpy.node import Node
from std_msgs.msg import String

from ..cloud import link
from ..cloud.server import type_name
from ..core.config import ConfigError, param
from ..core.errors import InputError
from .common import RELIABLE_QOS, GuardedInputs, spin_node
from .params import declare_config

# The topics a gateway can send up, with their types (the cloud reads these).
UP_TYPES = {"/omni/scene": SceneUnderstanding, "/omni/task_status": TaskStatus}
MAX_PENDING = 16  # questions waiting for the worker; more are answered "busy" at once


@dataclass
class CloudGatewayConfig:
    robot: str = param("", "this robot's name in the fleet (a Zenoh key segment: letters, digits, "
                       "_ or -); '' = the host name")
    connect: list[str] = param(["tcp/127.0.0.1:7447"], "Zenoh endpoints of the cloud (its "
                               "omni-ros cloud --listen)")
    up_topics: list[str] = param(["/omni/scene"], "topics sent to the cloud",
                                 choices=tuple(UP_TYPES))
    up_rate_hz: list[float] = param([2.0], "most messages per second sent of each up topic: one "
                                    "value per topic, or one for all", min=0.01, max=1000.0)
    answer_timeout_s: float = param(1.0, "a question without an answer within this gets status "
                                    "'timeout' [s]", min=0.05, max=60.0)


def parse_question(msg: String) -> dict:
    """The JSON object of a /omni/cloud/ask message; InputError if it is not one or names no
    question the cloud answers."""
    try:
        q = json.loads(msg.data)
    except ValueError as err:
        raise InputError("data", f"not JSON: {err}") from None
    if not isinstance(q, dict) or q.get("question") not in link.QUESTIONS:
        raise InputError("data", f"must be a JSON object with question one of "
                         f"{', '.join(link.QUESTIONS)}")
    return q


class CloudGatewayNode(Node):
    def __init__(self, **kwargs):
        super().__init__("cloud_gateway", **kwargs)
        self.cfg = cfg = declare_config(self, CloudGatewayConfig)
        rates = cfg.up_rate_hz
        if len(rates) not in (1, len(cfg.up_topics)):
            raise ConfigError(f"parameter 'up_rate_hz': {len(rates)} values for "
                              f"{len(cfg.up_topics)} up_topics: give one, or one per topic")
        try:
            self.robot = link.check_robot(cfg.robot or socket.gethostname().split(".")[0])
        except ValueError as err:
            raise ConfigError(f"parameter 'robot': {err}") from None
        self.session = link.open_gateway(cfg.connect)
        self.counts = {k: 0 for k in ("sent", "skipped_rate", "sent_link_down")}
        self.answers: dict[str, int] = {}
        self.link_up = link.connected(self.session)
        self.last_sent: dict[str, float] = {}
        self.period = {t: 1.0 / (rates[i] if len(rates) > 1 else rates[0])
                       for i, t in enumerate(cfg.up_topics)}
        self.publishers_ = {}
        for topic in cfg.up_topics:
            msg_type = UP_TYPES[topic]
            self.publishers_[topic] = (self.session.declare_publisher(
                link.UP.format(robot=self.robot, topic=topic)), type_name(msg_type).encode())
            self.create_subscription(msg_type, topic, lambda data, t=topic: self._up(t, data),
                                     RELIABLE_QOS, raw=True)
        self.answer_pub = self.create_publisher(String, "/omni/cloud/answer", RELIABLE_QOS)
        self.guard = GuardedInputs(self)
        self.guard.extra_statuses = self._status
        self.guard.subscribe("ask", String, "/omni/cloud/ask", parse_question, self._on_ask,
                             RELIABLE_QOS)
        self.pending: queue.Queue = queue.Queue(MAX_PENDING)
        self.stopping = threading.Event()
        self.worker = threading.Thread(target=self._ask_loop, name="cloud-ask", daemon=True)
        self.worker.start()
        self.get_logger().info(f"robot {self.robot!r} -> cloud at {', '.join(cfg.connect)} "
                               f"(link {'up' if self.link_up else 'down, retrying'}); sending "
                               + ", ".join(f"{t} at <= {1 / p:g} Hz" for t, p in self.period.items()))

    # --- up ---------------------------------------------------------------------------------------
    def _up(self, topic: str, data: bytes) -> None:
        now = time.monotonic()
        if now - self.last_sent.get(topic, -1e9) < self.period[topic]:
            self.counts["skipped_rate"] += 1
            return
        self.last_sent[topic] = now
        publisher, type_name = self.publishers_[topic]
        publisher.put(data, attachment=type_name)   # non-blocking; dropped while the link is down
        self.counts["sent" if self.link_up else "sent_link_down"] += 1

    # --- questions --------------------------------------------------------------------------------
    def _on_ask(self, key: str, question: dict, msg) -> None:
        try:
            self.pending.put_nowait((question, time.monotonic()))
        except queue.Full:
            self._reply(question, "busy", time.monotonic(),
                        error=f"{MAX_PENDING} questions already waiting")

    def _ask_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                question, t0 = self.pending.get(timeout=0.2)
            except queue.Empty:
                continue
            name = question["question"]
            args = {k: v for k, v in question.items() if k not in ("id", "question")}
            try:
                replies = list(self.session.get(link.QUESTION.format(name=name),
                                                payload=json.dumps(args).encode(),
                                                timeout=self.cfg.answer_timeout_s))
            except Exception as err:  # a closed session at shutdown, a Zenoh error
                self._reply(question, "error", t0, error=f"{type(err).__name__}: {err}")
                continue
            ok = [r.ok for r in replies if r.ok is not None]
            if ok:
                self._reply(question, "ok", t0, answer=json.loads(ok[0].payload.to_bytes()))
            elif replies:
                self._reply(question, "error", t0, error=replies[0].err.payload.to_bytes().decode())
            elif link.connected(self.session):
                self._reply(question, "timeout", t0,
                            error=f"no answer within {self.cfg.answer_timeout_s:g} s")
            else:
                self._reply(question, "unreachable", t0, error="the cloud link is down "
                            f"({', '.join(self.cfg.connect)}); retrying in the background")

    def _reply(self, question: dict, status: str, t0: float, answer=None, error: str = "") -> None:
        self.answers[status] = self.answers.get(status, 0) + 1
        out = {"id": question.get("id"), "question": question.get("question"), "status": status,
               "elapsed_s": round(time.monotonic() - t0, 4)}
        out.update({"answer": answer} if status == "ok" else {"error": error})
        self.answer_pub.publish(String(data=json.dumps(out)))

    # --- diagnostics ------------------------------------------------------------------------------
    def _status(self) -> list[DiagnosticStatus]:
        up = link.connected(self.session)
        if up != self.link_up:
            self.get_logger().info(f"cloud link {'up' if up else 'down: retrying'}")
        self.link_up = up
        values = {"robot": self.robot, "link": "up" if up else "down", **self.counts,
                  **{f"answers.{k}": v for k, v in self.answers.items()}}
        return [DiagnosticStatus(level=DiagnosticStatus.OK if up else DiagnosticStatus.WARN,
                                 name=f"{self.get_name()}: cloud link", hardware_id=self.get_name(),
                                 message="cloud link up" if up else "cloud link down (retrying)",
                                 values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])]

    def destroy_node(self):
        if getattr(self, "stopping", None) is not None:
            self.stopping.set()
            self.worker.join(timeout=5.0)
        if getattr(self, "session", None) is not None:
            self.session.close()
        return super().destroy_node()


def main(args=None) -> int:
    return spin_node(CloudGatewayNode, args)


if __name__ == "__main__":
    sys.exit(main())
