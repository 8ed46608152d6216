"""Session recordings for ``omni-ros explain``: the fused scenes (/omni/scene), the operator's
commands (/omni/teleop), the primitives (/omni/action) and the task status (/omni/task_status)
in an MCAP file (``ros2msg`` schemas, CDR: ``ros2 bag`` and Foxglove read it, and
``ros2 bag record -s mcap`` of those topics is read back here the same way).

:class:`SessionRecorder` adds the subscriptions to a running node (``omni-ros demo`` records
with it); :func:`read_session` turns a recording into the ROS-free :class:`omni_ros.core.model.explain.Trace`.
Times on the trace are the messages' header stamps (sim time in the sim), in seconds from the
first scene.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import conversions as cv
from ..conversions.errors import ConversionError
from ..core.model.explain import Mark, Trace
from .mcap_io import McapWriter, import_type, read_messages

SCENE_TOPIC = "/omni/scene"
SESSION_TOPICS = {  # topic: message type name (pkg/msg/Type)
    SCENE_TOPIC: "omni_ros_msgs/msg/SceneUnderstanding",
    "/omni/teleop": "omni_ros_msgs/msg/TeleopCommand",
    "/omni/action": "omni_ros_msgs/msg/PrimitiveCommand",
    "/omni/task_status": "omni_ros_msgs/msg/TaskStatus",
}
TERMINAL = ("succeeded", "failed", "rejected", "stopped")


class SessionRecorder:
    """Subscribes ``node`` to :data:`SESSION_TOPICS` (reliable, depth 10) and writes every
    message received to the MCAP file ``path`` (log time: the node's clock when received).
    Messages arrive while the node is spun; :meth:`close` when done."""

    def __init__(self, node, path: Path):
        from ..nodes.common import RELIABLE_QOS

        self.node, self.path = node, Path(path)
        self.writer = McapWriter(self.path)
        self.count = 0
        self.subs = [node.create_subscription(import_type(name), topic,
                                              lambda m, tp=topic: self._write(tp, m), RELIABLE_QOS)
                     for topic, name in SESSION_TOPICS.items()]

    def _write(self, topic: str, msg) -> None:
        if self.writer is not None:
            self.writer.write(topic, msg, self.node.get_clock().now().nanoseconds)
            self.count += 1

    def close(self) -> Path:
        for sub in self.subs:
            self.node.destroy_subscription(sub)
        self.subs = []
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        return self.path


@dataclass
class Session:
    """What a recording held: the trace, and what was skipped (count per reason)."""

    trace: Trace
    messages: dict[str, int] = field(default_factory=dict)   # per topic
    skipped: dict[str, int] = field(default_factory=dict)    # per reason
    commands: list[str] = field(default_factory=list)        # what the operator said / typed


def read_session(path: Path, scene_topic: str = SCENE_TOPIC) -> Session:
    """The router's decisions on ``scene_topic`` and the events around them. Scenes that fail
    the message checks (:func:`omni_ros.conversions.msg_to_scene`) or name other modalities
    than the first scene are skipped and counted. ValueError if no scene is left."""
    scenes, marks_ns, messages, skipped, commands = [], [], {}, {}, []

    def skip(reason: str) -> None:
        skipped[reason] = skipped.get(reason, 0) + 1

    for topic, msg, _ in read_messages(Path(path)):
        messages[topic] = messages.get(topic, 0) + 1
        kind = type(msg).__name__
        if topic == scene_topic and kind == "SceneUnderstanding":
            try:
                s = cv.msg_to_scene(msg)
            except ConversionError as err:
                skip(f"malformed scene: {err}")
                continue
            if scenes and s.modalities != scenes[0].modalities:
                skip(f"scene names modalities {s.modalities}, not {scenes[0].modalities}")
                continue
            scenes.append(s)
            marks_ns += [(e.stamp_ns, e.kind, e.object_id) for e in s.events]
        elif kind == "TeleopCommand":
            marks_ns.append((cv.stamp_to_ns(msg.header.stamp), "command", msg.raw_text or msg.intent))
            commands.append(msg.raw_text)
        elif kind == "TaskStatus" and msg.state in TERMINAL:
            why = f": {msg.reason}" if msg.reason else ""
            marks_ns.append((cv.stamp_to_ns(msg.header.stamp), "status",
                             f"{msg.intent} {msg.state}{why}"))
    if not scenes:
        raise ValueError(f"{path}: no {scene_topic} scene (topics: {sorted(messages) or 'none'})")
    scenes.sort(key=lambda s: s.stamp_ns)
    t0 = scenes[0].stamp_ns
    t = np.array([(s.stamp_ns - t0) / 1e9 for s in scenes])
    contact = np.array([s.in_contact for s in scenes])
    # touch began / ended, as perception saw it
    for k in np.flatnonzero(np.diff(contact.astype(int)) != 0) + 1:
        marks_ns.append((scenes[k].stamp_ns, "contact" if contact[k] else "contact_end", ""))
    marks = sorted((Mark((ns - t0) / 1e9, kind, label) for ns, kind, label in marks_ns),
                   key=lambda m: m.t_s)
    trace = Trace(modalities=list(scenes[0].modalities), t_s=t,
                  present=np.array([s.present for s in scenes], bool),
                  gates=np.array([s.gate_weights for s in scenes]),
                  contributions=np.array([s.contributions for s in scenes]),
                  in_contact=contact, marks=marks, source=Path(path).name)
    return Session(trace, messages, skipped, commands)
