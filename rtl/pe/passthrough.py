"""The pass-through ``flags`` of the Winograd stages: markers a stage carries beside its data."""

from __future__ import annotations

from amaranth.hdl import Shape, unsigned
from amaranth.lib import data

__all__ = ["flags_shape"]


def flags_shape(flags):
    """The shape of a stage's pass-through flags: ``flags`` is a bit width (``unsigned(flags)``),
    a ``Shape``, or the layout of the markers (e.g. ``tile_flags_layout``), so producer and consumer payloads
    are equal and ``wiring.connect`` joins the stages."""
    if isinstance(flags, (data.Layout, Shape)):
        return flags
    if isinstance(flags, int) and not isinstance(flags, bool) and flags >= 0:
        return unsigned(flags)
    raise ValueError(f"flags must be a width >= 0 or a data.Layout, got {flags!r}")


def flags_width(flags) -> int:
    """Bits of a flags shape."""
    return Shape.cast(flags).width
