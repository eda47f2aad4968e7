"""Delay models of the two device families for the timing estimate (dse/timing.py).

Each :class:`DelayModel` gives, in nanoseconds, the delays of the primitives Yosys
``synth_xilinx`` maps a design to: LUTs, carry chains, wide-function muxes, flip-flops, block
RAM, DSP slices, LUT RAM and shift registers, plus a routing delay per net that grows with the
net's fan-out. The numbers are worst-case ("slow corner") values of the -1 speed grade:

* **7-series -1** (``xc7``: Zynq-7000, the PYNQ boards): the CLB, block-RAM and DSP48E1
  switching characteristics of the Zynq-7000 / Artix-7 data sheets (DS191 / DS187) as Vivado
  reports them for ``xc7z020clg400-1`` cells (TILO 0.124, TCKO 0.456, carry TBYP 0.114 per
  CARRY4, RAMB36 clock-to-out 2.454 without and 0.882 with the output register), and the arcs of
  Yosys's ``xilinx/cells_sim.v`` (which carries Vivado's) for MUXF7/8, the CARRY4 inputs, the
  block-RAM set-up times and the DSP48E1 register configurations.
* **UltraScale+ -1** (``xcup``: Zynq UltraScale+ / Kria): the CLB, block-RAM and DSP48E2
  characteristics of DS925 (Zynq UltraScale+ MPSoC) at 0.85 V, -1 (LUT 0.125, flip-flop clock
  to output 0.09, CARRY8 carry-in to carry-out 0.05, RAMB36E2 clock-to-out 1.35 / 0.51,
  DSP48E2 as DSP48E1 scaled by the data sheet's maximum frequencies, 891 / 645 MHz).

Routing is the part no netlist can know: ``net`` is the delay of a short local net (what Vivado
reports for a placed design's typical net at the -1 grade, 0.45 ns on 7-series), and
``net_per_doubling`` adds for every doubling of the fan-out up to 1024 loads (Vivado replicates
drivers beyond that). Dedicated wires -- carry chains, DSP cascades, LUT-to-MUXF -- cost
nothing. Placement, congestion, clock skew and jitter are not modelled; docs/timing.md says
what that means for the estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DelayModel", "DELAY_MODELS", "DspTiming"]


@dataclass(frozen=True)
class DspTiming:
    """DSP slice timing by register configuration (ns).

    ``input_setup``: an input's set-up to its own register (AREG/BREG/CREG/DREG...);
    ``to_mreg``: from an unregistered A/B input through the multiplier to MREG;
    ``to_preg``: from an unregistered A/B input through multiplier and ALU to PREG;
    ``alu_to_preg``: from an unregistered C/PCIN/OPMODE input through the ALU to PREG;
    ``p_from_preg``/``p_from_mreg``/``p_from_input_reg``: P output after the clock when the
    last register on the way is PREG, MREG or an input register; ``a_to_p``/``c_to_p``: fully
    combinational paths through the slice.
    """

    input_setup: float
    to_mreg: float
    to_preg: float
    alu_to_preg: float
    p_from_preg: float
    p_from_mreg: float
    p_from_input_reg: float
    a_to_p: float
    c_to_p: float


@dataclass(frozen=True)
class DelayModel:
    """Primitive and routing delays of one family at the -1 speed grade (ns)."""

    family: str
    title: str
    lut: float
    muxf: float
    carry_in: float          # S / DI / CYINIT of a carry element to its CO / O outputs
    carry_through: float     # CI to CO (one carry element)
    carry_sum: float         # CI to O
    net: float
    net_per_doubling: float
    ff_clock_to_q: float
    ff_setup_d: float
    ff_setup_ce: float
    ff_setup_sr: float
    bram_clock_to_out: float
    bram_clock_to_out_registered: float
    bram_setup_addr: float
    bram_setup_data: float
    bram_setup_we: float
    bram_setup_en: float
    lutram_read: float
    lutram_setup: float
    srl_clock_to_q: float
    srl_setup: float
    dsp: DspTiming
    #: Largest fan-out whose growth the routing term follows (drivers of bigger nets are replicated).
    fanout_cap: int = 1024

    def route(self, fanout: int) -> float:
        """Delay of a routed net with ``fanout`` loads."""
        loads = max(1, min(fanout, self.fanout_cap))
        return self.net + self.net_per_doubling * (loads.bit_length() - 1)


DELAY_MODELS: dict[str, DelayModel] = {
    "xc7": DelayModel(
        family="xc7", title="7-series -1 (Zynq-7000 / Artix-7, DS191/DS187)",
        lut=0.124, muxf=0.296, carry_in=0.642, carry_through=0.114, carry_sum=0.313,
        net=0.45, net_per_doubling=0.10,
        ff_clock_to_q=0.456, ff_setup_d=0.05, ff_setup_ce=0.21, ff_setup_sr=0.524,
        bram_clock_to_out=2.454, bram_clock_to_out_registered=0.882,
        bram_setup_addr=0.566, bram_setup_data=0.737, bram_setup_we=0.532, bram_setup_en=0.40,
        lutram_read=0.30, lutram_setup=0.50, srl_clock_to_q=1.472, srl_setup=0.30,
        dsp=DspTiming(input_setup=0.324, to_mreg=1.416, to_preg=2.739, alu_to_preg=1.244,
                      p_from_preg=0.329, p_from_mreg=1.671, p_from_input_reg=2.952,
                      a_to_p=3.89, c_to_p=1.90),
    ),
    "xcup": DelayModel(
        family="xcup", title="UltraScale+ -1 (Zynq UltraScale+ MPSoC, DS925)",
        lut=0.125, muxf=0.10, carry_in=0.28, carry_through=0.05, carry_sum=0.12,
        net=0.35, net_per_doubling=0.08,
        ff_clock_to_q=0.09, ff_setup_d=0.04, ff_setup_ce=0.10, ff_setup_sr=0.30,
        bram_clock_to_out=1.35, bram_clock_to_out_registered=0.51,
        bram_setup_addr=0.45, bram_setup_data=0.45, bram_setup_we=0.40, bram_setup_en=0.35,
        lutram_read=0.25, lutram_setup=0.35, srl_clock_to_q=1.00, srl_setup=0.20,
        dsp=DspTiming(input_setup=0.25, to_mreg=1.03, to_preg=1.98, alu_to_preg=0.90,
                      p_from_preg=0.24, p_from_mreg=1.21, p_from_input_reg=2.14,
                      a_to_p=2.82, c_to_p=1.38),
    ),
}
