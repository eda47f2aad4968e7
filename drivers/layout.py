"""DDR layouts of the direct engine, numpy side (the RTL reads/writes exactly these bytes).

See docs/memory-layout.md. All layouts are little-endian; ``pm``/``pn`` come from the IP.

* input   ``[H][CG][W][pn]``  (channel c = cg*pn + k; channels >= C are zero)
* weights ``[MG][CG][K][K][pm][pn]`` (output channel mg*pm + i, input channel cg*pn + j)
* quant   ``[MG*pm]`` entries of 16 bytes: bias int32, mult int32, shift uint8, 7 zero bytes; with
  an activation table (LAYER_FLAGS.TABLE), opened by its 256 bytes (entry ``v & 0xFF`` for ``v``)
* output  ``[Ho][MG][Wo][pm]`` int8 (row-major: with ``pm == pn`` it is the next layer's input as it lies)
* run list ``[N]`` entries of 64 bytes: the descriptor registers' 32-bit values in ``RUN_LIST_ENTRY`` order
"""

from __future__ import annotations

import math

import numpy as np

from .interface import ACT_TABLE_BYTES, QUANT_ENTRY_BYTES, RUN_LIST_ENTRY, RUN_LIST_ENTRY_BYTES

__all__ = [
    "pack_input", "pack_weights", "pack_quant", "unpack_output", "pack_run_list", "RUN_LIST_ENTRY_BYTES",
    "pack_table", "activation_table", "apply_table", "ACT_TABLE_BYTES",
    "input_bytes", "weight_bytes", "quant_bytes", "output_bytes", "output_shape", "QUANT_ENTRY_BYTES",
]



def _dtype(data_width: int):
    if data_width == 8:
        return np.dtype("<i1")
    if data_width == 16:
        return np.dtype("<i2")
    raise ValueError(f"data_width must be 8 or 16, got {data_width}")


def output_shape(h: int, w: int, k: int, stride: int, padding: int) -> tuple[int, int]:
    return (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1


def input_bytes(c, h, w, pn, data_width=8) -> int:
    return h * math.ceil(c / pn) * w * pn * data_width // 8


def weight_bytes(m, c, k, pm, pn, data_width=8) -> int:
    return math.ceil(m / pm) * math.ceil(c / pn) * k * k * pm * pn * data_width // 8


def quant_bytes(m, pm) -> int:
    return math.ceil(m / pm) * pm * QUANT_ENTRY_BYTES


def output_bytes(m, ho, wo, pm) -> int:
    return math.ceil(m / pm) * ho * wo * pm


def pack_input(x: np.ndarray, pn: int, data_width: int = 8) -> np.ndarray:
    """``x[C, H, W]`` -> bytes of the ``[H][CG][W][pn]`` layout (uint8 array)."""
    c, h, w = x.shape
    cg = math.ceil(c / pn)
    padded = np.zeros((cg * pn, h, w), dtype=_dtype(data_width))
    padded[:c] = x
    blocked = padded.reshape(cg, pn, h, w).transpose(2, 0, 3, 1)  # h, cg, w, pn
    return np.ascontiguousarray(blocked).view(np.uint8).reshape(-1)


def pack_weights(wt: np.ndarray, pm: int, pn: int, data_width: int = 8) -> np.ndarray:
    """``w[M, C, K, K]`` -> bytes of the ``[MG][CG][K][K][pm][pn]`` layout."""
    m, c, k, _ = wt.shape
    mg, cg = math.ceil(m / pm), math.ceil(c / pn)
    padded = np.zeros((mg * pm, cg * pn, k, k), dtype=_dtype(data_width))
    padded[:m, :c] = wt
    blocked = padded.reshape(mg, pm, cg, pn, k, k).transpose(0, 2, 4, 5, 1, 3)
    return np.ascontiguousarray(blocked).view(np.uint8).reshape(-1)


def pack_quant(bias, mult, shift, m: int, pm: int) -> np.ndarray:
    """Per-channel bias/mult/shift (scalars or [M]) -> the 16-byte-entry quant table."""
    def per(name, v, default):
        arr = np.full(m, default, dtype=np.int64) if v is None else np.broadcast_to(np.asarray(v, dtype=np.int64), (m,))
        return arr
    b, k, s = per("bias", bias, 0), per("mult", mult, 1), per("shift", shift, 0)
    total = math.ceil(m / pm) * pm
    table = np.zeros((total, QUANT_ENTRY_BYTES), dtype=np.uint8)
    table[:m, 0:4] = b.astype("<i4").view(np.uint8).reshape(m, 4)
    table[:m, 4:8] = k.astype("<i4").view(np.uint8).reshape(m, 4)
    table[:m, 8] = s.astype(np.uint8)
    return table.reshape(-1)


def unpack_output(raw: np.ndarray, m: int, ho: int, wo: int, pm: int) -> np.ndarray:
    """Bytes of the ``[Ho][MG][Wo][pm]`` output layout -> ``y[M, Ho, Wo]`` int8, a new array
    (never a view of ``raw``: the driver reuses its output buffer)."""
    mg = math.ceil(m / pm)
    arr = np.asarray(raw, dtype=np.uint8)[: ho * mg * wo * pm].view(np.int8).reshape(ho, mg, wo, pm)
    return np.array(arr.transpose(1, 3, 0, 2).reshape(mg * pm, ho, wo)[:m], order="C", copy=True)


def pack_run_list(entries) -> np.ndarray:
    """Register values per run (dicts ``{register name: value}``, every name of
    ``RUN_LIST_ENTRY``) -> the bytes of the run list the IP walks (uint8 array)."""
    words = np.array([[int(e[name]) for name in RUN_LIST_ENTRY] for e in entries], dtype="<u4")
    return words.reshape(-1).view(np.uint8).reshape(len(words) * RUN_LIST_ENTRY_BYTES)


def activation_table(fn) -> np.ndarray:
    """The activation table of an element-wise int8 function ``fn`` (numpy array in, same shape
    out): entry ``v & 0xFF`` holds ``fn(v)`` for every int8 ``v`` (int8 [256])."""
    values = np.arange(ACT_TABLE_BYTES, dtype=np.uint8).view(np.int8)
    out = np.asarray(fn(values.copy()))
    if out.shape != values.shape or (out.size and (out.min() < -128 or out.max() > 127)):
        raise ValueError("an activation table maps each int8 value to one int8 value")
    return out.astype(np.int8)


def pack_table(table) -> np.ndarray:
    """An activation table (256 int8 values, entry ``v & 0xFF`` for ``v``) -> its bytes."""
    t = np.asarray(table)
    if t.shape != (ACT_TABLE_BYTES,) or not np.issubdtype(t.dtype, np.integer) or (t.min() < -128 or t.max() > 127):
        raise ValueError(f"an activation table is {ACT_TABLE_BYTES} int8 values, got {t.dtype} {t.shape}")
    return t.astype(np.int8).view(np.uint8)


def apply_table(y: np.ndarray, table) -> np.ndarray:
    """``table[y & 0xFF]`` for int8 ``y``: what the IP writes with LAYER_FLAGS.TABLE."""
    return np.asarray(table, dtype=np.int8)[np.asarray(y, dtype=np.int8).view(np.uint8)]
