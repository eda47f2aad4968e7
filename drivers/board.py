"""``drivers.ConvAccelerator``: the PYNQ driver (a ``pynq.DefaultIP`` bound to the IP's VLNV).

On the board::

    from pynq import Overlay
    import drivers                      # registers the driver with PYNQ by VLNV
    ol = Overlay("vgg16-pynq-z2.bit")
    accel = ol.conv_accelerator_0       # a drivers.ConvAccelerator
    y = accel.conv2d(x, w, bias, mult, shift, stride=1, padding=1, relu=True)

The register map is supplied by the driver (drivers/interface.py, generated from rtl/registers/,
the same description that generated the RTL and component.xml), so ``accel.register_map`` works even when the .hwh lacks
registers. Buffers come from ``pynq.allocate`` and are reused across layers; inputs are flushed
before AP_START and the output invalidated after AP_DONE. Completion is awaited by polling
AP_DONE with a timeout (``accel.timeout`` seconds); a timeout raises with the STATUS contents.
"""

from __future__ import annotations

import time

import numpy as np

from .core import AcceleratorDriver, AcceleratorTimeout
from .interface import IP_NAME, VLNV
from .regmap import AP_DONE, REGISTERS, check_offset, pynq_register_description

__all__ = ["ConvAccelerator", "PYNQ_AVAILABLE"]

try:  # pynq is optional: `import drivers` must work on a machine without it.
    import pynq
    from pynq import DefaultIP
    PYNQ_AVAILABLE = True
except ImportError:  # a machine without pynq (tests/unit/test_pynq_driver.py blocks it)
    pynq = None
    DefaultIP = object
    PYNQ_AVAILABLE = False


class ConvAccelerator(AcceleratorDriver, DefaultIP):
    """PYNQ driver for the convforge IP; see :meth:`AcceleratorDriver.conv2d`."""

    bindto = [VLNV]
    #: Seconds to wait for AP_DONE before giving up.
    timeout = 30.0
    #: Seconds between AP_DONE polls.
    poll_interval = 1e-4

    def __init__(self, description):
        if not PYNQ_AVAILABLE:
            raise ImportError("drivers.ConvAccelerator needs pynq, which every PYNQ image has; on a PC, pip install pynq")
        description = dict(description)
        if not description.get("registers"):
            description["registers"] = pynq_register_description()
            description.setdefault("fullpath", IP_NAME + "_0")
        DefaultIP.__init__(self, description=description)
        self._driver_init()

    def read(self, offset=0):
        """``DefaultIP.read``, refusing offsets outside the IP's register window (the hardware
        decodes only the window's address bits, so such an access would alias a register)."""
        return DefaultIP.read(self, check_offset(offset))

    def write(self, offset, value):
        """``DefaultIP.write`` of a 32-bit register, refusing offsets outside the window."""
        return DefaultIP.write(self, check_offset(offset), value)

    def allocate(self, shape, dtype=np.uint8):
        """A ``pynq.allocate`` buffer on the device this IP lives on (contiguous, cacheable)."""
        return pynq.allocate(shape, dtype=dtype, target=self.device)

    def _wait_done(self, timeout) -> None:
        deadline = time.monotonic() + (timeout if timeout else self.timeout)
        ctrl = REGISTERS["CTRL"]
        while not self.read(ctrl) & AP_DONE:  # clear on read
            if time.monotonic() > deadline:
                status = self.read(REGISTERS["STATUS"])
                raise AcceleratorTimeout(
                    f"AP_DONE did not come within {timeout or self.timeout} s (STATUS = {status:#x}, CTRL = {self.read(ctrl):#x})")
            time.sleep(self.poll_interval)
