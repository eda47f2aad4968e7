"""numpy Winograd F(m, r) reference: tile transforms and a whole convolution layer, bit-exact.

Written from the matrix identity ``A'^T [sum_c (G' g_c G'^T) * (B'^T d_c B')] A' = s^2 Y`` with
the integer matrices of :mod:`rtl.winograd_math` (the single source of the constants), plain
integer matrix products and an exact (checked) division -- none of the hardware's shift-add
programs or modular arithmetic. :func:`winograd_conv2d` equals ``sim.reference.conv2d`` with
stride 1 bit for bit (the tests prove it on random and extreme data).

Arithmetic is int64 when a bound on every intermediate fits in 62 bits, else Python integers.
"""

from __future__ import annotations

import math

import numpy as np

from rtl.winograd_math import WinogradMatrices, winograd_matrices

__all__ = [
    "integer_matrices",
    "input_transform",
    "filter_transform",
    "output_transform",
    "exact_divide",
    "input_tiles",
    "tile_grid",
    "winograd_conv2d",
]


def integer_matrices(m: int, r: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(A'^T, G', B'^T)`` as int64 numpy arrays."""
    mat = winograd_matrices(m, r)
    return (np.array(mat.AT_int, dtype=np.int64), np.array(mat.G_int, dtype=np.int64),
            np.array(mat.BT_int, dtype=np.int64))


def _bound_dtype(bound: int):
    return np.int64 if bound < (1 << 62) else object


def _sandwich(left: np.ndarray, x: np.ndarray, dtype) -> np.ndarray:
    """``left @ X @ left^T`` over the last two axes of ``x``."""
    left = left.astype(dtype)
    x = x.astype(dtype)
    return np.einsum("ia,...ab,jb->...ij", left, x, left)


def _max_abs(x) -> int:
    x = np.asarray(x)
    return int(max(abs(int(x.max())), abs(int(x.min())))) if x.size else 0


def input_transform(d, m: int, r: int = 3) -> np.ndarray:
    """``B'^T d B'`` for tiles ``d[..., n, n]`` (any integers)."""
    _, _, bt = integer_matrices(m, r)
    bound = int(np.abs(bt).sum(axis=1).max()) ** 2 * _max_abs(d)
    return _sandwich(bt, np.asarray(d), _bound_dtype(bound))


def filter_transform(g, m: int, r: int = 3) -> np.ndarray:
    """``G' g G'^T`` for filters ``g[..., r, r]``."""
    _, gm, _ = integer_matrices(m, r)
    bound = int(np.abs(gm).sum(axis=1).max()) ** 2 * _max_abs(g)
    return _sandwich(gm, np.asarray(g), _bound_dtype(bound))


def output_transform(acc, m: int, r: int = 3) -> np.ndarray:
    """``A'^T M A'`` (= ``s^2 Y``) for transform-domain tiles ``acc[..., n, n]`` (not divided)."""
    at, _, _ = integer_matrices(m, r)
    bound = int(np.abs(at).sum(axis=1).max()) ** 2 * _max_abs(acc)
    return _sandwich(at, np.asarray(acc), _bound_dtype(bound))


def exact_divide(values, divisor: int) -> np.ndarray:
    """``values / divisor``, raising ``ArithmeticError`` unless every division is exact."""
    values = np.asarray(values)
    if np.any(values % divisor != 0):
        raise ArithmeticError(f"Winograd output is not a multiple of s^2 = {divisor}")
    return values // divisor


def tile_grid(out_h: int, out_w: int, m: int) -> tuple[int, int]:
    """Number of ``m x m`` output tiles covering an ``out_h x out_w`` output (edge tiles partial)."""
    return math.ceil(out_h / m), math.ceil(out_w / m)


def input_tiles(x, m: int, r: int = 3, padding: int = 0) -> tuple[np.ndarray, tuple[int, int]]:
    """Overlap-and-save input tiles of ``x[C, H, W]``: ``tiles[C, th, tw, n, n]`` and ``(Ho, Wo)``.

    Tile ``(th, tw)`` is the ``n x n`` window at ``(th*m, tw*m)`` of the input zero-padded by
    ``padding`` on each side (and with zeros past the bottom/right edge for partial tiles).
    """
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"x must be [C, H, W], got shape {x.shape}")
    n = m + r - 1
    c, h, w = x.shape
    out_h, out_w = h + 2 * padding - r + 1, w + 2 * padding - r + 1
    if out_h < 1 or out_w < 1:
        raise ValueError(f"a {r}x{r} kernel does not fit the padded {h}x{w} input")
    th, tw = tile_grid(out_h, out_w, m)
    ext = np.zeros((c, th * m + r - 1, tw * m + r - 1), dtype=np.int64)
    ext[:, padding:padding + h, padding:padding + w] = x
    tiles = np.empty((c, th, tw, n, n), dtype=np.int64)
    for i in range(th):
        for j in range(tw):
            tiles[:, i, j] = ext[:, i * m:i * m + n, j * m:j * m + n]
    return tiles, (out_h, out_w)


def winograd_conv2d(x, w, m: int = 4, padding: int = 0) -> np.ndarray:
    """Stride-1 correlation of ``x[C, H, W]`` with ``w[M, C, r, r]`` by Winograd F(m, r).

    Overlap-and-save tiling, zero padding, partial edge tiles; element-wise products summed over
    input channels in the transform domain before the output transform; exact division by s^2.
    Returns int64 ``[M, Ho, Wo]``, identical to ``sim.reference.conv2d(x, w, 1, padding)``.
    """
    x = np.asarray(x)
    w = np.asarray(w)
    if not (np.issubdtype(x.dtype, np.integer) and np.issubdtype(w.dtype, np.integer)):
        raise ValueError("x and w must be integer arrays")
    if w.ndim != 4 or w.shape[2] != w.shape[3]:
        raise ValueError(f"w must be [M, C, r, r], got shape {w.shape}")
    if w.shape[1] != x.shape[0]:
        raise ValueError(f"weights have {w.shape[1]} input channels but x has {x.shape[0]}")
    r = w.shape[2]
    mat: WinogradMatrices = winograd_matrices(m, r)
    tiles, (out_h, out_w) = input_tiles(x, m, r, padding)
    v = input_transform(tiles, m, r)            # [C, th, tw, n, n]
    u = filter_transform(w, m, r)               # [M, C, n, n]
    at = np.array(mat.AT_int, dtype=object)
    bound = (int(np.abs(at).sum(axis=1).max()) ** 2 * x.shape[0]
             * _max_abs(v) * _max_abs(u)) if v.size and u.size else 0
    dtype = _bound_dtype(bound)
    acc = np.einsum("ocij,cxyij->oxyij", u.astype(dtype), v.astype(dtype))   # summed over channels
    y = exact_divide(output_transform(acc, m, r), mat.s2)                 # [M, th, tw, m, m]
    mo, th, tw = y.shape[:3]
    out = y.transpose(0, 1, 3, 2, 4).reshape(mo, th * m, tw * m)[:, :out_h, :out_w]
    return np.asarray(out, dtype=np.int64)
