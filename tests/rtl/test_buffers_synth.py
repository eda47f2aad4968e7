"""Yosys synth_xilinx: the line buffer and the weight buffer at typical sizes map onto block RAM.

Sizes of the VGG16 build on PYNQ-Z2 (pn = pm = 8, int8): line rows of W*CG <= 896 words
(224x1 ... 14x64) and 64 channel groups x 9 taps of weights per bank. The storage must become
RAMB18/RAMB36 -- not LUT RAM, not flip-flops -- with few BRAMs beyond the bit count.
"""

import math

from dse.synth import synth_counts
from rtl.buffers.line_buffer import DirectLineBuffer
from rtl.buffers.weight_buffer import WeightBuffer
from rtl.verilog import to_verilog

BRAM36_BITS = 36 * 1024


def _check(counts, bits, slack, lutram=0):
    floor = math.ceil(bits / BRAM36_BITS)
    assert floor <= counts["BRAM36"] <= floor * slack, (counts["BRAM36"], floor, counts["cells"])
    assert counts["LUTRAM"] == lutram, counts["cells"]


def test_line_buffer_infers_bram():
    dut = DirectLineBuffer(8, 8, 224, 64, 3, row_words=896)
    counts = synth_counts(to_verilog(dut, "line_buffer"), "line_buffer")
    # The rows: 5 x 896 words x 64 bit in 9 RAMB36 (512x72). The output FIFO of taps (a few
    # entries of act + tap + flags) is LUT RAM: one RAM32M per 6 bits of its word.
    _check(counts, dut.depth * 64, 1.25, lutram=math.ceil(dut.tap_layout.size / 6))
    assert counts["FF"] < 700, counts["FF"]  # counters, the address and read stages, the FIFO's output


def test_weight_buffer_infers_bram():
    dut = WeightBuffer(8, 8, 8, 576)
    counts = synth_counts(to_verilog(dut, "weight_buffer"), "weight_buffer")
    _check(counts, 2 * 576 * 512, 1.5)      # 2 banks x 576 taps x 512 bit
    assert counts["FF"] < 200, counts["FF"]
