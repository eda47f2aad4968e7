"""Pack and unpack numpy integer arrays to/from the flat bit vectors of Amaranth layouts.

Amaranth ``data`` layouts put the first field/element at the least significant bit; these
helpers follow that rule so testbenches can drive and read ``payload`` ports as plain ints.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["pack", "unpack", "to_signed"]


def to_signed(value: int, width: int) -> int:
    value &= (1 << width) - 1
    return value - (1 << width) if value >> (width - 1) else value


def pack(values: Iterable[int], width: int) -> int:
    """Pack integers (element 0 at the LSB) into one unsigned int of ``len*width`` bits."""
    word = 0
    mask = (1 << width) - 1
    for k, v in enumerate(np.asarray(list(values) if not isinstance(values, np.ndarray) else values).ravel()):
        word |= (int(v) & mask) << (k * width)
    return word


def unpack(word: int, width: int, count: int, signed: bool = True) -> np.ndarray:
    """Split ``word`` into ``count`` fields of ``width`` bits (element 0 at the LSB)."""
    word = int(word)
    mask = (1 << width) - 1
    vals = [(word >> (k * width)) & mask for k in range(count)]
    if signed:
        vals = [to_signed(v, width) for v in vals]
    return np.array(vals, dtype=object if width > 63 else np.int64)
