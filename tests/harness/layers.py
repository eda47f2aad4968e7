"""The one layer generator of the end-to-end, fuzz and requantiser tests: random data, and a
requantisation scaled from the reference accumulators so that most outputs lie strictly inside
the int8 range.

A requantised output pinned at -128, 0 or 127 says nothing about the sum behind it: a sum that is
wrong but has the right sign and a large magnitude clamps to the same value. So every channel's
bias, multiplier and shift are chosen from that channel's exact accumulators
(``sim.reference.conv2d``): the bias centres them (for ReLU layers, puts about a third of them
below zero), and ``mult / 2**shift`` maps their 90th percentile of magnitude to 64..112. A few
outputs still saturate (both clamps stay exercised); :func:`interior_fraction` measures the rest
and every test asserts :data:`MIN_INTERIOR` of it.
"""

from __future__ import annotations

import numpy as np

from sim.reference import conv2d, requantize
from drivers.core import DeviceActivation

__all__ = ["MIN_INTERIOR", "interior_fraction", "assert_interior", "scaled_requant", "random_layer"]

#: The least fraction of outputs strictly inside the int8 range (for ReLU layers: of the
#: positive outputs, strictly below 127) that a test's layers must have.
MIN_INTERIOR = 0.5

#: Shifts the generator draws: at least 8 so that the rounding term and the multiplier's low bits
#: matter, at most 30 so that ``mult`` stays a precise int32.
SHIFTS = (8, 30)


def interior_fraction(y, relu: bool) -> float:
    """The fraction of ``y`` (int8) strictly inside the int8 range; with ``relu``, the fraction of
    its positive values below 127 (0 then means "negative or zero", which says nothing either).
    An output with nothing to measure counts as 0."""
    y = np.asarray(y)
    if relu:
        positive = y[y > 0]
        return float(np.mean(positive < 127)) if positive.size else 0.0
    return float(np.mean((y > -128) & (y < 127))) if y.size else 0.0


def assert_interior(y, relu: bool, what: str = "output") -> None:
    """Fail unless :func:`interior_fraction` of ``y`` reaches :data:`MIN_INTERIOR`."""
    got = interior_fraction(y, relu)
    assert got >= MIN_INTERIOR, (f"{what}: only {got:.0%} of the outputs are strictly inside the int8 range "
                                 f"(need {MIN_INTERIOR:.0%}); a wrong sum could hide behind the clamps")


def scaled_requant(rng, acc, relu: bool):
    """Per-channel ``(bias, mult, shift)`` (int32 arrays) for accumulators ``acc[M, ...]``.

    Channel ``c``'s bias moves the median of ``acc[c]`` (with ReLU: its 35th percentile) to about
    zero, plus a random offset of up to a fifth of the spread (a channel of one value: one step
    beside zero, above it with ReLU); ``mult / 2**shift`` maps the 90th
    percentile of ``|acc[c] + bias|`` to a random target in 64..112. The shift is drawn first and
    raised until the multiplier keeps at least 8 significant bits; the bias is clipped to int32.
    """
    acc = np.asarray(acc, dtype=np.int64)
    m = acc.shape[0]
    flat = acc.reshape(m, -1)
    bias = np.zeros(m, np.int64)
    mult = np.zeros(m, np.int64)
    shift = np.zeros(m, np.int64)
    for c in range(m):
        a = flat[c]
        lo, hi = (int(v) for v in np.percentile(a, [10, 90]))
        spread = max(hi - lo, 1)
        centre = int(np.percentile(a, 35 if relu else 50))
        if hi == lo:
            # (Nearly) one value: put it one step above (ReLU) or beside zero, so that the output
            # is +-target and any error in the sum moves it by a multiple of the target.
            b = -centre + (1 if relu or rng.integers(2) else -1)
        else:
            b = -centre + int(rng.integers(-spread // 5, spread // 5 + 1))
        bias[c] = min(max(b, -(1 << 31)), (1 << 31) - 1)
        reach = max(float(np.percentile(np.abs(a + bias[c]), 90)), 1.0)
        target = float(rng.uniform(64, 112))
        s = int(rng.integers(SHIFTS[0], SHIFTS[1] + 1))
        k = round(target * 2.0**s / reach)
        while k < 256 and s < 62:
            s += 1
            k = round(target * 2.0**s / reach)
        while k >= 1 << 31:
            s -= 1
            k = round(target * 2.0**s / reach)
        mult[c], shift[c] = max(k, 1), s
    return bias.astype(np.int32), mult.astype(np.int32), shift.astype(np.int32)


def random_layer(rng, c, m, h, w, k, stride, padding, relu, data_width: int = 8):
    """Random ``data_width``-bit input and weights (with both extreme values present), a scaled
    requantisation (:func:`scaled_requant`) and the expected int8 output from ``sim.reference``:
    ``(x, wt, bias, mult, shift, expected)``. Asserts :func:`assert_interior` on the expected
    output, so every test that compares an IP's output with it compares unsaturated values."""
    lo, hi = -(1 << (data_width - 1)), 1 << (data_width - 1)
    dtype = np.int8 if data_width == 8 else np.int16
    x = rng.integers(lo, hi, size=(c, h, w), dtype=dtype)
    x.flat[0] = lo
    wt = rng.integers(lo, hi, size=(m, c, k, k), dtype=dtype)
    wt.flat[-1] = hi - 1
    acc = conv2d(x, wt, stride, padding)
    bias, mult, shift = scaled_requant(rng, acc, relu)
    expected = requantize(acc, bias, mult, shift, relu)
    assert_interior(expected, relu, f"layer {(c, m, h, w, k, stride, padding, relu)}")
    return x, wt, bias, mult, shift, expected


class InteriorRecorder:
    """A driver seen through a recorder: every call and attribute goes to ``accel`` unchanged, and
    the output of every ``conv2d`` (and ``conv2d_resident``) is kept with its ReLU flag, so that a network test can assert
    :data:`MIN_INTERIOR` on what the IP really produced (:meth:`assert_interior`)."""

    def __init__(self, accel):
        self._accel = accel
        self.outputs: list[tuple[np.ndarray, bool]] = []

    def __getattr__(self, name):
        return getattr(self._accel, name)

    def conv2d(self, *args, relu: bool = False, **kwargs):
        y = self._accel.conv2d(*args, relu=relu, **kwargs)
        self.outputs.append((self._peek(y), bool(relu)))
        return y

    def conv2d_resident(self, *args, relu: bool = False, **kwargs):
        y = self._accel.conv2d_resident(*args, relu=relu, **kwargs)
        self.outputs.append((self._peek(y), bool(relu)))
        return y

    def _peek(self, y):
        """A copy of a run's output; one kept in DDR is fetched with the driver's relayout and
        AP_START counts left as they were, so the recording does not show in what a test counts.
        A deferred run's (still in the pending run list) is fetched when it is asked for."""
        if isinstance(y, DeviceActivation):
            return y if self._accel._pending else self._fetch(y)
        return y.copy()

    def _fetch(self, act) -> np.ndarray:
        counts = self._accel.activation_relayouts, self._accel.ap_starts
        arr = self._accel.fetch(act)
        self._accel.activation_relayouts, self._accel.ap_starts = counts
        return arr

    def _resolve(self) -> None:
        self.outputs = [(self._fetch(y) if isinstance(y, DeviceActivation) else y, relu) for y, relu in self.outputs]

    def fractions(self) -> list[float]:
        self._resolve()
        return [interior_fraction(y, relu) for y, relu in self.outputs]

    def assert_interior(self, what: str = "the network's runs") -> None:
        """Every recorded run, and all of them together, reach :data:`MIN_INTERIOR`."""
        self._resolve()
        assert self.outputs, f"{what}: nothing ran on the IP"
        for k, (y, relu) in enumerate(self.outputs):
            assert_interior(y, relu, f"{what}, run {k}")
