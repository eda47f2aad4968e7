"""The board runtime's driver over a Verilator simulation of a design: no board needed.

``with simulated("build/vgg16-pynq-z2") as accel: accel.conv2d(...)`` runs the same
:class:`drivers.core.AcceleratorDriver` code as ``drivers.ConvAccelerator`` on a PYNQ board,
against the design's Verilog:

* :mod:`.native` (the default): the Verilator model with the C++ harness of sim/native;
* :mod:`.cocotb`: a cocotb process with cocotbext-axi's memory and AXI4-Lite master
  (sim/accel_server.py), watched by the AXI protocol monitor;
* :mod:`.base`: what both share (argument checks, the simulated DDR's allocation, cycle budgets).
"""

from ..protocol import AxiProtocolError
from .base import SimulatorFailure
from .cocotb import BACKENDS, SimulatedAccelerator, simulated
from .native import NativeAccelerator

__all__ = ["simulated", "BACKENDS", "SimulatedAccelerator", "NativeAccelerator", "SimulatorFailure",
           "AxiProtocolError"]
