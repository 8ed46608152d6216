"""Moving numbers between numpy and ROS sequence fields (``array.array``) with one copy."""

from __future__ import annotations

import array

import numpy as np

# array.array typecode -> matching little-endian numpy dtype (ROS sequences are native = little).
_TYPECODES = {"B": np.dtype("u1"), "f": np.dtype("<f4"), "d": np.dtype("<f8")}


def to_typed_array(values: np.ndarray, typecode: str = "B") -> array.array:
    """``array(typecode)`` holding ``values`` converted to its dtype (flattened, C order).

    With typecode ``"B"`` any array's raw bytes are taken as they are.
    """
    arr = np.ascontiguousarray(values)
    if typecode != "B":
        arr = np.ascontiguousarray(arr, dtype=_TYPECODES[typecode])
    out = array.array(typecode)
    out.frombytes(arr.reshape(-1).view(np.uint8))
    return out


def to_byte_array(values: np.ndarray) -> array.array:
    """``array('B')`` with the raw bytes of ``values``."""
    return to_typed_array(values, "B")


def from_typed_array(values, dtype=np.float32) -> np.ndarray:
    """A numpy view of a received sequence field (``array.array`` or list)."""
    if isinstance(values, array.array) and len(values):
        return np.frombuffer(values, dtype=_TYPECODES[values.typecode]).astype(dtype, copy=False)
    return np.asarray(values, dtype=dtype)


def f32(value: float) -> float:
    """``value`` rounded to float32, as a ``float32`` message field carries it, so a message
    built here equals the one a subscriber receives."""
    return float(np.float32(value))
