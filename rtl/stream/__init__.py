"""Stream primitives built to timing: a register slice and a FIFO whose ``ready`` are registers."""

from .fifo import StreamFifo
from .skid_buffer import SkidBuffer

__all__ = ["SkidBuffer", "StreamFifo"]
