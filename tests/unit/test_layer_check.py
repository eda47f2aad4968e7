"""The layer check's constant arithmetic: channel groups for a pm or pn of 3 * 2^a."""

import numpy as np

from rtl.control.layer_check import RECIPROCAL_3, RECIPROCAL_3_SHIFT
from rtl.config import PARALLELISMS


def test_reciprocal_of_three_divides_every_dividend_the_check_forms():
    # The dividend is (C + p - 1) >> a with C < 2^16 and p <= 64: always below 2^17.
    y = np.arange(1 << 17, dtype=np.int64)
    assert np.array_equal((y * RECIPROCAL_3) >> RECIPROCAL_3_SHIFT, y // 3)
    # ... and every dividend the check forms lies in that range.
    assert max(((1 << 16) - 1 + p - 1) >> ((p // 3).bit_length() - 1) for p in PARALLELISMS if p % 3 == 0) < 1 << 17

