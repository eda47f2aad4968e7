"""The board table: the one place where FPGA board facts live.

Each :class:`Board` gives the programmable-logic resources of its part, the clock the DSE builds
for, the DDR the accelerator reaches through the PS's high-performance AXI ports, the width of
those ports, the processing system the block design instantiates and the Vivado board files that
preset it, and the processor that runs the layers the accelerator cannot.

Units: ``ddr_gbps`` is the *peak* DDR bandwidth in GB/s (1e9 bytes/s) = bus width x transfer
rate; the performance model applies ``dse.perf_model.CONSTANTS.ddr_efficiency`` to it. ``bram36``
counts 36 Kb block RAMs (a RAMB18 is half of one). ``cpu_gops`` is an *estimate* of the int8
convolution throughput of the PS CPU running the layers left to it (numpy/NEON GEMM at about 20%
of the NEON peak); it only matters for layers the accelerator does not run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["Board", "BOARDS", "get_board", "board_names", "UnknownBoardError", "PL_DIVISOR_MAX", "pl_clock_at_most"]

#: The largest value of each of the two 6-bit divisors between a PS PLL and PL clock 0
#: (Zynq-7000 ``FPGA0_CLK_CTRL.DIVISOR0/1``, UG585; UltraScale+ ``PL0_REF_CTRL.DIVISOR0/1``,
#: UG1087). PL clock 0 = PLL / (DIVISOR0 x DIVISOR1).
PL_DIVISOR_MAX = 63
_DIVIDES = sorted({a * b for a in range(1, PL_DIVISOR_MAX + 1) for b in range(1, PL_DIVISOR_MAX + 1)})


def pl_clock_at_most(pll_mhz: float, target_mhz: float) -> float:
    """The fastest PL clock ``pll_mhz / (d0 * d1)`` that is not above ``target_mhz``."""
    return pll_mhz / next(n for n in _DIVIDES if pll_mhz / n <= target_mhz * (1 + 1e-12))


class UnknownBoardError(ValueError):
    """``get_board`` was given a name that is not in the table."""


@dataclass(frozen=True)
class Board:
    name: str
    part: str
    #: Yosys ``synth_xilinx -family`` value: ``xc7`` (DSP48E1) or ``xcup`` (UltraScale+, DSP48E2).
    family: str
    lut: int
    ff: int
    bram36: int
    uram: int
    dsp: int
    dsp_type: str
    #: Clock the DSE builds for (MHz): a PL clock the board's PLL delivers exactly
    #: (``pl_pll_mhz`` over integer divisors), the fastest one designs of this size close timing
    #: at on this part.
    clock_mhz: float
    #: Peak DDR bandwidth reachable from the PL (GB/s), shared by reads and writes.
    ddr_gbps: float
    #: Data width of the PS high-performance AXI slave port our master connects to (bits).
    hp_port_bits: int
    cpu: str
    #: Estimated int8 conv throughput of the PS CPU (GOP/s) for layers run in software.
    cpu_gops: float
    vendor_name: str = ""
    #: Processing system of the part: ``zynq7`` (Zynq-7000, processing_system7), ``zynqmp``
    #: (Zynq UltraScale+, zynq_ultra_ps_e) or "" (no PS: no block design can be built).
    ps: str = ""
    #: Name of the board in Vivado's board-part VLNV (``vendor:<name>:part0:ver``); "" when no
    #: board files are published (the PS then gets only what the design needs).
    board_file: str = ""
    #: The PS PLL that PL clock 0 is divided from (MHz): the IO PLL as the board's PYNQ image (or
    #: Vivado board preset) runs it. PYNQ loads an overlay by dividing that PLL for the frequency
    #: the .hwh records, so only ``pl_pll_mhz / (d0 * d1)`` is ever delivered.
    pl_pll_mhz: float = 0.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def addr_bits(self) -> int:
        """Address bits of the PS port the IP's master connects to: 32 on Zynq-7000's S_AXI_HP
        ports (UG585), 49 on Zynq UltraScale+'s S_AXI_HP*_FPD (UG1085), 64 without a PS."""
        return {"zynq7": 32, "zynqmp": 49}.get(self.ps, 64)

    def pl_divisor(self, mhz: float) -> int | None:
        """``d0 * d1`` when ``pl_pll_mhz / (d0 * d1)`` is ``mhz`` (to 1 ppb), else None."""
        if self.pl_pll_mhz <= 0:
            return None
        n = round(self.pl_pll_mhz / mhz)
        return n if n in _DIVIDES and abs(self.pl_pll_mhz / n - mhz) <= 1e-9 * mhz else None

    def pl_clocks(self, lo: float = 50.0, hi: float = 300.0) -> tuple[float, ...]:
        """The PL clocks in ``lo..hi`` MHz the board's PLL delivers, fastest first."""
        return tuple(self.pl_pll_mhz / n for n in _DIVIDES if lo <= self.pl_pll_mhz / n <= hi)

    @property
    def resources(self) -> dict[str, float]:
        return {"LUT": self.lut, "FF": self.ff, "DSP": self.dsp, "BRAM36": self.bram36}


# Sources:
#   [DS190] Zynq-7000 SoC Data Sheet: Overview (xc7z020: 53,200 LUT, 106,400 FF, 140 BRAM36,
#           220 DSP48E1; xc7z045: 218,600 LUT, 437,200 FF, 545 BRAM36, 900 DSP48E1).
#   [DS891] Zynq UltraScale+ MPSoC Data Sheet: Overview (ZU3EG: 70,560 LUT, 141,120 FF, 216 BRAM36,
#           360 DSP48E2; ZU7EV: 230,400 LUT, 460,800 FF, 312 BRAM36, 96 URAM, 1,728 DSP;
#           ZU9EG: 274,080 LUT, 548,160 FF, 912 BRAM36, 2,520 DSP).
#   [DS987] Kria K26 SOM Data Sheet (XCK26: 117,120 LUT, 234,240 FF, 144 BRAM36, 64 URAM,
#           1,248 DSP; 4 GB DDR4, 64-bit, 2400 MT/s).
#   [UG585] Zynq-7000 TRM: S_AXI_HP ports are 64-bit (32/64 configurable).
#   [UG1085] Zynq UltraScale+ TRM: S_AXI_HP[0-3]_FPD ports are 128-bit (32/64/128 configurable).
#   [PYNQ-Z1 RM] Digilent PYNQ-Z1 reference manual: 512 MiB DDR3, 16-bit, up to 1066 Mb/s;
#           XC7Z020-1CLG400C, 650 MHz dual Cortex-A9.
#   [PYNQ-Z2] TUL PYNQ-Z2 user manual: 512 MB DDR3, 16-bit, 1050 Mb/s (spec section 7: ~2.1 GB/s).
#   [Ultra96-V2] Avnet Ultra96-V2 hardware user guide: ZU3EG-1SBVA484, 2 GB LPDDR4 x32; the
#           board preset runs it at 2133 MT/s; quad Cortex-A53 at 1.5 GHz.
#   [UG1267] ZCU104 board user guide: XCZU7EV-2FFVC1156, PS DDR4 2 GB 64-bit component, 2666 MT/s.
#   [UG1182] ZCU102 board user guide: XCZU9EG-2FFVB1156, PS DDR4 4 GB 64-bit SODIMM; Vivado's
#           board preset configures it at 2133 MT/s.
#   [UG954] ZC706 board user guide: XC7Z045-2FFG900C, PS DDR3 1 GB 32-bit at 1066 MT/s.
#   Clocks: the fastest clock the PL PLL delivers at or below the target the designs close
#           timing at: Zynq-7000 -1 parts 150 MHz (spec section 7's PYNQ-Z2 figure) -> 1000/7 =
#           142.857 MHz; ZC706 166 MHz and ZCU102 200 MHz are the clocks of Lu/Liang et al.
#           (seed 001) -> 1000/6 = 166.667 and 1499.985/8 = 187.498 MHz; the other UltraScale+
#           boards use the same 200 MHz target (the DPU reaches 300 MHz with hand-placed DSP
#           cascades, which generated RTL should not assume).
#   PL PLLs: Zynq-7000: the IO PLL at 1000 MHz (PYNQ-Z1/Z2: 50 MHz PS_CLK x 20, PYNQ's base
#           overlay asks 142 MHz and gets 142.857; ZC706: 33.333 MHz x 30); UltraScale+: the
#           IOPLL of the board presets and PYNQ images, 33.333 MHz x 90 / 2 = 1499.985 MHz
#           (Kria-PYNQ's KV260 base: PL0 99.999001 = /15, PCAP 187.498123 = /8).
#   CPU GOP/s: cores x GHz x 16 int8 ops/cycle (NEON) x ~20% (a numpy/NEON GEMM with im2col on
#           a small cache): an estimate, not a measurement.
#   Board files: TUL and Digilent publish the PYNQ boards', Avnet the Ultra96's, AMD ships the
#           rest with Vivado.
_IO_PLL_Z7 = 1000.0
_IOPLL_ZUP = 33.333 * 90 / 2

BOARDS: dict[str, Board] = {
    b.name: b
    for b in (
        Board(name="pynq-z1", part="xc7z020clg400-1", family="xc7", lut=53200, ff=106400, bram36=140, uram=0,
              dsp=220, dsp_type="DSP48E1", clock_mhz=pl_clock_at_most(_IO_PLL_Z7, 150.0), ddr_gbps=2 * 1.066,
              hp_port_bits=64, cpu="2x Cortex-A9 @ 650 MHz", cpu_gops=4.0, vendor_name="Digilent PYNQ-Z1",
              ps="zynq7", board_file="pynq-z1", pl_pll_mhz=_IO_PLL_Z7),
        Board(name="pynq-z2", part="xc7z020clg400-1", family="xc7", lut=53200, ff=106400, bram36=140, uram=0,
              dsp=220, dsp_type="DSP48E1", clock_mhz=pl_clock_at_most(_IO_PLL_Z7, 150.0), ddr_gbps=2 * 1.050,
              hp_port_bits=64, cpu="2x Cortex-A9 @ 650 MHz", cpu_gops=4.0, vendor_name="TUL PYNQ-Z2",
              ps="zynq7", board_file="pynq-z2", pl_pll_mhz=_IO_PLL_Z7),
        Board(name="ultra96-v2", part="xczu3eg-sbva484-1-i", family="xcup", lut=70560, ff=141120, bram36=216,
              uram=0, dsp=360, dsp_type="DSP48E2", clock_mhz=pl_clock_at_most(_IOPLL_ZUP, 200.0), ddr_gbps=4 * 2.133, hp_port_bits=128,
              cpu="4x Cortex-A53 @ 1.5 GHz", cpu_gops=19.0, vendor_name="Avnet Ultra96-V2", ps="zynqmp",
              board_file="ultra96v2", pl_pll_mhz=_IOPLL_ZUP),
        Board(name="kv260", part="xck26-sfvc784-2lv-c", family="xcup", lut=117120, ff=234240, bram36=144, uram=64,
              dsp=1248, dsp_type="DSP48E2", clock_mhz=pl_clock_at_most(_IOPLL_ZUP, 200.0), ddr_gbps=8 * 2.400, hp_port_bits=128,
              cpu="4x Cortex-A53 @ 1.333 GHz", cpu_gops=17.0, vendor_name="AMD Kria KV260", ps="zynqmp",
              board_file="kv260_som", pl_pll_mhz=_IOPLL_ZUP),
        Board(name="zcu104", part="xczu7ev-ffvc1156-2-e", family="xcup", lut=230400, ff=460800, bram36=312,
              uram=96, dsp=1728, dsp_type="DSP48E2", clock_mhz=pl_clock_at_most(_IOPLL_ZUP, 200.0), ddr_gbps=8 * 2.666, hp_port_bits=128,
              cpu="4x Cortex-A53 @ 1.2 GHz", cpu_gops=15.0, vendor_name="AMD ZCU104", ps="zynqmp",
              board_file="zcu104", pl_pll_mhz=_IOPLL_ZUP),
        Board(name="zcu102", part="xczu9eg-ffvb1156-2-e", family="xcup", lut=274080, ff=548160, bram36=912,
              uram=0, dsp=2520, dsp_type="DSP48E2", clock_mhz=pl_clock_at_most(_IOPLL_ZUP, 200.0), ddr_gbps=8 * 2.133, hp_port_bits=128,
              cpu="4x Cortex-A53 @ 1.2 GHz", cpu_gops=15.0, vendor_name="AMD ZCU102", ps="zynqmp",
              board_file="zcu102", pl_pll_mhz=_IOPLL_ZUP),
        Board(name="zc706", part="xc7z045ffg900-2", family="xc7", lut=218600, ff=437200, bram36=545, uram=0,
              dsp=900, dsp_type="DSP48E1", clock_mhz=pl_clock_at_most(_IO_PLL_Z7, 166.7), ddr_gbps=4 * 1.066,
              hp_port_bits=64, cpu="2x Cortex-A9 @ 800 MHz", cpu_gops=5.0, vendor_name="AMD ZC706", ps="zynq7",
              board_file="zc706", pl_pll_mhz=_IO_PLL_Z7),
    )
}


def board_names() -> list[str]:
    return list(BOARDS)


def get_board(name: str) -> Board:
    key = name.strip().lower()
    if key not in BOARDS:
        raise UnknownBoardError(f"unknown board {name!r}: use one of {', '.join(BOARDS)}")
    return BOARDS[key]
