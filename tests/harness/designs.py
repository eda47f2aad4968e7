"""The small accelerator builds the end-to-end tests share (their layers: tests/harness/layers.py).

Small maxima keep each Verilator build short; every test module that simulates the whole IP
takes its builds from here, so one cached build serves them all.
"""

from rtl.config import AcceleratorConfig

#: Direct engine, pm=4 pn=8, up to 20x20x24, K <= 5, stride <= 2, with an activation table and a
#: pooling stage.
DIRECT = AcceleratorConfig(engine="direct", pm=4, pn=8, max_width=20, max_height=20, max_channels=24,
                           max_kernel=5, max_stride=2, requant_lanes=2, clock_mhz=100, activation_table=True,
                           pooling=True)

#: Winograd F(m,3) builds by m.
WINOGRAD = {
    2: AcceleratorConfig(engine="winograd", m=2, pm=2, pn=4, max_width=20, max_height=20, max_channels=16,
                         max_kernel=3, max_stride=1, requant_lanes=2, clock_mhz=100),
    # With an activation table and a pooling stage (as DIRECT): the other builds have neither.
    4: AcceleratorConfig(engine="winograd", m=4, pm=2, pn=2, max_width=20, max_height=20, max_channels=8,
                         max_kernel=3, max_stride=1, requant_lanes=2, clock_mhz=100, activation_table=True,
                         pooling=True),
    # A 128-bit bus: the filter buffer takes 8 taps per beat (F(2,3) above: 1, F(4,3): 2).
    6: AcceleratorConfig(engine="winograd", m=6, pm=2, pn=1, axi_data_width=128, max_width=20, max_height=20,
                         max_channels=8, max_kernel=3, max_stride=1, requant_lanes=1, clock_mhz=100),
}


#: 16-bit activations and weights (``--data-width 16``): each engine's build (Winograd: F(2,3), the
#: only tile whose 16-bit transforms are exact in the datapath's widths).
SIXTEEN_BIT = {
    "direct": AcceleratorConfig(engine="direct", data_width=16, pm=2, pn=4, max_width=16, max_height=16,
                                max_channels=12, max_kernel=3, max_stride=2, requant_lanes=2, clock_mhz=100),
    "winograd": AcceleratorConfig(engine="winograd", m=2, data_width=16, pm=2, pn=2, max_width=16, max_height=16,
                                  max_channels=8, max_kernel=3, max_stride=1, requant_lanes=1, clock_mhz=100),
}
