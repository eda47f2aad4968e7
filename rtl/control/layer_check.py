"""Layer descriptor: its layout, the checks that refuse what the build cannot run, derived sizes."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..config import AcceleratorConfig
from ..error_codes import ErrorCode
from ..numerics import QUANT_ENTRY_BYTES
from .seq_mul import SequentialMultiplier

__all__ = ["LayerCheck", "descriptor_layout", "plan_layout"]


def descriptor_layout() -> data.StructLayout:
    """The runtime layer descriptor as written by the host (see rtl.registers)."""
    return data.StructLayout({
        "in_channels": 16, "out_channels": 16, "height": 16, "width": 16,
        "kernel": 4, "stride": 4, "padding": 4, "relu": 1,
        "in_addr": 64, "weight_addr": 64, "out_addr": 64, "quant_addr": 64,
    })


def plan_layout() -> data.StructLayout:
    """Sizes derived from a checked descriptor (per output-channel group where noted)."""
    return data.StructLayout({
        "cg": 16,          # input channel groups ceil(C / pn)
        "mg": 16,          # output channel groups ceil(M / pm)
        "ho": 16, "wo": 16,
        "row_words": 32,   # W * cg
        "taps": 32,        # cg * K * K (weight words per group)
        "in_words": 32,    # H * W * cg pn-words of input
        "in_bytes": 64,    # whole input, read once per group
        "w_bytes": 64,     # weights of one group
        "out_pixels": 32,  # ho * wo
        "out_bytes": 64,   # output of one group
    })


class LayerCheck(wiring.Component):
    """Checks a descriptor against the build and computes the layer plan.

    The hardware form of the engine description's rule (``EngineDescription.refusal``): the same
    checks in the same order give the same error codes; the kernel and stride an engine is
    restricted to come from its description.

    Ports
        ``desc``: In(descriptor_layout()), stable from ``start`` until ``done``.
        ``start``: In(1) pulse (while not busy). ``busy``: Out(1).
        ``done``: Out(1) one-cycle pulse; then ``error`` (Out(8), an ``ErrorCode``) and
        ``plan`` (Out(plan_layout())) are valid and held until the next ``start``.

    Latency: a few cycles for a refused descriptor; about 7 x 33 cycles for an accepted one
    (sizes are computed with one shift-and-add multiplier: no DSP is spent on control).
    Every byte the layer will touch is inside ``[addr, addr + size)`` of one of its four
    buffers; a buffer that would pass the top of the address space is refused (BAD_ADDRESS).
    """

    def __init__(self, config: AcceleratorConfig):
        self.config = config
        super().__init__({
            "desc": In(descriptor_layout()),
            "start": In(1),
            "busy": Out(1),
            "done": Out(1),
            "error": Out(8),
            "plan": Out(plan_layout()),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        d = self.desc
        plan = self.plan
        m.submodules.mul = mul = SequentialMultiplier(32, 32)
        log2 = lambda v: v.bit_length() - 1  # noqa: E731 (powers of two only)
        pn_shift, pm_shift = log2(cfg.pn), log2(cfg.pm)
        in_word_shift = log2(cfg.pn * cfg.data_width // 8)
        w_word_shift = log2(cfg.pm * cfg.pn * cfg.data_width // 8)
        q_group_shift = log2(cfg.pm * QUANT_ENTRY_BYTES)
        engine = cfg.engine_description
        addr_limit = 1 << cfg.axi_addr_width

        hp = Signal(18)
        wp = Signal(18)
        cgk = Signal(32)
        in_words = Signal(64)
        w_total = Signal(64)
        out_total = Signal(64)

        def multiply(state, a, b, then, store):
            with m.State(state):  # the multiplier is idle here; it is busy from the next cycle
                m.d.comb += [mul.a.eq(a), mul.b.eq(b), mul.start.eq(1)]
                m.next = state + "_WAIT"
            with m.State(state + "_WAIT"):
                with m.If(~mul.busy):
                    m.d.sync += store(mul.p)
                    m.next = then

        def fail(code):
            m.d.sync += self.error.eq(code)
            m.next = "DONE"

        with m.FSM(name="check") as fsm:
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [
                        self.error.eq(ErrorCode.OK),
                        plan.cg.eq((d.in_channels + cfg.pn - 1) >> pn_shift),
                        plan.mg.eq((d.out_channels + cfg.pm - 1) >> pm_shift),
                        hp.eq(d.height + 2 * d.padding),
                        wp.eq(d.width + 2 * d.padding),
                    ]
                    m.next = "CHECK"
            with m.State("CHECK"):
                with m.If((d.in_channels == 0) | (d.out_channels == 0) |
                          (d.in_channels > cfg.max_channels) | (d.out_channels > cfg.max_channels)):
                    fail(ErrorCode.BAD_CHANNELS)
                with m.Elif((d.height == 0) | (d.width == 0) |
                            (d.height > cfg.max_height) | (d.width > cfg.max_width)):
                    fail(ErrorCode.BAD_SIZE)
                with m.Elif((d.kernel == 0) | (d.kernel > cfg.max_kernel) | ((d.kernel != engine.kernel) if engine.kernel is not None else 0)):
                    fail(ErrorCode.BAD_KERNEL)
                with m.Elif((d.stride == 0) | (d.stride > cfg.max_stride) | ((d.stride != engine.stride) if engine.stride is not None else 0)):
                    fail(ErrorCode.BAD_STRIDE)
                with m.Elif(d.padding >= d.kernel):
                    fail(ErrorCode.BAD_PADDING)
                with m.Elif((hp < d.kernel) | (wp < d.kernel)):
                    fail(ErrorCode.BAD_OUTPUT)
                with m.Else():
                    m.d.sync += [
                        plan.ho.eq(Mux(d.stride == 2, (hp - d.kernel) >> 1, hp - d.kernel) + 1),
                        plan.wo.eq(Mux(d.stride == 2, (wp - d.kernel) >> 1, wp - d.kernel) + 1),
                    ]
                    m.next = "ROW_WORDS"
            multiply("ROW_WORDS", d.width, plan.cg, "CHECK_ROW", lambda p: plan.row_words.eq(p))
            with m.State("CHECK_ROW"):
                with m.If(plan.row_words > cfg.row_words):
                    fail(ErrorCode.BAD_SIZE)
                with m.Else():
                    m.next = "CGK"
            multiply("CGK", plan.cg, d.kernel, "TAPS", lambda p: cgk.eq(p))
            multiply("TAPS", cgk, d.kernel, "CHECK_TAPS", lambda p: plan.taps.eq(p))
            with m.State("CHECK_TAPS"):
                with m.If(plan.taps > cfg.weight_depth):
                    fail(ErrorCode.BAD_CHANNELS)
                with m.Else():
                    m.d.sync += plan.w_bytes.eq(plan.taps << w_word_shift)
                    m.next = "IN_WORDS"
            multiply("IN_WORDS", d.height, plan.row_words, "OUT_PIXELS", lambda p: in_words.eq(p))
            multiply("OUT_PIXELS", plan.ho, plan.wo, "W_TOTAL", lambda p: plan.out_pixels.eq(p))
            multiply("W_TOTAL", plan.w_bytes[:32], plan.mg, "OUT_TOTAL", lambda p: w_total.eq(p))
            multiply("OUT_TOTAL", plan.out_pixels << pm_shift, plan.mg, "CHECK_ADDR", lambda p: out_total.eq(p))
            with m.State("CHECK_ADDR"):
                in_bytes = in_words << in_word_shift
                q_total = plan.mg << q_group_shift
                m.d.sync += [plan.in_bytes.eq(in_bytes), plan.in_words.eq(in_words),
                             plan.out_bytes.eq(plan.out_pixels << pm_shift)]
                # Command lengths are 32-bit: a larger input is refused as too large.
                too_big = (in_bytes >> 32) != 0
                over = ((d.in_addr + in_bytes > addr_limit) | (d.weight_addr + w_total > addr_limit) |
                        (d.out_addr + out_total > addr_limit) | (d.quant_addr + q_total > addr_limit))
                with m.If(too_big):
                    fail(ErrorCode.BAD_SIZE)
                with m.Elif(over):
                    fail(ErrorCode.BAD_ADDRESS)
                with m.Else():
                    m.next = "DONE"
            with m.State("DONE"):
                m.d.comb += self.done.eq(1)
                m.next = "IDLE"
        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
        return m
