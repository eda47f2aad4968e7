"""The small accelerator builds and the random layers the end-to-end tests share.

Small maxima keep each Verilator build short; every test module that simulates the whole IP
takes its builds from here, so one cached build serves them all.
"""

import numpy as np

from rtl.config import AcceleratorConfig
from sim.reference import conv2d, requantize

#: Direct engine, pm=4 pn=8, up to 20x20x24, K <= 5, stride <= 2.
DIRECT = AcceleratorConfig(engine="direct", pm=4, pn=8, max_width=20, max_height=20, max_channels=24,
                           max_kernel=5, max_stride=2, requant_lanes=2, clock_mhz=100)

#: Winograd F(m,3) builds by m.
WINOGRAD = {
    2: AcceleratorConfig(engine="winograd", m=2, pm=2, pn=4, max_width=20, max_height=20, max_channels=16,
                         max_kernel=3, max_stride=1, requant_lanes=2, clock_mhz=100),
    4: AcceleratorConfig(engine="winograd", m=4, pm=2, pn=2, max_width=20, max_height=20, max_channels=8,
                         max_kernel=3, max_stride=1, requant_lanes=2, clock_mhz=100),
    # A 128-bit bus: the filter buffer takes 8 taps per beat (F(2,3) above: 1, F(4,3): 2).
    6: AcceleratorConfig(engine="winograd", m=6, pm=2, pn=1, axi_data_width=128, max_width=20, max_height=20,
                         max_channels=8, max_kernel=3, max_stride=1, requant_lanes=1, clock_mhz=100),
}


def random_layer(rng, c, m, h, w, k, stride, padding, relu):
    """Random int8 input and weights (with the extreme values -128 and 127 present), bias and
    per-channel requantisation, and the expected int8 output from sim.reference."""
    x = rng.integers(-128, 128, size=(c, h, w), dtype=np.int8)
    x.flat[0] = -128
    wt = rng.integers(-128, 128, size=(m, c, k, k), dtype=np.int8)
    wt.flat[-1] = 127
    bias = rng.integers(-5000, 5000, size=m).astype(np.int32)
    mult = rng.integers(1, 1 << 14, size=m).astype(np.int32)
    shift = rng.integers(10, 22, size=m).astype(np.int32)
    expected = requantize(conv2d(x, wt, stride, padding), bias, mult, shift, relu)
    return x, wt, bias, mult, shift, expected
