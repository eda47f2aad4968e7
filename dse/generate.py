"""Verilog generation of the chosen configuration (the only place the DSE touches rtl.top).

``rtl.top`` is imported lazily: the DSE, its models and its reports work without it, and a
configuration the top cannot build yet is reported by :func:`unbuildable_reason` instead of
failing late.
"""

from __future__ import annotations

from pathlib import Path

from rtl.config import AcceleratorConfig

__all__ = ["unbuildable_reason", "verilog_text", "write_rtl"]


def unbuildable_reason(config: AcceleratorConfig) -> str | None:
    """``None`` when ``rtl.top.ConvAccelerator(config)`` can be built, else why not (one sentence)."""
    try:
        from rtl.top import ConvAccelerator
    except ImportError as exc:
        return f"rtl.top is not available ({exc})"
    try:
        ConvAccelerator(config)
    except ValueError as exc:
        return str(exc)
    return None


def verilog_text(config: AcceleratorConfig) -> str:
    """The Verilog of ``rtl.top.ConvAccelerator(config)``, top module named ``config.name``."""
    from rtl.top import ConvAccelerator
    from sim.toolchain import to_verilog

    return to_verilog(ConvAccelerator(config), config.name)


def write_rtl(config: AcceleratorConfig, out_dir: Path) -> Path:
    """Write ``<out_dir>/rtl/<config.name>.v`` and return its path."""
    rtl_dir = Path(out_dir) / "rtl"
    rtl_dir.mkdir(parents=True, exist_ok=True)
    path = rtl_dir / f"{config.name}.v"
    path.write_text(verilog_text(config))
    return path
