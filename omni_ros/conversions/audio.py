"""``omni_ros_msgs/AudioChunk`` <-> numpy (frames, channels)."""

from __future__ import annotations

import numpy as np
from omni_ros_msgs.msg import AudioChunk

from .buffers import to_byte_array
from .errors import ConversionError, require
from .time import make_header

SAMPLE_DTYPES = {
    AudioChunk.ENCODING_S16LE: np.dtype("<i2"),
    AudioChunk.ENCODING_F32LE: np.dtype("<f4"),
}
INT16_FULL_SCALE = 32768.0
SAMPLE_RATES_HZ = (8000, 48000)  # accepted sample rates, inclusive
MAX_CHANNELS = 8
MAX_CHUNK_S = 1.0                # longest chunk a microphone stream may carry [s]


def audio_chunk_to_numpy(msg: AudioChunk, as_float: bool = True,
                         max_s: float = MAX_CHUNK_S) -> np.ndarray:
    """Samples as (frames, channels), after checking the bounds before touching the samples:
    sample rate 8-48 kHz, 1-8 channels, at most ``max_s`` seconds, finite F32LE samples.

    ``as_float``: float32 in [-1, 1] (S16LE divided by 32768, F32LE as sent); otherwise int16
    (F32LE scaled by 32768 and clipped), so both encodings read the same either way.
    """
    require(msg.encoding in SAMPLE_DTYPES, "encoding",
            f"unknown encoding {msg.encoding!r}; supported: {', '.join(SAMPLE_DTYPES)}")
    lo, hi = SAMPLE_RATES_HZ
    require(lo <= msg.sample_rate <= hi, "sample_rate",
            f"{msg.sample_rate} Hz; must be {lo}-{hi} Hz")
    require(1 <= msg.channels <= MAX_CHANNELS, "channels",
            f"{msg.channels}; must be 1-{MAX_CHANNELS}")
    dtype = SAMPLE_DTYPES[msg.encoding]
    frame_bytes = dtype.itemsize * int(msg.channels)
    n = len(msg.data)
    require(n > 0, "data", "is empty")
    require(n % frame_bytes == 0, "data",
            f"has {n} bytes, not a multiple of channels*bytes_per_sample = {frame_bytes} "
            f"for {msg.encoding}")
    seconds = n // frame_bytes / msg.sample_rate
    require(seconds <= max_s, "data", f"holds {seconds:.2f} s of audio; at most {max_s:g} s per chunk")
    samples = np.frombuffer(msg.data, dtype=dtype).reshape(-1, int(msg.channels))
    if dtype.kind == "f":
        require(bool(np.all(np.isfinite(samples))), "data", "contains NaN or inf samples")
        if not as_float:
            return np.clip(np.rint(samples * INT16_FULL_SCALE), -INT16_FULL_SCALE,
                           INT16_FULL_SCALE - 1).astype(np.int16)
        return samples.astype(np.float32)
    if not as_float:
        return samples
    return samples.astype(np.float32) / np.float32(INT16_FULL_SCALE)


def numpy_to_audio_chunk(samples: np.ndarray, sample_rate: int, encoding: str | None = None,
                         frame_id: str = "", stamp_ns: int = 0) -> AudioChunk:
    """An ``AudioChunk`` from (frames,) or (frames, channels) samples.

    int16 input defaults to S16LE and float input (full scale 1.0) to F32LE. Floats encoded as
    S16LE are scaled by 32768 and clipped.
    """
    x = np.asarray(samples)
    if x.ndim == 1:
        x = x[:, None]
    require(x.ndim == 2 and x.shape[0] > 0 and x.shape[1] >= 1, "samples",
            f"must be non-empty (frames,) or (frames, channels), got {np.shape(samples)}")
    require(int(sample_rate) > 0, "sample_rate", f"must be > 0 Hz, got {sample_rate}")
    require(x.shape[1] <= MAX_CHANNELS, "samples", f"{x.shape[1]} channels; at most {MAX_CHANNELS}")
    if encoding is None:
        encoding = AudioChunk.ENCODING_S16LE if x.dtype == np.int16 else AudioChunk.ENCODING_F32LE
    if encoding not in SAMPLE_DTYPES:
        raise ConversionError("encoding", f"unknown encoding {encoding!r}")
    if x.dtype.kind == "f":
        require(bool(np.all(np.isfinite(x))), "samples", "contains NaN or inf")
    if encoding == AudioChunk.ENCODING_S16LE and x.dtype.kind == "f":
        x = np.clip(np.rint(x * INT16_FULL_SCALE), -INT16_FULL_SCALE, INT16_FULL_SCALE - 1)
    elif encoding == AudioChunk.ENCODING_F32LE and x.dtype.kind in "iu":
        x = x / np.float32(INT16_FULL_SCALE)
    msg = AudioChunk(header=make_header(frame_id, stamp_ns), sample_rate=int(sample_rate),
                     channels=x.shape[1], encoding=encoding)
    msg.data = to_byte_array(x.astype(SAMPLE_DTYPES[encoding]))
    return msg
