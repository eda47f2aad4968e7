"""Numeric formats and bit-width arithmetic: the single source of truth for widths.

Pure Python (no Amaranth, no numpy) so that the RTL generators, the numpy references, the
driver and the DSE's models all compute widths the same way.

Every width here is derived from an exact integer range, never guessed: a signed value in
``[lo, hi]`` needs ``signed_width(lo, hi)`` bits in two's complement.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "SUPPORTED_DATA_WIDTHS",
    "signed_range",
    "signed_width",
    "product_range",
    "accumulator_width",
    "Requantisation",
    "REQUANT",
    "QUANT_ENTRY_BYTES",
    "ACT_TABLE_BYTES",
]

#: Activation/weight widths the engines accept (int8 by default, 16 for the Q8.8 flow).
SUPPORTED_DATA_WIDTHS = (8, 16)


def signed_range(width: int) -> tuple[int, int]:
    """Return ``(lo, hi)`` of a ``width``-bit two's complement integer."""
    if width < 1:
        raise ValueError(f"width must be at least 1 bit, got {width}")
    return -(1 << (width - 1)), (1 << (width - 1)) - 1


def signed_width(lo: int, hi: int) -> int:
    """Smallest two's complement width that holds every integer in ``[lo, hi]``."""
    if lo > hi:
        raise ValueError(f"empty range [{lo}, {hi}]")
    width = 1
    while not (-(1 << (width - 1)) <= lo and hi <= (1 << (width - 1)) - 1):
        width += 1
    return width


def product_range(a_width: int, b_width: int) -> tuple[int, int]:
    """Exact range of the product of two signed integers of the given widths."""
    a_lo, a_hi = signed_range(a_width)
    b_lo, b_hi = signed_range(b_width)
    corners = (a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi)
    return min(corners), max(corners)


def accumulator_width(data_width: int, max_terms: int, weight_width: int | None = None) -> int:
    """Width of an exact sum of up to ``max_terms`` products of signed operands.

    ``max_terms`` is the longest accumulation the build accepts (for a direct convolution,
    ``K * K * C`` for the largest kernel and channel count).
    """
    if max_terms < 1:
        raise ValueError(f"max_terms must be at least 1, got {max_terms}")
    lo, hi = product_range(data_width, data_width if weight_width is None else weight_width)
    return signed_width(lo * max_terms, hi * max_terms)


@dataclass(frozen=True)
class Requantisation:
    """Widths of the per-channel requantisation ``clamp((acc + bias) * mult + rnd >> shift)``.

    See spec section 3; ``sim.reference.requantize`` is the executable definition.
    """

    bias_width: int = 32
    mult_width: int = 32
    shift_width: int = 6  # shift in 0..63
    out_width: int = 8

    @property
    def max_shift(self) -> int:
        return (1 << self.shift_width) - 1

    def product_width(self, acc_width: int) -> int:
        """Width of ``(acc + bias) * mult`` plus the rounding term, exactly."""
        s_lo, s_hi = signed_range(acc_width)
        b_lo, b_hi = signed_range(self.bias_width)
        m_lo, m_hi = signed_range(self.mult_width)
        lo_sum, hi_sum = s_lo + b_lo, s_hi + b_hi
        corners = (lo_sum * m_lo, lo_sum * m_hi, hi_sum * m_lo, hi_sum * m_hi)
        rnd = 1 << (self.max_shift - 1)
        return signed_width(min(corners), max(corners) + rnd)


#: The default requantisation format (int32 bias and multiplier, 6-bit shift, int8 output).
REQUANT = Requantisation()


#: Bytes per output channel in the DDR bias/quant table: bias int32, mult int32, shift uint8,
#: 7 zero bytes (read by the accelerator, written by the driver).
QUANT_ENTRY_BYTES = 16
#: Bytes of an activation table in DDR: entry ``v & 0xFF`` is the int8 output for the requantised
#: int8 value ``v``. With LAYER_FLAGS.TABLE it opens the quant buffer, before the entries.
ACT_TABLE_BYTES = 256
