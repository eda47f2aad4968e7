"""AXI4 burst read master: byte-addressed transfer commands in, realigned data beats out."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from .bursts import BurstPlanner, MasterParameters, command_layout
from .command_decoder import CommandDecoder
from .signature import AXI4ReadSignature, AXI_BURST_INCR, AXI_MAX_BURST

__all__ = ["AXI4ReadMaster", "read_data_layout"]


def read_data_layout(data_width: int) -> data.StructLayout:
    """Payload of the read master's ``data`` stream: the word (LSB first), then ``last``."""
    return data.StructLayout({"data": data_width, "last": 1})


class AXI4ReadMaster(MasterParameters, wiring.Component):
    """Reads byte ranges of memory over AXI4 and streams them out realigned to byte 0.

    Ports
        ``cmd``: In(stream of ``command_layout(addr_width)`` = ``{addr, length}``): read
        ``length >= 1`` bytes from byte address ``addr`` (any alignment). Commands are served
        in order; up to ``max_outstanding + 1`` accepted commands may wait for their data.
        ``data``: Out(stream of ``{data, last}``): ``ceil(length / B)`` beats per command
        (``B = data_width // 8``); byte ``k`` of beat ``j`` is memory byte ``addr + j*B + k``;
        bytes past ``length`` in the final beat are zero; ``last`` marks the final beat.
        ``axi``: Out(:class:`AXI4ReadSignature`): AR + R of the shared memory port.
        ``error``: Out(1), sticky: an R beat came back with SLVERR/DECERR (its data is passed on
        unchanged, so every command still completes), or a command had ``length == 0``.
        ``clear_error``: In(1): a pulse clears ``error`` (a new error in the same cycle wins).
        ``idle``: Out(1), a register (one cycle behind): no command accepted and unfinished, no burst outstanding, no beat
        waiting on ``data``.
        ``stop``: In(1), a register upstream (an abort): no further burst is issued (an AR
        already presented completes its handshake); bursts in flight still return.
        ``quiet``: Out(1), a register (one cycle behind): no burst outstanding. With ``stop``
        held, ``quiet`` stays up; the core may then be reset without leaving an AXI
        transaction open (provided ``data`` is drained meanwhile).

    Bursts
        INCR, ARSIZE = log2(B), ARCACHE = 0b0011 (normal non-cacheable bufferable, as Vitis HLS
        m_axi), ARPROT = ARLOCK = ARQOS = ARID = 0. At most ``max_burst`` (<= 256) beats and
        never across a 4 KiB boundary. Up to ``max_outstanding`` bursts are in flight (issued
        and not yet fully returned); AR runs ahead of R data within that credit.
        A ``length == 0`` command is a contract violation: it is consumed, produces no beat and
        sets ``error``.

    Timing
        Throughput: one data beat per cycle when the slave and the consumer keep up (commands
        whose start is not bus aligned cost no extra cycle).
        Latency: ``cmd`` accepted in cycle t -> ARVALID in t+6 (two decode registers, then the
        planner's three steps); an R beat accepted in cycle t
        -> its data beat on ``data`` in t+1 (t+2 for a beat that completes a command started
        off-alignment and also needs the next word's bytes: that beat waits for the next R).
        Back-pressure: RREADY is high when the two-entry output buffer has room for what the
        next R beat produces without counting on a pop in the same cycle, so RREADY is a
        function of registers only (not of RVALID or ``data.ready``): a stalled consumer costs
        one cycle after it resumes. ``data.payload`` is a register, stable until its handshake.
    """

    def __init__(self, data_width: int = 64, addr_width: int = 64, max_outstanding: int = 4,
                 max_burst: int = AXI_MAX_BURST, id_width: int = 1):
        self._set_master_parameters(data_width, addr_width, max_burst, max_outstanding, id_width)
        super().__init__({
            "cmd": In(stream.Signature(command_layout(addr_width))),
            "data": Out(stream.Signature(read_data_layout(data_width))),
            "axi": Out(AXI4ReadSignature(addr_width, data_width, id_width)),
            "error": Out(1),
            "clear_error": In(1),
            "idle": Out(1),
            "stop": In(1),
            "quiet": Out(1),
        })

    def _descriptor_layout(self) -> data.StructLayout:
        lb = self.log_bytes
        return data.StructLayout({
            "off": lb,                       # addr % B: byte lane of the first byte
            "last_beat": self.beats_width,   # read beats - 1
            "tail_m1": lb,                   # (length - 1) % B: last byte lane of the final output
            "spill": 1,                      # read beats = output beats + 1
            "single": 1,                     # one read beat
        })

    def elaborate(self, platform):
        m = Module()
        B, lb, dw = self.bus_bytes, self.log_bytes, self.data_width
        axi = self.axi

        m.submodules.planner = planner = BurstPlanner(self.addr_width, B, self.max_burst, self.beats_width)
        desc_layout = self._descriptor_layout()
        m.submodules.descq = descq = SyncFIFO(width=desc_layout.size, depth=self.max_outstanding + 1)

        # ---- command decode (registered): read beats and realignment descriptor -------------
        m.submodules.decoder = decoder = CommandDecoder(self.addr_width, B, self.beats_width)
        wiring.connect(m, wiring.flipped(self.cmd), decoder.i)
        dec = decoder.o.payload
        desc = Signal(desc_layout)
        dec_valid, dec_zero = decoder.o.valid, dec.zero
        dec_take = Signal()
        m.d.comb += [
            desc.off.eq(dec.off), desc.tail_m1.eq(dec.tail_m1), desc.spill.eq(dec.spill),
            desc.last_beat.eq(dec.last_beat), desc.single.eq(dec.single),
            dec_take.eq(dec_valid & (dec_zero | (planner.i.ready & descq.w_rdy))),
            decoder.o.ready.eq(dec_zero | (planner.i.ready & descq.w_rdy)),
            planner.i.payload.addr.eq(Cat(Const(0, lb), dec.word_addr)),
            planner.i.payload.beats.eq(dec.last_beat + 1),
            planner.i.valid.eq(dec_valid & ~dec_zero & descq.w_rdy),
            descq.w_data.eq(desc),
            descq.w_en.eq(dec_valid & ~dec_zero & planner.i.ready),
        ]

        # ---- AR channel ------------------------------------------------------------------
        m.d.comb += [
            axi.ARID.eq(0),
            axi.ARADDR.eq(planner.o.payload.addr),
            axi.ARLEN.eq(planner.o.payload.len),
            axi.ARSIZE.eq(lb),
            axi.ARBURST.eq(AXI_BURST_INCR),
            axi.ARLOCK.eq(0),
            axi.ARCACHE.eq(0b0011),
            axi.ARPROT.eq(0),
            axi.ARQOS.eq(0),
            axi.ARVALID.eq(planner.o.valid),
            planner.o.ready.eq(axi.ARREADY),
        ]

        # Outstanding bursts: taken when a burst is loaded into the AR register, returned
        # with its RLAST beat.
        r_fire = Signal()
        outstanding = Signal(range(self.max_outstanding + 1))
        burst_done = Signal()
        m.d.comb += [
            r_fire.eq(axi.RVALID & axi.RREADY),
            burst_done.eq(r_fire & axi.RLAST),
            planner.allow.eq((outstanding < self.max_outstanding) & ~self.stop),
        ]
        m.d.sync += outstanding.eq(outstanding + planner.issue - burst_done)

        # ---- R realignment ----------------------------------------------------------------
        cur = Signal(desc_layout)
        cur_valid = Signal()
        beat = Signal(self.beats_width)  # read beat index within the command
        hold = Signal(dw)                # previous read word of the command
        first = Signal()                 # beat == 0, kept as a register
        lastb = Signal()                 # beat == cur.last_beat, compared a beat ahead
        last_m1 = Signal(self.beats_width)  # cur.last_beat - 1: the compare needs no adder
        # Output A = bytes off.. of hold followed by bytes ..off-1 of R (a word straddling two
        # read beats); output Bv = bytes off.. of R alone (the word when it is the last).
        window = Signal(2 * dw)
        m.d.comb += window.eq(Cat(hold, axi.RDATA) >> Cat(Const(0, 3), cur.off))
        out_a, out_b = window[:dw], window[dw:]
        aligned = Signal()   # cur.off == 0, a register
        # The next R beat yields output A (~aligned & ~first) and/or output B (aligned, or the
        # last beat when nothing spills): registers, updated with first/lastb.
        emit_a, emit_b = Signal(), Signal()
        # Final output of the command: keep lanes 0..tail_m1 only.
        lane_mask = Signal(B)
        m.d.comb += lane_mask.eq(Const((1 << B) - 1, B) >> ~cur.tail_m1)
        bit_mask = Cat(lane_mask[k].replicate(8) for k in range(B))
        final_a = lastb & cur.spill   # A carries the last bytes
        final_b = lastb & emit_b      # Bv carries the last bytes
        a_word = Signal(dw)
        b_word = Signal(dw)
        m.d.comb += [
            a_word.eq(Mux(final_a, out_a & bit_mask, out_a)),
            b_word.eq(Mux(final_b, out_b & bit_mask, out_b)),
        ]

        # Two-entry output queue (head = the data port register, then a skid entry).
        out_layout = read_data_layout(dw)
        head, head_valid = self.data.payload, self.data.valid
        skid = Signal(out_layout)
        skid_valid = Signal()
        pop = Signal()
        m.d.comb += pop.eq(head_valid & self.data.ready)
        need = Signal(range(3))
        m.d.comb += need.eq(emit_a + emit_b)
        # Room for the next R beat's outputs (two entries, no pop counted): plain logic of
        # registers, no adder, so RREADY settles early in the cycle.
        two_out = emit_a & emit_b
        no_out = ~emit_a & ~emit_b
        held_none = ~head_valid & ~skid_valid
        held_both = head_valid & skid_valid
        m.d.comb += axi.RREADY.eq(cur_valid & (held_none | (~held_both & ~two_out) | no_out))

        push_n = Signal(range(3))
        p1 = Signal(out_layout)
        p2 = Signal(out_layout)
        m.d.comb += push_n.eq(Mux(r_fire, need, 0))
        with m.If(emit_a):
            m.d.comb += [p1.data.eq(a_word), p1.last.eq(final_a),
                         p2.data.eq(b_word), p2.last.eq(final_b)]
        with m.Else():
            m.d.comb += [p1.data.eq(b_word), p1.last.eq(final_b)]

        # Entries surviving the pop, in order.
        k0, k0_valid = Signal(out_layout), Signal()
        with m.If(pop):
            m.d.comb += [k0.eq(skid), k0_valid.eq(skid_valid)]
        with m.Else():
            m.d.comb += [k0.eq(head), k0_valid.eq(head_valid)]
        k1_valid = Signal()
        m.d.comb += k1_valid.eq(skid_valid & ~pop)
        with m.If(k0_valid):
            m.d.sync += [head.eq(k0), head_valid.eq(1)]
        with m.Elif(push_n != 0):
            m.d.sync += [head.eq(p1), head_valid.eq(1)]
        with m.Else():
            m.d.sync += head_valid.eq(0)
        with m.If(k1_valid):
            m.d.sync += [skid.eq(skid), skid_valid.eq(1)]
        with m.Elif(k0_valid & (push_n != 0)):
            m.d.sync += [skid.eq(p1), skid_valid.eq(1)]
        with m.Elif(~k0_valid & (push_n == 2)):
            m.d.sync += [skid.eq(p2), skid_valid.eq(1)]
        with m.Else():
            m.d.sync += skid_valid.eq(0)

        # Command sequencing: the next descriptor loads once the current one has finished (a
        # command's last beat costs one cycle before the next command's first: the pop is a
        # function of registers).
        take = Signal()
        m.d.comb += [
            take.eq(~cur_valid),
            descq.r_en.eq(take),
        ]
        with m.If(r_fire):
            next_lastb = Signal()
            m.d.comb += next_lastb.eq(beat == last_m1)
            m.d.sync += [hold.eq(axi.RDATA), beat.eq(beat + 1), first.eq(0), lastb.eq(next_lastb),
                         emit_a.eq(~aligned), emit_b.eq(aligned | (next_lastb & ~cur.spill))]
            with m.If(lastb):
                m.d.sync += cur_valid.eq(0)
        with m.If(take & descq.r_rdy):
            next_desc = Signal(desc_layout)
            m.d.comb += next_desc.eq(descq.r_data)
            next_aligned = next_desc.off == 0
            m.d.sync += [cur.eq(next_desc), cur_valid.eq(1), beat.eq(0), first.eq(1),
                         last_m1.eq(next_desc.last_beat - 1),
                         lastb.eq(next_desc.single), aligned.eq(next_aligned),
                         emit_a.eq(0), emit_b.eq(next_aligned | (next_desc.single & ~next_desc.spill))]

        # ---- status -------------------------------------------------------------------------
        bad_resp = r_fire & axi.RRESP[1]   # SLVERR (0b10) or DECERR (0b11)
        bad_cmd = dec_take & dec_zero      # consumed at once by the decode stage
        with m.If(bad_resp | bad_cmd):
            m.d.sync += self.error.eq(1)
        with m.Elif(self.clear_error):
            m.d.sync += self.error.eq(0)
        m.d.sync += self.quiet.eq(outstanding == 0)
        m.d.sync += self.idle.eq(~decoder.busy & ~planner.busy & (outstanding == 0) & (descq.r_level == 0)
                                 & ~cur_valid & ~head_valid & ~skid_valid)
        return m

