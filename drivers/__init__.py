"""convforge's board runtime: the driver of the IP, its DDR layouts and the CPU's share of a network.

Needs only the standard library and numpy (Python 3.8+); ``pynq`` when it drives a real board.
It imports nothing else of convforge: what it needs of the hardware is generated into
:mod:`drivers.interface` (``python -m rtl.registers``), and a build's own facts come from the
IP's build-info registers and the deploy folder's ``design.json``.

* :class:`ConvAccelerator`: the PYNQ driver (a ``pynq.DefaultIP`` bound to the IP's VLNV);
  :class:`AcceleratorDriver` is the layer API it shares with the simulators of ``sim.backends``,
  which run this same code against a Verilator model on a PC.
* :func:`run_network`: a quantised network, conv/fc layers on the accelerator as the plan
  (design.json) places them, the rest with :mod:`drivers.ops`; :func:`load_weights` packs the
  accelerated layers' weights once, so that frames after the first pack none.
* :func:`quantize_network` (int8 post-training quantisation), :func:`float_forward`,
  :func:`random_weights`: pure numpy, used on the PC; see docs/driver.md.
"""

from .board import PYNQ_AVAILABLE, ConvAccelerator
from .core import (AcceleratorBusy, AcceleratorDriver, AcceleratorError, AcceleratorTimeout, BuildInfo, DeviceActivation,
                   ResidentWeights)
from .float_model import float_forward, random_weights
from .network import format_table, load_weights, run_network
from .quantize import QuantizedNetwork, quantize_network

__all__ = ["ConvAccelerator", "PYNQ_AVAILABLE", "AcceleratorDriver", "AcceleratorBusy", "AcceleratorError",
           "AcceleratorTimeout", "BuildInfo", "DeviceActivation", "ResidentWeights", "load_weights", "run_network", "format_table", "quantize_network", "QuantizedNetwork",
           "float_forward", "random_weights"]
