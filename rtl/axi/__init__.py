"""AXI4 memory masters and the AXI4-Lite control slave.

* :mod:`.signature`: ``AXI4Signature`` / ``AXI4ReadSignature`` / ``AXI4WriteSignature`` /
  ``AXI4LiteSignature`` with Vivado member names, ``flat_members`` and ``connect_flat`` for
  top-level ports named ``m_axi_gmem_*`` / ``s_axi_control_*``.
* :mod:`.bursts`: transfer command layout and ``BurstPlanner`` (INCR bursts, 4 KiB rule).
* :mod:`.read_master`: ``AXI4ReadMaster`` (commands in, realigned data out).
* :mod:`.write_master`: ``AXI4WriteMaster`` (commands + words in, bursts with WSTRB out).
* :mod:`.control_slave`: ``ControlSlave`` generated from ``rtl.registers.RegisterMap``.
"""

from .bursts import BurstPlanner, command_layout
from .control_slave import ControlSlave
from .read_master import AXI4ReadMaster, read_data_layout
from .signature import (AXI4LiteSignature, AXI4ReadSignature, AXI4Signature, AXI4WriteSignature,
                        connect_flat, flat_members)
from .write_master import AXI4WriteMaster, write_data_layout, write_done_layout

__all__ = [
    "AXI4Signature", "AXI4ReadSignature", "AXI4WriteSignature", "AXI4LiteSignature",
    "flat_members", "connect_flat", "BurstPlanner", "command_layout",
    "AXI4ReadMaster", "read_data_layout", "AXI4WriteMaster", "write_data_layout",
    "write_done_layout", "ControlSlave",
]
