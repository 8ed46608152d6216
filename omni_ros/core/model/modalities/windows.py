"""Input windows: how a modality's stream readings become the arrays its preprocessing reads.

One implementation serves training and serving: the dataset assembler ``read``s every window at
each camera frame to make a sample, and the live pipeline encodes ``read()`` whenever ``push``
says a new input is ready. So the encoder sees the same arrays in both, by construction
(tests/test_modalities.py feeds the same readings through both and compares).

Readings are the numpy payloads ``omni_ros.streams`` decodes (stamps: integer ns). A reading the
model cannot read (another image size, unknown tactile pads) is refused in ``push`` with an
:class:`~omni_ros.core.errors.InputError` naming the stream and what the model reads. ``read``
returns unbatched arrays keyed by stream key; a stream without a reading no older than
``stale_s`` reads as its ``empty`` array (zeros, or NaN where a sensor marks no return).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from ...errors import require


@dataclass(frozen=True)
class Stream:
    """One sensor stream, described without ROS (``omni_ros.streams`` resolves it).

    ``key``: stream name, also the name of the array the window makes of it; ``topic``: default
    topic; ``msg_type``: ROS interface ("sensor_msgs/msg/Image"); ``frame_id``: the sensor's
    frame; ``codec``: how a message becomes numpy and back (a name in ``omni_ros.streams.CODECS``,
    e.g. "image:16UC1"); ``info``: (key, topic) of the CameraInfo published with each frame;
    ``sync``: the ApproximateTime baseline waits for one message of it per set."""

    key: str
    topic: str
    msg_type: str
    frame_id: str
    codec: str
    info: tuple[str, str] | None = None
    sync: bool = True


class Window:
    """Latest reading of each stream. ``trigger``: streams whose arrival makes a new input;
    ``primary``: the stream whose stamp is the input's stamp (its age decides presence)."""

    trigger: tuple[str, ...] = ()
    primary: str = ""
    extra: tuple[str, ...] = ()  # streams read besides the trigger ones

    def __init__(self):
        self.latest: dict[str, tuple[int, np.ndarray]] = {}

    # --- per-window behaviour ---------------------------------------------------------------
    def convert(self, key: str, payload) -> np.ndarray:
        """A decoded payload as the array the encoder reads."""
        return np.asarray(payload)

    def empty(self, key: str) -> np.ndarray:
        raise NotImplementedError

    def ready(self, key: str, stamp_ns: int) -> bool:
        return key in self.trigger

    def set_pose(self, pose) -> None:
        """The sensor's mounting pose [x, y, z, roll, pitch, yaw] in the base frame (m, rad),
        for windows whose modality places its readings (camera, lidar)."""
        raise ValueError(f"{type(self).__name__}: this sensor takes no mounting pose")

    # --- shared -----------------------------------------------------------------------------
    def push(self, key: str, stamp_ns: int, payload) -> bool:
        """Take one reading; True when the window holds a new input to encode."""
        self.latest[key] = (stamp_ns, self.convert(key, payload))
        return self.ready(key, stamp_ns)

    @property
    def stamp_ns(self) -> int:
        """Stamp of the primary stream's newest reading [ns]; -1 before the first."""
        return self.latest.get(self.primary, (-1, None))[0]

    def fresh(self, key: str, now_ns: int | None = None, stale_s: float | None = None) -> bool:
        item = self.latest.get(key)
        if item is None:
            return False
        return now_ns is None or stale_s is None or now_ns - item[0] <= stale_s * 1e9

    def read(self, now_ns: int | None = None, stale_s: float | None = None) -> dict[str, np.ndarray]:
        """Unbatched arrays of every stream; stale or missing ones read as ``empty``."""
        keys = dict.fromkeys([*self.trigger, self.primary, *self.extra])
        return {k: self.latest[k][1] if self.fresh(k, now_ns, stale_s) else self.empty(k)
                for k in keys if k}


class Latest(Window):
    """One stream, its newest reading as an array of ``shape`` (``fill`` when missing)."""

    def __init__(self, key: str, shape: tuple, dtype, fill=0):
        super().__init__()
        self.trigger, self.primary = (key,), key
        self.shape, self.dtype, self.fill = tuple(shape), dtype, fill

    def convert(self, key, payload):
        a = np.asarray(payload)
        require(a.shape == self.shape, key, f"shape {a.shape}; the model reads {self.shape}")
        return a.astype(self.dtype, copy=False)

    def empty(self, key):
        return np.full(self.shape, self.fill, self.dtype)


class History(Window):
    """The newest ``length`` readings of one stream of (width,) vectors, newest last; zeros
    before the first. Read whole whatever its age (a history is its own record of the past)."""

    def __init__(self, key: str, length: int, width: int):
        super().__init__()
        self.trigger, self.primary = (key,), key
        self.rows = deque([np.zeros(width, np.float32)] * length, maxlen=length)

    def convert(self, key, payload):
        self.rows.append(np.asarray(payload, np.float32).reshape(-1))
        return self.rows[-1]

    def read(self, now_ns=None, stale_s=None):
        return {self.primary: np.stack(self.rows)}


class Samples(Window):
    """The newest ``n`` samples of a chunked signal (int16), zeros before the first chunk."""

    def __init__(self, key: str, n: int, dtype=np.int16):
        super().__init__()
        self.trigger, self.primary = (key,), key
        self.buffer = np.zeros(n, dtype)

    def convert(self, key, payload):
        x = np.asarray(payload).reshape(-1)
        n = min(len(x), len(self.buffer))
        self.buffer = np.concatenate([self.buffer[n:], x[len(x) - n:].astype(self.buffer.dtype)])
        return self.buffer

    def read(self, now_ns=None, stale_s=None):
        return {self.primary: self.buffer.copy()}
