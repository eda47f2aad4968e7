"""Layer descriptor: its layout, the checks that refuse what the build cannot run, derived sizes."""

from __future__ import annotations

import functools
import operator

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..config import AcceleratorConfig
from ..error_codes import ErrorCode
from ..descriptor import POOL_MODES, POOL_WINDOW
from ..numerics import ACT_TABLE_BYTES, QUANT_ENTRY_BYTES
from .seq_mul import SequentialMultiplier

__all__ = ["LayerCheck", "descriptor_layout", "plan_layout"]


def descriptor_layout() -> data.StructLayout:
    """The runtime layer descriptor as written by the host (see rtl.registers)."""
    return data.StructLayout({
        "in_channels": 16, "out_channels": 16, "height": 16, "width": 16,
        "kernel": 4, "stride": 4, "padding": 4, "relu": 1, "table": 1, "pool": 2,
        "in_addr": 64, "weight_addr": 64, "out_addr": 64, "quant_addr": 64,
    })


def plan_layout() -> data.StructLayout:
    """Sizes derived from a checked descriptor (per output-channel group where noted)."""
    return data.StructLayout({
        "cg": 16,          # input channel groups ceil(C / pn)
        "mg": 16,          # output channel groups ceil(M / pm)
        "ho": 16, "wo": 16, # the convolution's output (the datapath's)
        "line": 16,        # pixels of each written output row: wo, or wo / 2 when pooled
        "row_words": 32,   # W * cg
        "taps": 32,        # cg * K * K (weight taps per group)
        "w_words": 32,     # weight words per group: ceil(taps / the engine's weight_word_taps)
        "in_words": 32,    # H * W * cg pn-words of input
        "in_bytes": 64,    # whole input, read once per group
        "w_bytes": 64,     # weights of one group
        "out_pixels": 32,  # written pixels: ho * wo, or a quarter when pooled
        "out_bytes": 64,   # output of one group
        "row_bytes": 32,   # one output row of one group: line * pm
        "row_stride": 64,  # one output row of every group: mg * row_bytes ([Ho][MG][Wo][pm])
        "passes": 16,      # datapath passes: mg, or 1 when the engine reuses the input
        "strip_bytes": 32, # output bytes of one group per visit (all of them: out_bytes)
        "seg_bytes": 32,   # one channel group's segment of an input row: W pn-words
    })


#: ceil(2^18 / 3): ``(y * RECIPROCAL_3) >> RECIPROCAL_3_SHIFT == y // 3`` for every y < 2^17
#: (the error, 2y / (3 * 2^18), stays below 1/3).
RECIPROCAL_3, RECIPROCAL_3_SHIFT = 87382, 18


def times(value, k: int):
    """``value * k`` for a build constant ``k`` as shifts and adds (one term per set bit of
    ``k``; pm, pn and their byte sizes are 2^a or 3 * 2^a, so at most two): control logic
    spends no DSP on it."""
    return functools.reduce(operator.add, [value << b for b in range(k.bit_length()) if k >> b & 1])


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

    Latency: a few cycles for a refused descriptor; about 8 x 33 + 20 cycles for an accepted
    one (sizes are computed with one shift-and-add multiplier: no DSP is spent on control).
    The checks run one per cycle, each a compare of registers, and every buffer's end address
    is summed in a state of its own before it is compared: the check is sequential, once per
    layer, so it never limits the clock.
    Every byte the layer will touch is inside ``[addr, addr + size)`` of one of its four
    buffers; a buffer that would pass the top of the address space is refused (BAD_ADDRESS).
    """

    #: Cycles the pooled-output check adds to an accepted descriptor's check on a build with
    #: pooling (a compare into a register, then the decision).
    POOL_CHECK_CYCLES = 2

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
        in_word_bytes = cfg.pn * cfg.data_width // 8
        w_word_bytes = cfg.pm * cfg.pn * cfg.data_width // 8
        engine = cfg.engine_description
        word_taps = engine.weight_word_taps(cfg)   # a power of two
        word_taps_shift = word_taps.bit_length() - 1
        addr_limit = 1 << cfg.axi_addr_width

        hq = Signal(16)          # written output rows
        hp = Signal(18)
        wp = Signal(18)
        cgk = Signal(32)
        in_words = Signal(64)
        w_total = Signal(64)
        out_total = Signal(64)
        hspan = Signal(18)
        wspan = Signal(18)
        buffer_end = Signal(66)

        # The multiplier's operands and start are registers: the steps only choose them.
        op_a, op_b, go = Signal(32), Signal(32), Signal()
        m.d.comb += [mul.a.eq(op_a), mul.b.eq(op_b), mul.start.eq(go)]
        m.d.sync += go.eq(0)

        # The check is a fixed sequence of steps, one-hot encoded (a step is one bit; moving on
        # is a shift), so no step decodes a state number. A step is
        # ``(name, statements, done condition, refusal condition, error code)``.
        steps = []

        def step(name, statements=(), done=1, refused=None, code=ErrorCode.OK):
            if refused is not None:
                # A check compares into a register in a cycle of its own, then decides on it.
                verdict = Signal(name=f"refused_{name.lower()}")
                m.d.sync += verdict.eq(refused)
                steps.append((name + "_SETTLE", [], 1, 0, ErrorCode.OK))
                refused = verdict
            steps.append((name, list(statements), done, 0 if refused is None else refused, code))

        def multiply(name, a, b, store):
            step(name, [op_a.eq(a), op_b.eq(b), go.eq(1)])
            step(name + "_WAIT", [store(mul.p)], done=~mul.busy & ~go)

        bad_pool = (d.pool != 0) if not cfg.pooling else (d.pool >= len(POOL_MODES))
        step("CHK_FLAGS", refused=(d.table & (not cfg.activation_table)) | bad_pool, code=ErrorCode.BAD_FLAGS)
        step("CHK_CHANNELS", refused=(d.in_channels == 0) | (d.out_channels == 0) |
             (d.in_channels > cfg.max_channels) | (d.out_channels > cfg.max_channels), code=ErrorCode.BAD_CHANNELS)
        # Channel groups ceil(C / p): a shift for a power of two, else (p = 3 * 2^a) a multiply
        # by the reciprocal of 3, exact for every 17-bit dividend (docs/architecture.md).
        for name, channels, p, group in (("CG", d.in_channels, cfg.pn, plan.cg), ("MG", d.out_channels, cfg.pm, plan.mg)):
            if p & (p - 1):
                a = (p // 3).bit_length() - 1
                multiply(name, (channels + p - 1) >> a, RECIPROCAL_3, lambda q, g=group: g.eq(q >> RECIPROCAL_3_SHIFT))
        step("CHK_SIZE", refused=(d.height == 0) | (d.width == 0) |
             (d.height > cfg.max_height) | (d.width > cfg.max_width), code=ErrorCode.BAD_SIZE)
        step("CHK_KERNEL", refused=(d.kernel == 0) | (d.kernel > cfg.max_kernel) |
             ((d.kernel != engine.kernel) if engine.kernel is not None else 0), code=ErrorCode.BAD_KERNEL)
        step("CHK_STRIDE", refused=(d.stride == 0) | (d.stride > cfg.max_stride) |
             ((d.stride != engine.stride) if engine.stride is not None else 0), code=ErrorCode.BAD_STRIDE)
        step("CHK_PADDING", refused=d.padding >= d.kernel, code=ErrorCode.BAD_PADDING)
        step("CHK_OUTPUT", refused=(hp < d.kernel) | (wp < d.kernel), code=ErrorCode.BAD_OUTPUT)
        step("SPANS", [hspan.eq(hp - d.kernel), wspan.eq(wp - d.kernel)])
        step("OUT_SIZE", [plan.ho.eq(Mux(d.stride == 2, hspan >> 1, hspan) + 1),
                          plan.wo.eq(Mux(d.stride == 2, wspan >> 1, wspan) + 1)])
        # The written rows and row width are registered while the output size is checked.
        pooled = d.pool != 0
        step("CHK_OUT_MAX", [hq.eq(Mux(pooled, plan.ho >> 1, plan.ho)), plan.line.eq(Mux(pooled, plan.wo >> 1, plan.wo))],
             refused=(plan.ho > cfg.max_height) | (plan.wo > cfg.max_width), code=ErrorCode.BAD_OUTPUT)
        if cfg.pooling:
            # 2x2 stride-2 windows tile the output exactly (POOL_CHECK_CYCLES: this step and its settle cycle).
            step("CHK_POOL", refused=pooled & (plan.ho[0] | plan.wo[0]), code=ErrorCode.BAD_POOL)
        multiply("ROW_WORDS", d.width, plan.cg, lambda p: plan.row_words.eq(p))
        step("CHECK_ROW", refused=plan.row_words > cfg.row_words, code=ErrorCode.BAD_SIZE)
        multiply("CGK", plan.cg, d.kernel, lambda p: cgk.eq(p))
        multiply("TAPS", cgk, d.kernel, lambda p: plan.taps.eq(p))
        step("CHECK_TAPS", refused=plan.taps > cfg.weight_depth, code=ErrorCode.BAD_CHANNELS)
        step("W_BYTES", [plan.w_bytes.eq(times(plan.taps, w_word_bytes)),
                         plan.w_words.eq((plan.taps + word_taps - 1) >> word_taps_shift)])
        multiply("IN_WORDS", d.height, plan.row_words, lambda p: in_words.eq(p))
        multiply("OUT_PIXELS", hq, plan.line, lambda p: plan.out_pixels.eq(p))
        multiply("W_TOTAL", plan.w_bytes[:32], plan.mg, lambda p: w_total.eq(p))
        step("OUT_BYTES", [plan.out_bytes.eq(times(plan.out_pixels, cfg.pm)), plan.row_bytes.eq(times(plan.line, cfg.pm))])
        multiply("ROW_STRIDE", plan.row_bytes, plan.mg, lambda p: plan.row_stride.eq(p))
        multiply("OUT_TOTAL", plan.out_bytes[:32], plan.mg, lambda p: out_total.eq(p))
        step("SIZES", [plan.in_bytes.eq(times(in_words, in_word_bytes)), plan.in_words.eq(in_words),
                       plan.seg_bytes.eq(times(d.width, in_word_bytes))])
        if engine.input_reuse:
            # A visit writes strip_rows output rows of one group (the last strip fewer), half
            # as many pooled (strip_rows is even on a build with pooling).
            rows = engine.strip_rows(cfg)
            strip = times(plan.line, cfg.pm * rows)
            if cfg.pooling:
                strip = Mux(pooled, times(plan.line, cfg.pm * (rows // POOL_WINDOW)), strip)
            step("VISITS", [plan.passes.eq(1), plan.strip_bytes.eq(strip)])
        else:
            step("VISITS", [plan.passes.eq(plan.mg), plan.strip_bytes.eq(plan.out_bytes)])
        # Command lengths are 32-bit: a larger input is refused as too large.
        step("CHECK_IN", refused=(plan.in_bytes >> 32) != 0, code=ErrorCode.BAD_SIZE)
        # Every buffer must end within the address space: one sum per step, then compare.
        for name, base, size in (("END_IN", d.in_addr, plan.in_bytes), ("END_W", d.weight_addr, w_total),
                                 ("END_OUT", d.out_addr, out_total), ("END_Q", d.quant_addr,
                                  times(plan.mg, cfg.pm * QUANT_ENTRY_BYTES) + Mux(d.table, ACT_TABLE_BYTES, 0))):
            step(name, [buffer_end.eq(base + size)])
            step(name + "_CMP", refused=buffer_end > addr_limit, code=ErrorCode.BAD_ADDRESS)

        at = Signal(len(steps), name="step")   # one-hot; all zero when idle
        active = Signal()                       # a step bit is set (a register: no wide OR of `at`)
        finish = Signal()                       # the last step passed, or a step refused
        m.d.sync += finish.eq(0)
        # Each step bit's next value depends on its own step and its predecessor only, and the
        # error code is an OR over the (one-hot) refusing steps: no chain through all steps.
        refusing = [Signal(name=f"refuse_{name.lower()}") for name, *_ in steps]
        passing = [Signal(name=f"pass_{name.lower()}") for name, *_ in steps]
        for k, (name, statements, done, refused, code) in enumerate(steps):
            m.d.comb += [refusing[k].eq(at[k] & refused), passing[k].eq(at[k] & ~refused & done)]
            with m.If(at[k]):
                m.d.sync += statements
            with m.If(refusing[k] | passing[k]):
                m.d.sync += at[k].eq(0)
            if k + 1 < len(steps):
                with m.If(passing[k]):
                    m.d.sync += at[k + 1].eq(1)
        refuse_code = Signal(8)
        m.d.comb += refuse_code.eq(functools.reduce(operator.or_, [Mux(r, code, 0) for r, (*_, code) in
                                                                    zip(refusing, steps)]))
        with m.If(functools.reduce(operator.or_, refusing)):
            m.d.sync += [self.error.eq(refuse_code), finish.eq(1), active.eq(0)]
        with m.If(passing[-1]):
            m.d.sync += [finish.eq(1), active.eq(0)]
        with m.If(self.start & ~active & ~finish):
            for channels, p, group in ((d.in_channels, cfg.pn, plan.cg), (d.out_channels, cfg.pm, plan.mg)):
                if not p & (p - 1):
                    m.d.sync += group.eq((channels + p - 1) >> (p.bit_length() - 1))
            m.d.sync += [
                active.eq(1),
                self.error.eq(ErrorCode.OK),
                hp.eq(d.height + 2 * d.padding),
                wp.eq(d.width + 2 * d.padding),
                at[0].eq(1),
            ]
        m.d.comb += [self.busy.eq(active | finish), self.done.eq(finish)]
        return m
