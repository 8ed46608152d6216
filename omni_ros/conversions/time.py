"""Stamps and headers: ``builtin_interfaces/Time`` <-> integer nanoseconds.

Core code keeps time as integer nanoseconds (exact, no float rounding at epoch scale).
"""

from __future__ import annotations

from builtin_interfaces.msg import Time
from std_msgs.msg import Header

NS_PER_S = 1_000_000_000


def stamp_to_ns(stamp: Time) -> int:
    """Nanoseconds since the clock's epoch."""
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


def ns_to_stamp(ns: int) -> Time:
    """``Time`` for ``ns`` nanoseconds (must be >= 0)."""
    sec, nanosec = divmod(int(ns), NS_PER_S)
    return Time(sec=sec, nanosec=nanosec)


def make_header(frame_id: str = "", stamp_ns: int = 0) -> Header:
    """A ``std_msgs/Header`` with the given frame and stamp."""
    return Header(frame_id=frame_id, stamp=ns_to_stamp(stamp_ns))
