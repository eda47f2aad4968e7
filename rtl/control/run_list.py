"""The run list: descriptors the IP reads from DDR, one 64-byte entry per run, and where the
descriptor's fields sit in the registers and in an entry."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Value

from ..registers import RUN_LIST_ENTRY, RUN_LIST_ENTRY_BYTES, REGISTER_BITS

__all__ = ["ENTRY_BITS", "SCALAR_FIELDS", "ADDRESS_FIELDS", "descriptor_values", "entry_field", "entry_unused_bits"]

#: Bits of one entry (the read issuer fetches it as one command, the sequencer takes it as one word).
ENTRY_BITS = 8 * RUN_LIST_ENTRY_BYTES

#: Descriptor field (rtl.control.layer_check.descriptor_layout) -> (register, field) that holds it.
SCALAR_FIELDS = {
    "in_channels": ("IN_CHANNELS", "IN_CHANNELS"), "out_channels": ("OUT_CHANNELS", "OUT_CHANNELS"),
    "height": ("IN_HEIGHT", "IN_HEIGHT"), "width": ("IN_WIDTH", "IN_WIDTH"), "kernel": ("KERNEL", "KERNEL"),
    "stride": ("STRIDE", "STRIDE"), "padding": ("PADDING", "PADDING"), "relu": ("LAYER_FLAGS", "RELU"),
    "table": ("LAYER_FLAGS", "TABLE"), "pool": ("LAYER_FLAGS", "POOL"),
}
#: Descriptor address field -> its (low, high) 32-bit registers.
ADDRESS_FIELDS = {
    "in_addr": ("IN_ADDR_LO", "IN_ADDR_HI"), "weight_addr": ("WEIGHT_ADDR_LO", "WEIGHT_ADDR_HI"),
    "out_addr": ("OUT_ADDR_LO", "OUT_ADDR_HI"), "quant_addr": ("QUANT_ADDR_LO", "QUANT_ADDR_HI"),
}


def descriptor_values(field) -> dict[str, Value]:
    """Every descriptor field's value, given ``field(register, field_name)``, the value of one
    register field (a control-slave port, or the bits of a run-list entry)."""
    values = {name: field(reg, fld) for name, (reg, fld) in SCALAR_FIELDS.items()}
    values.update({name: Cat(field(lo, lo), field(hi, hi)) for name, (lo, hi) in ADDRESS_FIELDS.items()})
    return values


def entry_field(regmap, entry: Value, register: str, field: str) -> Value:
    """The bits of ``register.field`` in a run-list ``entry`` (ENTRY_BITS wide)."""
    f = regmap[register][field]
    base = REGISTER_BITS * RUN_LIST_ENTRY.index(register)
    return entry[base + f.lsb:base + f.lsb + f.width]


def entry_unused_bits(regmap, entry: Value) -> Value:
    """1 when ``entry`` sets a bit that no field of its registers holds (BAD_RUN_LIST)."""
    unused = []
    for i, name in enumerate(RUN_LIST_ENTRY):
        used = 0
        for f in regmap[name].fields:
            used |= f.mask
        mask = ~used & ((1 << REGISTER_BITS) - 1)
        if mask:
            unused.append((entry[REGISTER_BITS * i:REGISTER_BITS * (i + 1)] & Const(mask, REGISTER_BITS)).any())
    return Cat(*unused).any() if unused else Const(0)
