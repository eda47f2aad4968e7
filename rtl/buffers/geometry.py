"""``MemoryShape``: the size of a buffer's block memories, stated by the buffer itself.

Each buffer computes its memories' shapes with a static ``memory_shapes(...)`` method, which its
constructor uses too, so the RTL and the DSE's resource model (through the engine descriptions
in rtl/engine) read one geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MemoryShape"]


@dataclass(frozen=True)
class MemoryShape:
    """``count`` simple dual-port memories of ``depth`` words of ``width`` bits, named for reports."""

    name: str
    width: int
    depth: int
    count: int = 1

    @property
    def bits(self) -> int:
        return self.count * self.width * self.depth
