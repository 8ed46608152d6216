"""The cloud tier over Zenoh: what needs global context, shared by a fleet of robots.

Each robot's region runs a ``cloud_gateway`` node (:mod:`omni_ros.nodes.cloud_gateway`): it
sends chosen ROS topics up as their CDR bytes (rate-limited per topic) and forwards questions
from ROS to the cloud and the answers back. ``omni-ros cloud`` (:mod:`.server`) is the cloud: a
Zenoh router that turns the bytes back into messages without a ROS graph and keeps a fleet-wide
object memory across robots and episodes (:mod:`.memory`). Nothing in a robot's graph waits on
the cloud: with the link down the gateway keeps dropping what it would send and answers time
out with a clear status; Zenoh reconnects by itself when the link returns.

Key expressions (:mod:`.link`): ``omni/<robot>/up/<topic>`` (the message type name in the
attachment) and ``omni/cloud/<question>`` (a JSON payload in, JSON out).
"""
