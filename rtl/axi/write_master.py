"""AXI4 burst write master: byte-addressed transfer commands plus a word stream in, bursts out."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO, SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from .bursts import BurstPlanner, MasterParameters, command_layout
from .command_decoder import CommandDecoder
from .signature import AXI4WriteSignature, AXI_BURST_INCR, AXI_MAX_BURST

__all__ = ["AXI4WriteMaster", "write_data_layout", "write_done_layout"]


def write_data_layout(data_width: int) -> data.StructLayout:
    """Payload of the write master's ``data`` stream."""
    return data.StructLayout({"data": data_width})


def write_done_layout() -> data.StructLayout:
    """Payload of the write master's ``done`` stream."""
    return data.StructLayout({"error": 1})


class AXI4WriteMaster(MasterParameters, wiring.Component):
    """Writes byte ranges of memory over AXI4 from a stream of words aligned to byte 0.

    Ports
        ``cmd``: In(stream of ``command_layout(addr_width)`` = ``{addr, length}``): write
        ``length >= 1`` bytes at byte address ``addr`` (any alignment).
        ``data``: In(stream of ``{data}``): ``ceil(length / B)`` words per command, in command
        order (``B = data_width // 8``); byte ``k`` of word ``j`` goes to ``addr + j*B + k``;
        bytes past ``length`` in the final word are ignored (never written).
        ``done``: Out(stream of ``{error}``): one beat per command, in order, after every B
        response of the command has arrived; ``error`` = some BRESP of it was not OKAY (or the
        command had ``length == 0``).
        ``axi``: Out(:class:`AXI4WriteSignature`): AW + W + B of the shared memory port.
        ``error``: Out(1), sticky: a BRESP other than OKAY, or a ``length == 0`` command;
        ``clear_error``: In(1) pulse clears it (a new error in the same cycle wins).
        ``idle``: Out(1), a register (one cycle behind): no command accepted and unfinished (its ``done`` beat not taken).
        ``stop``: In(1), a register upstream (an abort): no further burst is issued (an AW
        already presented completes its handshake); the W beats of bursts already issued go
        out with WSTRB = 0 (no byte written) without taking words from ``data``; B responses
        are taken without waiting for ``done``. ``quiet``: Out(1), a register (one cycle
        behind): no burst outstanding (every issued burst has its B response). With ``stop``
        held, ``quiet`` stays up; the core may then be reset with no AXI transaction open.

    Bursts
        INCR, AWSIZE = log2(B), AWCACHE = 0b0011, AWPROT = AWLOCK = AWQOS = AWID = 0, at most
        ``max_burst`` (<= 256) beats, never across a 4 KiB boundary, WLAST on the final beat of
        each burst. WSTRB enables exactly the bytes of the command: the first beat starts at
        lane ``addr % B``, the last ends at lane ``(addr + length - 1) % B``. The master shifts
        the word stream to the address alignment (one more bus beat than words when the range
        spills into an extra lane group). A burst's W beats are sent only after its AW
        handshake (so W never runs ahead of AW); up to ``max_outstanding`` bursts may be issued
        and waiting for their B responses.
        Producer contract: once a command is accepted, its words must eventually arrive (an AW
        has been issued for them); an aborted layer still feeds (any) words or resets the core.
        A ``length == 0`` command writes nothing and gets a ``done`` beat with ``error`` set.

    Timing
        Throughput: one W beat per cycle when the slave and the producer keep up, also across
        command and burst boundaries. ``cmd`` accepted in cycle t -> AWVALID in t+6; AW
        handshake in cycle t -> the burst's first WVALID in t+2 at the earliest (later bursts
        are normally queued ahead, so W streams on). ``done`` is valid in the cycle after the
        command's last B handshake.
        Back-pressure: ``data.ready`` depends combinationally on WREADY (never on
        ``data.valid``); BREADY is low only while a finished command's ``done`` beat cannot be
        delivered. WDATA/WSTRB/WLAST are registers, stable until their handshake.
    """

    def __init__(self, data_width: int = 64, addr_width: int = 64, max_burst: int = AXI_MAX_BURST,
                 max_outstanding: int = 4, id_width: int = 1):
        self._set_master_parameters(data_width, addr_width, max_burst, max_outstanding, id_width)
        super().__init__({
            "cmd": In(stream.Signature(command_layout(addr_width))),
            "data": In(stream.Signature(write_data_layout(data_width))),
            "done": Out(stream.Signature(write_done_layout())),
            "axi": Out(AXI4WriteSignature(addr_width, data_width, id_width)),
            "error": Out(1),
            "clear_error": In(1),
            "idle": Out(1),
            "stop": In(1),
            "quiet": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        B, lb, dw = self.bus_bytes, self.log_bytes, self.data_width
        axi = self.axi
        depth = self.max_outstanding

        m.submodules.planner = planner = BurstPlanner(self.addr_width, B, self.max_burst, self.beats_width)
        # Small first-word-fall-through queues (LUT RAM). burstq and respq are pushed at AW
        # handshakes, which cannot wait: they never overflow because each entry belongs to a
        # burst counted in ``outstanding`` (<= max_outstanding = their depth) and SyncFIFO's
        # w_rdy is exactly level != depth.
        # Per command, for the W path (pushed when the command is accepted).
        wcmd_layout = data.StructLayout({
            "off": lb,                      # first byte lane
            "last_beat": self.beats_width,  # bus beats - 1
            "end_lane": lb,                 # last byte lane of the final beat
            "spill": 1,                     # bus beats = words + 1 (final beat takes no word)
            "single": 1,                    # one bus beat (last_beat == 0)
            "last_m1": self.beats_width,    # last_beat - 1 (the W path compares without an adder)
        })
        m.submodules.wcmdq = wcmdq = SyncFIFOBuffered(width=wcmd_layout.size, depth=depth + 1)
        # Per issued burst, for the W path: its AWLEN and whether it is one beat (pushed at the
        # AW handshake).
        burst_layout = data.StructLayout({"len": 8, "single": 1})
        # (Buffered: registered output; one spare entry because its inner queue, not its
        # output register, decides w_rdy.)
        m.submodules.burstq = burstq = SyncFIFOBuffered(width=burst_layout.size, depth=depth + 1)
        # Per issued burst (or zero-length command), for the B path.
        resp_layout = data.StructLayout({"last": 1, "empty": 1})
        m.submodules.respq = respq = SyncFIFO(width=resp_layout.size, depth=depth)

        # ---- command decode (registered) -------------------------------------------------------
        m.submodules.decoder = decoder = CommandDecoder(self.addr_width, B, self.beats_width)
        wiring.connect(m, wiring.flipped(self.cmd), decoder.i)
        dec = decoder.o.payload
        wcmd = Signal(wcmd_layout)
        dec_valid, zero = decoder.o.valid, dec.zero
        dec_take = Signal()
        m.d.comb += [
            wcmd.off.eq(dec.off), wcmd.last_beat.eq(dec.last_beat), wcmd.end_lane.eq(dec.end_lane),
            wcmd.spill.eq(dec.spill), wcmd.single.eq(dec.single), wcmd.last_m1.eq(dec.last_beat - 1),
        ]

        # Bursts issued and not yet answered on B (plus zero-length markers in respq).
        outstanding = Signal(range(depth + 1))
        credit = Signal()
        m.d.comb += credit.eq(outstanding < depth)
        # A zero-length command is queued as a marker in respq; it waits until every burst of
        # earlier commands has passed its AW handshake so the markers stay in command order.
        zero_take = Signal()
        m.d.comb += [
            zero_take.eq(dec_valid & zero & ~planner.busy & credit),
            planner.i.payload.addr.eq(Cat(Const(0, lb), dec.word_addr)),
            planner.i.payload.beats.eq(wcmd.last_beat + 1),
            planner.i.valid.eq(dec_valid & ~zero & wcmdq.w_rdy),
            wcmdq.w_data.eq(wcmd),
            wcmdq.w_en.eq(dec_valid & ~zero & planner.i.ready),
            decoder.o.ready.eq(Mux(zero, ~planner.busy & credit, planner.i.ready & wcmdq.w_rdy)),
            dec_take.eq(decoder.o.ready & dec_valid),
        ]

        # ---- AW channel ------------------------------------------------------------------------
        aw_fire = Signal()
        m.d.comb += [
            axi.AWID.eq(0),
            axi.AWADDR.eq(planner.o.payload.addr),
            axi.AWLEN.eq(planner.o.payload.len),
            axi.AWSIZE.eq(lb),
            axi.AWBURST.eq(AXI_BURST_INCR),
            axi.AWLOCK.eq(0),
            axi.AWCACHE.eq(0b0011),
            axi.AWPROT.eq(0),
            axi.AWQOS.eq(0),
            axi.AWVALID.eq(planner.o.valid),
            planner.o.ready.eq(axi.AWREADY),
            planner.allow.eq(credit & ~self.stop),
            aw_fire.eq(axi.AWVALID & axi.AWREADY),
            burstq.w_data.eq(Cat(planner.o.payload.len, planner.o.payload.len == 0)),
            burstq.w_en.eq(aw_fire),
        ]
        resp_in = Signal(resp_layout)
        m.d.comb += [
            resp_in.last.eq(Mux(aw_fire, planner.o.payload.last, 1)),
            resp_in.empty.eq(~aw_fire),
            respq.w_data.eq(resp_in),
            respq.w_en.eq(aw_fire | zero_take),
        ]

        # ---- W channel -------------------------------------------------------------------------
        cur = Signal(wcmd_layout)
        burst = Signal(burst_layout)
        m.d.comb += [cur.eq(wcmdq.r_data), burst.eq(burstq.r_data)]
        beat = Signal(self.beats_width)   # bus beat index within the command
        bbeat = Signal(8)                 # beat index within the burst
        hold = Signal(dw)                 # previous word of the command
        # beat == 0 / bbeat == 0 are registers; whether a later beat is the command's (burst's)
        # last is compared a beat ahead, so the W path holds no wide compare.
        first, bfirst = Signal(init=1), Signal(init=1)
        later_last_cmd, later_last_burst = Signal(), Signal()
        last_cmd, last_burst, takes_word = Signal(), Signal(), Signal()
        m.d.comb += [
            last_cmd.eq(Mux(first, cur.single, later_last_cmd)),
            last_burst.eq(Mux(bfirst, burst.single, later_last_burst)),
            takes_word.eq(~(last_cmd & cur.spill)),
        ]
        can = Signal()
        load = Signal()
        # A finished command (burst) leaves its queue the cycle after its last beat loads: the
        # pop is a register, and the W path waits that one cycle.
        pop_cmd, pop_burst = Signal(), Signal()
        m.d.comb += [
            can.eq((~axi.WVALID | axi.WREADY) & wcmdq.r_rdy & burstq.r_rdy & ~pop_cmd & ~pop_burst),
            self.data.ready.eq(can & takes_word & ~self.stop),
            load.eq(can & (self.data.valid | ~takes_word | self.stop)),
        ]
        # Bus lane k of beat j carries stream byte j*B + k - off: the window {word, hold}
        # shifted right by (B - off) bytes.
        # hold is cleared when a command ends, so a command's first beat sees zeros before it.
        word = Signal(dw)
        prev = hold
        m.d.comb += word.eq(Mux(takes_word, self.data.payload.data, 0))
        shift = Signal(lb + 1)
        m.d.comb += shift.eq(B - cur.off)
        wdata = Signal(dw)
        m.d.comb += wdata.eq((Cat(prev, word) >> Cat(Const(0, 3), shift))[:dw])
        all_lanes = Const((1 << B) - 1, B)
        strb_first = Signal(B)
        strb_last = Signal(B)
        m.d.comb += [
            strb_first.eq(Mux(first, (all_lanes << cur.off)[:B], all_lanes)),
            strb_last.eq(Mux(last_cmd, all_lanes >> ~cur.end_lane, all_lanes)),
        ]
        with m.If(load):
            m.d.sync += [
                axi.WVALID.eq(1),
                axi.WDATA.eq(wdata),
                axi.WSTRB.eq(Mux(self.stop, 0, strb_first & strb_last)),
                axi.WLAST.eq(last_burst),
                beat.eq(Mux(last_cmd, 0, beat + 1)),
                bbeat.eq(Mux(last_burst, 0, bbeat + 1)),
                first.eq(last_cmd),
                bfirst.eq(last_burst),
                later_last_cmd.eq(beat == cur.last_m1),
                later_last_burst.eq(bbeat + 1 == burst.len),
            ]
            with m.If(last_cmd):
                m.d.sync += hold.eq(0)
            with m.Elif(takes_word):
                m.d.sync += hold.eq(self.data.payload.data)
        with m.Elif(axi.WREADY):
            m.d.sync += axi.WVALID.eq(0)
        m.d.sync += [pop_cmd.eq(load & last_cmd), pop_burst.eq(load & last_burst)]
        m.d.comb += [
            wcmdq.r_en.eq(pop_cmd),
            burstq.r_en.eq(pop_burst),
        ]

        # ---- B channel and done ------------------------------------------------------------------
        resp = Signal(resp_layout)
        m.d.comb += resp.eq(respq.r_data)
        done_free = Signal()
        m.d.comb += [
            done_free.eq(~self.done.valid | self.done.ready),
            axi.BREADY.eq(respq.r_rdy & ~resp.empty & (~resp.last | done_free | self.stop)),
        ]
        b_fire = Signal()
        b_bad = Signal()
        marker = Signal()
        m.d.comb += [
            b_fire.eq(axi.BVALID & axi.BREADY),
            b_bad.eq(axi.BRESP != 0),
            marker.eq(respq.r_rdy & resp.empty & (done_free | self.stop)),
            respq.r_en.eq(b_fire | marker),
        ]
        cmd_error = Signal()   # some earlier burst of the current command failed
        with m.If(self.done.ready):
            m.d.sync += self.done.valid.eq(0)
        with m.If(b_fire):
            with m.If(resp.last):
                m.d.sync += [
                    self.done.valid.eq(1),
                    self.done.payload.error.eq(cmd_error | b_bad),
                    cmd_error.eq(0),
                ]
            with m.Else():
                m.d.sync += cmd_error.eq(cmd_error | b_bad)
        with m.If(marker):
            m.d.sync += [self.done.valid.eq(1), self.done.payload.error.eq(1)]

        m.d.sync += outstanding.eq(outstanding + (planner.issue | zero_take) - (b_fire | marker))

        # ---- status -------------------------------------------------------------------------------
        with m.If((b_fire & b_bad) | zero_take):
            m.d.sync += self.error.eq(1)
        with m.Elif(self.clear_error):
            m.d.sync += self.error.eq(0)
        m.d.sync += self.quiet.eq(outstanding == 0)
        m.d.sync += self.idle.eq(~decoder.busy & ~planner.busy & (outstanding == 0) & (wcmdq.r_level == 0)
                                 & (burstq.r_level == 0) & (respq.r_level == 0) & ~pop_cmd & ~pop_burst
                                 & ~axi.WVALID & ~self.done.valid)
        return m
