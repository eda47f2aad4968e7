"""Vivado packaging of a build: the IP, the block-design script and the module-reference wrapper.

:func:`write_package` is the one entry point (``python -m dse.build`` calls it after writing
``rtl/<name>.v``). It adds to the deploy folder ``<out>``::

    ip/component.xml                   IP-XACT (SPIRIT 1685-2009, Vivado's dialect)  ipxact.py
    ip/hdl/verilog/<name>.v            the Verilog, inside the IP repository
    ip/xgui/conv_accelerator_v1_0.tcl  the IP's customisation-GUI script
    rtl/<name>_modref.v                wrapper for the module-reference flow          module_reference.py
    vivado/build.tcl                   project, block design, bitstream, .bit/.hwh  vivado_tcl.py
    vivado/README.md                   how to run it and load the overlay with PYNQ

Every file is generated from the same Python descriptions as the RTL (the top's signature,
``rtl.registers``, ``rtl.ip_identity``, the board table); none holds a machine path.
docs/packaging.md describes the flow and the checks.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from rtl.config import AcceleratorConfig

from ..boards import Board, get_board
from .interfaces import PackagingError, ip_interfaces
from .ipxact import write_ip
from .module_reference import write_module_reference
from .vivado_tcl import ps_profile, write_vivado

__all__ = ["write_package", "PackagingError"]


def write_package(config: AcceleratorConfig, board: Board | str, out_dir, verilog_path) -> list[Path]:
    """Write the Vivado packaging of ``config`` for ``board`` into the deploy folder ``out_dir``.

    ``verilog_path``: the generated Verilog of ``rtl.top.ConvAccelerator(config)`` (top module
    ``config.name``), normally ``<out_dir>/rtl/<name>.v``; when it is elsewhere it is also
    copied there (the module-reference flow of build.tcl reads it from ``rtl/``). Returns the
    paths of the files written. Raises :class:`PackagingError` for a board without a Zynq
    processing system or a top the IP cannot describe, before writing anything.
    """
    board = get_board(board) if isinstance(board, str) else board
    out_dir, verilog_path = Path(out_dir), Path(verilog_path)
    ps_profile(board)  # refuse a non-Zynq board before writing anything
    interfaces = ip_interfaces(config)
    if not verilog_path.is_file():
        raise PackagingError(f"the Verilog {verilog_path} does not exist")
    files = write_ip(config, verilog_path, out_dir / "ip", interfaces)
    rtl_copy = out_dir / "rtl" / f"{config.name}.v"
    if rtl_copy.resolve() != verilog_path.resolve():
        rtl_copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(verilog_path, rtl_copy)
        files.append(rtl_copy)
    files.append(write_module_reference(config, out_dir / "rtl", interfaces))
    files += write_vivado(config, board, out_dir)
    return files
