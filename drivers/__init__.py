"""convforge host drivers: the same layer API on a PYNQ board and over a Verilator simulation.

``from drivers import ConvAccelerator`` (a ``pynq.DefaultIP`` subclass, needs the ``board``
extra) and ``from drivers import simulated`` (no board needed). ``pynq`` stays optional:
importing this package never requires it.
"""

from .board import PYNQ_AVAILABLE, ConvAccelerator
from .core import AcceleratorDriver, AcceleratorError, AcceleratorTimeout, BuildInfo
from .simulation import SimulatedAccelerator, simulated

__all__ = ["ConvAccelerator", "PYNQ_AVAILABLE", "AcceleratorDriver", "AcceleratorError", "AcceleratorTimeout", "BuildInfo",
           "SimulatedAccelerator", "simulated"]
