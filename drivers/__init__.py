"""convforge host drivers: the same layer API on a PYNQ board and over a Verilator simulation.

``from drivers import ConvAccelerator`` (a ``pynq.DefaultIP`` subclass, needs the ``board``
extra) and ``from drivers import simulated`` (no board needed; a native Verilator simulator by
default, cocotb with ``backend="cocotb"``). ``pynq`` stays optional:
importing this package never requires it. Whole networks: :func:`quantize_network` (int8
post-training quantisation) and :func:`run_network` (conv/fc layers on the accelerator, the rest
in numpy); see docs/driver.md.
"""

from .board import PYNQ_AVAILABLE, ConvAccelerator
from .core import AcceleratorBusy, AcceleratorDriver, AcceleratorError, AcceleratorTimeout, BuildInfo
from .native import AxiProtocolError, NativeAccelerator
from .network import format_table, run_network
from .quantize import QuantizedNetwork, float_forward, quantize_network, random_weights
from .simbase import SimulatorFailure
from .simulation import SimulatedAccelerator, simulated

__all__ = ["ConvAccelerator", "PYNQ_AVAILABLE", "AcceleratorDriver", "AcceleratorBusy", "AcceleratorError",
           "AcceleratorTimeout", "BuildInfo",
           "SimulatedAccelerator", "NativeAccelerator", "SimulatorFailure", "AxiProtocolError", "simulated",
           "run_network", "format_table", "quantize_network", "QuantizedNetwork",
           "float_forward", "random_weights"]
