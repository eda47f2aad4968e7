"""Direct-convolution multiply-accumulate array (pm output channels x pn input channels)."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..numerics import SUPPORTED_DATA_WIDTHS, accumulator_width
from ..stream import StreamFifo
from .pixel import accumulator_pixel_layout

__all__ = ["MacArray", "mac_input_layout"]


def mac_input_layout(pm: int, pn: int, data_width: int) -> data.StructLayout:
    """Payload of one MAC-array beat.

    ``act[n]``: activation of input channel ``n``; ``wgt[m][n]``: weight from input channel ``n``
    to output channel ``m``; ``first``: this beat starts a new accumulation (the previous sums
    are discarded); ``last``: this beat ends the accumulation and the ``pm`` sums are emitted;
    ``end``: (with ``last``) the emitted pixel ends its write command (the pass's final pixel).
    A beat may be both first and last (a 1-term accumulation). Fields are packed LSB first
    in the order act, wgt, first, last, end.
    """
    element = signed(data_width)
    return data.StructLayout({
        "act": data.ArrayLayout(element, pn),
        "wgt": data.ArrayLayout(data.ArrayLayout(element, pn), pm),
        "first": 1,
        "last": 1,
        "end": 1,
    })


class MacArray(wiring.Component):
    """``pm x pn`` multiply-accumulate array for direct convolution.

    Each accepted beat on ``i`` contributes ``sum_n wgt[m][n] * act[n]`` to accumulator ``m``.
    The beat marked ``last`` makes the array emit the ``pm`` exact sums on ``o``.

    Ports
        ``i``: ``stream.Signature(mac_input_layout(pm, pn, data_width))`` (sink)
        ``o``: ``stream.Signature(accumulator_pixel_layout(pm, acc_width))`` (source): the
        ``pm`` sums, ``last`` from the ``end`` of the pixel's ``last`` beat

    Timing
        Throughput: one beat per cycle (II=1) while ``o`` keeps up.
        Latency: ``LATENCY`` cycles from the handshake of a ``last`` beat to ``o.valid`` (input
        register, product register, first tree level, rest of the tree, accumulator -- the
        register stages of a DSP48 slice (A/B, M, P with the post-adder) plus one for the tree
        and one for the accumulator -- then the output FIFO).
        Back-pressure: the pipeline never stalls (no enable fans out to its registers); the
        sums go into an output FIFO of ``FIFO_DEPTH`` pixels, and ``i.ready`` (a compare of a
        counter, no path from ``o.ready``) admits beats while every accepted ``last`` beat still
        has a FIFO entry. ``o.payload`` is stable while ``o.valid`` is high and unacknowledged.

    Parameters
        ``pm``, ``pn``: parallelism (>= 1); ``data_width``: 8 or 16 (signed activations and
        weights); ``max_terms``: the longest accumulation the build allows (products summed per
        output, e.g. K*K*C), which fixes ``acc_width = accumulator_width(data_width, max_terms)``
        so no sum can overflow. Accumulating more than ``max_terms`` products is outside the
        contract (the sequencer enforces it).
    """

    def __init__(self, pm: int, pn: int, data_width: int = 8, max_terms: int = 9 * 512):
        if pm < 1 or pn < 1:
            raise ValueError(f"pm and pn must be at least 1, got pm={pm}, pn={pn}")
        if data_width not in SUPPORTED_DATA_WIDTHS:
            raise ValueError(f"data_width must be one of {SUPPORTED_DATA_WIDTHS}, got {data_width}")
        if max_terms < pn:
            raise ValueError(f"max_terms ({max_terms}) must be at least pn ({pn})")
        self.pm, self.pn, self.data_width, self.max_terms = pm, pn, data_width, max_terms
        self.acc_width = accumulator_width(data_width, max_terms)
        super().__init__({
            "i": In(stream.Signature(mac_input_layout(pm, pn, data_width))),
            "o": Out(stream.Signature(accumulator_pixel_layout(pm, self.acc_width))),
        })

    #: Cycles from a ``last`` beat's handshake to ``o.valid``.
    LATENCY = 7
    #: Output FIFO entries (pixels): more than the credit loop (a ``last`` beat to its pop and
    #: the credit's return, LATENCY + 3 cycles), so a consumer that takes a pixel per cycle never throttles the input.
    FIFO_DEPTH = 12

    def elaborate(self, platform):
        m = Module()
        pm, pn, dw = self.pm, self.pn, self.data_width
        layout = mac_input_layout(pm, pn, dw)
        acc_layout = data.ArrayLayout(signed(self.acc_width), pm)
        pixel_layout = accumulator_pixel_layout(pm, self.acc_width)

        # Credits: accepted `last` beats whose sums have not left `o` yet.
        m.submodules.results = results = StreamFifo(pixel_layout, self.FIFO_DEPTH)
        in_flight = Signal(range(self.FIFO_DEPTH + 1))
        take = Signal()
        m.d.comb += [
            self.i.ready.eq(in_flight < self.FIFO_DEPTH),
            take.eq(self.i.valid & self.i.ready),
        ]
        # A pixel's credit returns the cycle after it leaves `o` (no path from o.ready into the count).
        popped = Signal()
        m.d.sync += [popped.eq(self.o.valid & self.o.ready),
                     in_flight.eq(in_flight + (take & self.i.payload.last) - popped)]

        # Stage 1: operand registers (DSP48 A/B registers).
        beat = Signal(layout)
        beat_valid = Signal()
        m.d.sync += [beat.eq(self.i.payload), beat_valid.eq(take)]

        # Stage 2: product registers (DSP48 M register).
        product_width = 2 * dw
        products = [[Signal(signed(product_width), name=f"prod_{mi}_{ni}") for ni in range(pn)]
                    for mi in range(pm)]
        prod_first, prod_last, prod_end, prod_valid = Signal(), Signal(), Signal(), Signal()
        m.d.sync += [prod_first.eq(beat.first), prod_last.eq(beat.last), prod_end.eq(beat.end),
                     prod_valid.eq(beat_valid)]
        for mi in range(pm):
            for ni in range(pn):
                m.d.sync += products[mi][ni].eq(beat.act[ni] * beat.wgt[mi][ni])

        # Stage 3: the first level of the adder tree (pairs of products: a DSP slice's post-adder
        # with its P register); stage 4: the rest of the tree over the pn products of each
        # output channel.
        sum_width = self.acc_width
        pairs = [[Signal(signed(product_width + 1), name=f"pair_{mi}_{k}") for k in range((pn + 1) // 2)]
                 for mi in range(pm)]
        pair_first, pair_last, pair_end, pair_valid = Signal(), Signal(), Signal(), Signal()
        m.d.sync += [pair_first.eq(prod_first), pair_last.eq(prod_last), pair_end.eq(prod_end),
                     pair_valid.eq(prod_valid)]
        for mi in range(pm):
            for k in range((pn + 1) // 2):
                m.d.sync += pairs[mi][k].eq(_tree_sum(products[mi][2 * k:2 * k + 2]))
        sums = [Signal(signed(sum_width), name=f"sum_{mi}") for mi in range(pm)]
        sum_first, sum_last, sum_end, sum_valid = Signal(), Signal(), Signal(), Signal()
        m.d.sync += [sum_first.eq(pair_first), sum_last.eq(pair_last), sum_end.eq(pair_end),
                     sum_valid.eq(pair_valid)]
        for mi in range(pm):
            m.d.sync += sums[mi].eq(_tree_sum(pairs[mi]))

        # Stage 5: accumulators; a finished pixel goes into the FIFO.
        acc = Signal(acc_layout)
        acc_end = Signal()
        done = Signal()
        m.d.sync += [done.eq(sum_valid & sum_last), acc_end.eq(sum_end)]
        with m.If(sum_valid):
            for mi in range(pm):
                # One adder whose first operand is cleared: one LUT per bit (an if/else of
                # "load" and "add" costs two).
                m.d.sync += acc[mi].eq(Mux(sum_first, 0, acc[mi]) + sums[mi])
        # Credits keep a FIFO entry for every pixel in flight: `done` never meets a full FIFO.
        m.d.comb += [results.i.payload.data.eq(acc), results.i.payload.last.eq(acc_end), results.i.valid.eq(done)]
        wiring.connect(m, results.o, wiring.flipped(self.o))
        return m


def _tree_sum(values):
    """Balanced binary adder tree (combinational) over a list of signed values."""
    level = list(values)
    while len(level) > 1:
        nxt = [level[k] + level[k + 1] for k in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]
