"""One output pixel of ``pm`` accumulators: the payload between an engine and the requantiser."""

from __future__ import annotations

from amaranth.hdl import signed
from amaranth.lib import data

__all__ = ["accumulator_pixel_layout"]


def accumulator_pixel_layout(pm: int, width: int) -> data.StructLayout:
    """``data[c]``: the exact sum of output channel ``c`` (``width``-bit signed); ``last``: this
    pixel ends a write command (the last pixel of a pass or visit, whose bytes the write master
    takes as one command). Fields LSB first: data, last."""
    return data.StructLayout({"data": data.ArrayLayout(signed(width), pm), "last": 1})
