"""Constant matrix-vector products as shifts and adds (no multipliers, so no DSP slices).

:func:`shift_add` turns a :class:`rtl.winograd_math.ShiftAddPlan` (a common-subexpression-
eliminated signed-digit program generated from the Winograd matrices) into combinational
Amaranth logic. It is the one place the Winograd transforms build their constant arithmetic, so
the hardware's adders are exactly the ones the cost model counts (``plan.adders`` per call).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from amaranth.hdl import Cat, Const, Module, Signal, Value, unsigned

from ..winograd_math import ShiftAddPlan

__all__ = ["shift_add", "enabled_register"]


def _mod(value: Value, bits: int) -> Value:
    """``value mod 2^bits`` as ``unsigned(bits)``: cut, or sign/zero-extended if narrower."""
    value = Value.cast(value)
    if len(value) >= bits:
        return value[:bits]
    fill = value[-1].replicate(bits - len(value)) if value.shape().signed else Const(0, bits - len(value))
    return Cat(value, fill)


def _tree(values: list[Value], modulus_bits: int | None) -> Value:
    """Balanced two-input adder tree; in modular mode every sum is cut to ``modulus_bits``."""
    level = list(values)
    while len(level) > 1:
        nxt = []
        for k in range(0, len(level) - 1, 2):
            total = level[k] + level[k + 1]
            nxt.append(total if modulus_bits is None else _mod(total, modulus_bits))
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def shift_add(m: Module, plan: ShiftAddPlan, inputs: Sequence[Value], *, name: str,
              modulus_bits: int | None = None,
              register: Callable[[Value, str], Value] | None = None, split: str = "last") -> list[Value]:
    """Outputs of ``plan`` applied to ``inputs``: combinational, or split by a register.

    Exact mode (``modulus_bits=None``): inputs are signed or unsigned values and the outputs are
    exact (Amaranth widens every sum; the caller registers them at their computed widths).
    Modular mode: every value is taken modulo ``2^modulus_bits`` and the outputs are
    ``unsigned(modulus_bits)`` residues -- adders never grow beyond ``modulus_bits``.

    Shared subexpressions become ``comb`` signals named ``{name}_cse{k}`` so each is built once.

    With ``register`` (a function returning a registered copy of a value, e.g. under the
    caller's pipeline enable) each output's last addition moves behind a register: the two
    halves of its sum (positive and negative terms, or the two halves of the terms) are
    registered and added after it, so the logic before the register is one adder level
    shallower than the plan and the logic after it one adder. With ``split="shared"`` the
    register is placed after the shared subexpressions instead (the inputs and every shared
    value are registered; the outputs' sums come after it): better when the shared values form
    chains (the exact division of F(4,3)). Outputs are then one cycle late.
    """
    if split not in ("last", "shared"):
        raise ValueError(f"split must be 'last' or 'shared', got {split!r}")
    if len(inputs) != plan.n_inputs:
        raise ValueError(f"plan takes {plan.n_inputs} inputs, got {len(inputs)}")
    w = modulus_bits
    values: list[Value] = [Value.cast(v) if w is None else _mod(v, w) for v in inputs]

    def build(node, out: str | None = None) -> Value:
        def term(t):
            shifted = values[t.source] << t.shift
            return shifted if w is None else _mod(shifted, w)
        pos = [term(t) for t in node if not t.negative]
        neg = [term(t) for t in node if t.negative]
        if not pos and not neg:
            return Const(0, unsigned(1) if w is None else unsigned(w))
        halve = register is not None and out is not None and split_last
        if halve and not neg and len(pos) > 1:
            # Two halves of the terms, each behind the register.
            half = len(pos) // 2
            pos, neg = [register(_tree(pos[:half], w), f"{out}_a"), register(_tree(pos[half:], w), f"{out}_b")], []
            expr = pos[0] + pos[1]
        else:
            if pos and neg:
                a, b = _tree(pos, w), _tree(neg, w)
                if halve:
                    a, b = register(a, f"{out}_p"), register(b, f"{out}_n")
                expr = a - b
            elif pos:
                expr = _tree(pos, w) if not halve else register(pos[0], f"{out}_p")  # one term when halved
            else:
                b = _tree(neg, w)
                expr = -(b if not halve else register(b, f"{out}_n"))
        return expr if w is None else _mod(expr, w)

    split_last = split == "last"
    for k, node in enumerate(plan.shared):
        expr = build(node)
        sig = Signal(expr.shape() if w is None else unsigned(w), name=f"{name}_cse{k}")
        m.d.comb += sig.eq(expr)
        values.append(sig)
    if register is not None and not split_last:
        values[:] = [register(v, f"{name}_v{k}") for k, v in enumerate(values)]
    return [build(node, f"{name}_o{k}") for k, node in enumerate(plan.outputs)]


def enabled_register(m: Module, enable) -> Callable[[Value, str], Value]:
    """A ``register`` for :func:`shift_add`: each call returns a registered copy of ``value``
    (named ``name``) that loads while ``enable`` (a pipeline's advance) is high."""
    def register(value, name):
        reg = Signal(Value.cast(value).shape(), name=name)
        with m.If(enable):
            m.d.sync += reg.eq(value)
        return reg
    return register
