"""The Foxglove WebSocket protocol (``foxglove.websocket.v1``) for the Foxglove app: one channel
per ROS topic, ``message_encoding`` ``cdr`` with the type's ``ros2msg`` schema text (what
``ros2 bag`` writes into MCAP), so the app decodes the messages as ROS messages."""

from __future__ import annotations

import foxglove


class FoxgloveOut:
    """A Foxglove WebSocket server on ``host``:``port`` with its own context (nothing else that
    logs through foxglove's global context reaches it). Counts clients subscribed per topic."""

    def __init__(self, host: str, port: int, name: str = "omni_ros"):
        self.context = foxglove.Context()
        self.subscribed: dict[str, int] = {}
        out = self

        class Listener(foxglove.ServerListener):
            def on_subscribe(self, client, channel) -> None:
                out.subscribed[channel.topic] = out.subscribed.get(channel.topic, 0) + 1

            def on_unsubscribe(self, client, channel) -> None:
                out.subscribed[channel.topic] = max(0, out.subscribed.get(channel.topic, 0) - 1)

        self.server = foxglove.start_server(name=name, host=host, port=port,
                                            context=self.context, server_listener=Listener())
        self.port = self.server.port
        self.url = f"ws://{host}:{self.port}"
        self._channels: dict[str, foxglove.Channel] = {}

    def add_topic(self, topic: str, type_name: str, definition: str) -> None:
        """Advertise ``topic`` of ROS type ``type_name`` (``pkg/msg/Type``) whose ``ros2msg``
        schema text is ``definition``."""
        schema = foxglove.Schema(name=type_name, encoding="ros2msg", data=definition.encode())
        self._channels[topic] = foxglove.Channel(topic, schema=schema, message_encoding="cdr",
                                                 context=self.context)

    def wanted(self, topic: str) -> bool:
        """Whether a client is subscribed to ``topic`` (spares serialising for nobody)."""
        return topic in self._channels and self.subscribed.get(topic, 0) > 0

    def publish(self, topic: str, cdr: bytes, log_time_ns: int) -> None:
        self._channels[topic].log(cdr, log_time=log_time_ns)

    def close(self) -> None:
        self.server.stop()
