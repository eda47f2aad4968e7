"""AXI4-Lite register block generated from a :class:`rtl.registers.RegisterMap`."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..registers import HLS_CONTROL_FIELDS, REGISTER_BITS, Access, RegisterMap, field_port_name
from .signature import AXI4LiteSignature, AXI_RESP_OKAY

__all__ = ["ControlSlave"]

# The fields that together make the Vitis HLS control block, with their access types.
_HLS_BLOCK = {
    ("CTRL", "AP_START"): Access.SC,
    ("CTRL", "AP_DONE"): Access.COR,
    ("CTRL", "AP_IDLE"): Access.RO,
    ("CTRL", "AP_READY"): Access.COR,
    ("CTRL", "AUTO_RESTART"): Access.RW,
    ("GIER", "ENABLE"): Access.RW,
    ("IP_IER", "DONE"): Access.RW,
    ("IP_IER", "READY"): Access.RW,
    ("IP_ISR", "DONE"): Access.TOW,
    ("IP_ISR", "READY"): Access.TOW,
}


def _has_hls_block(regmap: RegisterMap) -> bool:
    present = {(r.name, f.name): f.access for r in regmap for f in r.fields if (r.name, f.name) in _HLS_BLOCK}
    if not present:
        return False
    missing = sorted(f"{r}.{f}" for (r, f) in _HLS_BLOCK if (r, f) not in present)
    if missing:
        raise ValueError(f"the register map has part of the Vitis HLS control block but lacks {', '.join(missing)}")
    wrong = sorted(f"{r}.{f}" for key, acc in present.items() for (r, f) in [key] if acc is not _HLS_BLOCK[key])
    if wrong:
        raise ValueError(f"HLS control fields with the wrong access type: {', '.join(wrong)}")
    return True


class ControlSlave(wiring.Component):
    """AXI4-Lite slave implementing ``regmap`` (32-bit registers), always responding OKAY.

    Bus port
        ``axi``: In(:class:`AXI4LiteSignature` ``(addr_width, 32)``), the slave side. Register
        ``k`` is at byte offset ``regmap`` offset; address bits 1:0 are ignored. Unmapped
        offsets read 0 and ignore writes. WSTRB is honoured per byte (also for the "write 1"
        of SC and TOW bits). AW and W may arrive in any order or together.

    Core ports (one per field; :func:`rtl.registers.field_port_name` gives the name:
    ``<register>_<field>`` lower case, or ``<register>`` for a field named like its register)
        RW: Out(width), the register value (reset value from the map).
        RO: In(width), read through; constant fields (``Field.constant``) have no port.
        SC: Out(1), a one-cycle pulse per accepted write of 1; reads as 0.
        COR: In(1) set pulse; the bit is cleared by any read of its register.
        TOW: In(1) set pulse; an accepted write of 1 toggles the bit.
        A set pulse in the same cycle as a clearing read or a toggling write wins (no event is
        lost); the read still returns the value before that cycle.

    Vitis HLS control (when the map has the CTRL / GIER / IP_IER / IP_ISR block): the CTRL
    fields use ``ap_start`` Out(1) (pulse on a write of AP_START=1, and on ``ap_done`` while
    AUTO_RESTART is set), ``ap_done`` In(1) pulse (sets AP_DONE, and IP_ISR.DONE when
    IP_IER.DONE), ``ap_ready`` In(1) pulse (sets AP_READY, and IP_ISR.READY when IP_IER.READY)
    and ``ap_idle`` In(1) level; IP_ISR is set internally (no port); ``interrupt`` Out(1) =
    GIER.ENABLE & |(IP_ISR & IP_IER). AUTO_RESTART, GIER and IP_IER keep their generic ports.

    Timing
        Read: ARREADY is high when no read response is pending; RVALID/RDATA are high from the
        cycle after the AR handshake (the register is sampled in the handshake cycle; COR bits
        clear at the end of it). At most one read every two cycles.
        Write: AWREADY/WREADY are high while the slave holds no AW / no W beat. In the cycle
        after it holds both (and no B response is pending) the write takes effect (registers,
        RW outputs and SC pulses change at the end of that cycle) and BVALID is high from the
        next: two cycles after the later of the AW and W handshakes. At most one write every
        three cycles.
    """

    def __init__(self, regmap: RegisterMap, addr_width: int = 8):
        if not isinstance(regmap, RegisterMap):
            raise TypeError(f"regmap must be a RegisterMap, got {type(regmap).__name__}")
        if regmap.span > (1 << addr_width):
            raise ValueError(f"the register map spans {regmap.span} bytes, more than addr_width={addr_width} reaches")
        self.regmap = regmap
        self.addr_width = addr_width
        self.hls = _has_hls_block(regmap)
        members = {"axi": In(AXI4LiteSignature(addr_width, REGISTER_BITS))}
        if self.hls:
            members["interrupt"] = Out(1)
        self._ports = {}   # (register, field) -> port name

        def add(key, name, member):
            if name in members:
                raise NameError(f"field {key[0]}.{key[1]} maps to port {name!r}, which already exists")
            members[name] = member
            self._ports[key] = name

        for reg in regmap:
            for f in reg.fields:
                key = (reg.name, f.name)
                if self.hls and key in HLS_CONTROL_FIELDS:
                    if HLS_CONTROL_FIELDS[key]:
                        add(key, HLS_CONTROL_FIELDS[key], Out(1) if f.access is Access.SC else In(1))
                    continue
                name = field_port_name(reg, f)
                if f.access is Access.RW:
                    add(key, name, Out(f.width, init=f.reset))
                elif f.access is Access.RO:
                    if f.constant is None:
                        add(key, name, In(f.width))
                elif f.access is Access.SC:
                    add(key, name, Out(1))
                else:  # COR, TOW: set pulses from the core
                    add(key, name, In(1))
        super().__init__(members)

    def port(self, register: str, field: str):
        """The core-side port of ``register.field`` (e.g. ``port("KERNEL", "KERNEL")``)."""
        return getattr(self, self._ports[(register, field)])

    def elaborate(self, platform):
        m = Module()
        axi = self.axi
        word_bits = self.addr_width - 2

        # ---- write channel: hold AW and W until both are here --------------------------------
        aw_held, w_held = Signal(), Signal()
        aw_word = Signal(word_bits)
        w_data = Signal(REGISTER_BITS)
        w_strb = Signal(REGISTER_BITS // 8)
        m.d.comb += [axi.AWREADY.eq(~aw_held), axi.WREADY.eq(~w_held)]
        with m.If(axi.AWVALID & axi.AWREADY):
            m.d.sync += [aw_held.eq(1), aw_word.eq(axi.AWADDR[2:])]
        with m.If(axi.WVALID & axi.WREADY):
            m.d.sync += [w_held.eq(1), w_data.eq(axi.WDATA), w_strb.eq(axi.WSTRB)]
        write = Signal()
        m.d.comb += write.eq(aw_held & w_held & ~axi.BVALID)
        with m.If(write):
            m.d.sync += [aw_held.eq(0), w_held.eq(0), axi.BVALID.eq(1)]
        with m.Elif(axi.BREADY):
            m.d.sync += axi.BVALID.eq(0)
        m.d.comb += axi.BRESP.eq(AXI_RESP_OKAY)
        bit_enable = Signal(REGISTER_BITS)   # WSTRB expanded to bits
        m.d.comb += bit_enable.eq(Cat(w_strb[k].replicate(8) for k in range(REGISTER_BITS // 8)))

        # ---- read channel ------------------------------------------------------------------------
        read = Signal()
        ar_word = Signal(word_bits)
        m.d.comb += [
            axi.ARREADY.eq(~axi.RVALID),
            read.eq(axi.ARVALID & axi.ARREADY),
            ar_word.eq(axi.ARADDR[2:]),
            axi.RRESP.eq(AXI_RESP_OKAY),
        ]
        with m.If(read):
            m.d.sync += axi.RVALID.eq(1)
        with m.Elif(axi.RREADY):
            m.d.sync += axi.RVALID.eq(0)

        # ---- HLS control events ------------------------------------------------------------------
        if self.hls:
            ap_done, ap_ready = self.ap_done, self.ap_ready

        # ---- per-register storage and behaviour ------------------------------------------------
        values = {}       # register name -> 32-bit read value
        state = {}        # (register, field) -> storage signal (RW, COR, TOW)
        for reg in self.regmap:
            hit_w = Signal(name=f"wr_{reg.name.lower()}")
            hit_r = Signal(name=f"rd_{reg.name.lower()}")
            m.d.comb += [
                hit_w.eq(write & (aw_word == reg.offset >> 2)),
                hit_r.eq(read & (ar_word == reg.offset >> 2)),
            ]
            parts = []
            for f in reg.fields:
                key = (reg.name, f.name)
                sl = slice(f.lsb, f.lsb + f.width)
                wbits, ebits = w_data[sl], bit_enable[sl]
                ones = hit_w & wbits[0] & ebits[0]   # an accepted write of 1 (single-bit fields)
                name = f"{reg.name}_{f.name}".lower()
                if f.access is Access.RW:
                    store = Signal(f.width, init=f.reset, name=f"r_{name}")
                    with m.If(hit_w):
                        m.d.sync += store.eq((store & ~ebits) | (wbits & ebits))
                    m.d.comb += getattr(self, self._ports[key]).eq(store)
                    state[key] = store
                    value = store
                elif f.access is Access.RO:
                    value = Const(f.constant, f.width) if f.constant is not None else getattr(self, self._ports[key])
                elif f.access is Access.SC:
                    pulse = getattr(self, self._ports[key])
                    fire = Signal(name=f"sc_{name}")
                    m.d.comb += fire.eq(ones)
                    if self.hls and key == ("CTRL", "AP_START"):
                        state["restart"] = fire
                    else:
                        m.d.sync += pulse.eq(fire)
                    value = Const(0, 1)
                else:
                    bit = Signal(name=f"s_{name}")
                    state[key] = bit
                    set_ = Signal(name=f"set_{name}")
                    if self.hls and key in (("IP_ISR", "DONE"), ("IP_ISR", "READY")):
                        state[("set", key)] = set_       # driven below, once IP_IER is known
                    else:
                        m.d.comb += set_.eq(getattr(self, self._ports[key]))
                    with m.If(set_):
                        m.d.sync += bit.eq(1)
                    if f.access is Access.COR:
                        with m.Elif(hit_r):
                            m.d.sync += bit.eq(0)
                    else:  # TOW
                        with m.Elif(ones):
                            m.d.sync += bit.eq(~bit)
                    value = bit
                parts.append((f.lsb, f.width, value))
            word = Signal(REGISTER_BITS, name=f"val_{reg.name.lower()}")
            for lsb, width, value in parts:
                m.d.comb += word[lsb:lsb + width].eq(value)
            values[reg.name] = word

        if self.hls:
            ier_done, ier_ready = state[("IP_IER", "DONE")], state[("IP_IER", "READY")]
            isr_done, isr_ready = state[("IP_ISR", "DONE")], state[("IP_ISR", "READY")]
            m.d.comb += [
                state[("set", ("IP_ISR", "DONE"))].eq(ap_done & ier_done),
                state[("set", ("IP_ISR", "READY"))].eq(ap_ready & ier_ready),
                self.interrupt.eq(state[("GIER", "ENABLE")] & ((isr_done & ier_done) | (isr_ready & ier_ready))),
            ]
            m.d.sync += self.ap_start.eq(state["restart"] | (ap_done & state[("CTRL", "AUTO_RESTART")]))

        # ---- read data: sampled in the AR handshake cycle ----------------------------------------
        with m.If(read):
            with m.Switch(ar_word):
                for reg in self.regmap:
                    with m.Case(reg.offset >> 2):
                        m.d.sync += axi.RDATA.eq(values[reg.name])
                with m.Default():
                    m.d.sync += axi.RDATA.eq(0)
        return m
