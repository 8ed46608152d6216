"""MCAP files of ROS 2 messages (``ros2msg`` schemas, CDR payloads), as ``ros2 bag`` and Foxglove
read them: a writer for the topics we publish and a reader that yields rclpy messages."""

from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path
from typing import Iterator

from mcap.reader import make_reader
from mcap.writer import Writer
from rclpy.serialization import deserialize_message, serialize_message

PRIMITIVES = {"bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16",
              "int32", "uint32", "int64", "uint64", "string", "wstring"}
SEPARATOR = "=" * 80


def type_name(msg_type: type) -> str:
    """``pkg/msg/Type`` of a generated message class."""
    pkg = msg_type.__module__.split(".")[0]
    return f"{pkg}/msg/{msg_type.__name__}"


def _share_dirs() -> list[Path]:
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    return [Path(p) / "share" for p in prefixes + [sys.prefix]]


def _msg_file(pkg: str, name: str) -> str:
    for share in _share_dirs():
        f = share / pkg / "msg" / f"{name}.msg"
        if f.exists():
            return f.read_text()
    raise FileNotFoundError(f"no definition of {pkg}/msg/{name} under {_share_dirs()}")


def _dependencies(pkg: str, text: str) -> list[tuple[str, str]]:
    deps = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        base = re.sub(r"<=\d+$", "", re.sub(r"\[.*\]$", "", line.split()[0]))  # drop [N], <=N
        if base in PRIMITIVES:
            continue
        dep_pkg, _, dep = base.rpartition("/")
        deps.append((dep_pkg or pkg, dep))
    return deps


def message_definition(msg_type: type) -> str:
    """The ros2msg schema text: the type's .msg, then every dependency after a separator line."""
    pkg, _, name = type_name(msg_type).split("/")
    root = _msg_file(pkg, name)
    seen, order, todo = set(), [], _dependencies(pkg, root)
    while todo:
        dep = todo.pop(0)
        if dep in seen:
            continue
        seen.add(dep)
        text = _msg_file(*dep)
        order.append((dep, text))
        todo += _dependencies(dep[0], text)
    parts = [root] + [f"{SEPARATOR}\nMSG: {p}/{n}\n{t}" for (p, n), t in order]
    return "\n".join(parts)


class McapWriter:
    """Writes rclpy messages, serialized as CDR, under one channel per topic."""

    def __init__(self, path: Path):
        self._file = open(path, "wb")
        self._writer = Writer(self._file)
        self._writer.start(profile="ros2", library="omni_ros")
        self._schemas: dict[type, int] = {}
        self._channels: dict[str, int] = {}
        self._sequence = 0

    def write(self, topic: str, msg, log_time_ns: int) -> None:
        msg_type = type(msg)
        if msg_type not in self._schemas:
            self._schemas[msg_type] = self._writer.register_schema(
                name=type_name(msg_type), encoding="ros2msg",
                data=message_definition(msg_type).encode())
        if topic not in self._channels:
            self._channels[topic] = self._writer.register_channel(
                topic=topic, message_encoding="cdr", schema_id=self._schemas[msg_type])
        self._writer.add_message(channel_id=self._channels[topic], log_time=log_time_ns,
                                 publish_time=log_time_ns, sequence=self._sequence,
                                 data=serialize_message(msg))
        self._sequence += 1

    def close(self) -> None:
        if self._file is not None:
            self._writer.finish()
            self._file.close()
            self._file = None


def import_type(name: str) -> type:
    """The rclpy message class of a ROS type name, ``pkg/msg/Type``."""
    pkg, kind, cls = name.split("/")
    return getattr(importlib.import_module(f"{pkg}.{kind}"), cls)


def read_messages(path: Path) -> Iterator[tuple[str, object, int]]:
    """(topic, rclpy message, log time [ns]) for every message, in the file's write order."""
    types: dict[int, type] = {}
    with open(path, "rb") as f:
        for schema, channel, message in make_reader(f).iter_messages(log_time_order=False):
            if schema.id not in types:
                types[schema.id] = import_type(schema.name)
            yield channel.topic, deserialize_message(message.data, types[schema.id]), message.log_time
