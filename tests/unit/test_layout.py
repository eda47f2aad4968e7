"""drivers.layout against byte strings written out by hand from docs/memory-layout.md: input
``[H][CG][W][pn]``, weights ``[MG][CG][K][K][pm][pn]``, 16-byte quant entries, output
``[Ho][MG][Wo][pm]``; little-endian, padding channels zero; data width 8 or 16 only."""

import numpy as np
import pytest

from drivers import layout


def _packed(arr: np.ndarray) -> bytes:
    assert arr.dtype == np.uint8 and arr.ndim == 1
    return arr.tobytes()


def test_input_int8_c3_h2_w2_pn2():
    x = np.array([[[1, 2], [3, 4]],          # channel 0
                  [[-1, -2], [-3, -4]],      # channel 1
                  [[5, 6], [7, -128]]],      # channel 2; channel 3 (padding) is zero
                 dtype=np.int8)
    expected = bytes.fromhex(
        "01ff 02fe 0500 0600"    # h=0: cg=0 (w=0: c0 c1, w=1: c0 c1), cg=1 (w=0: c2 pad, w=1: c2 pad)
        "03fd 04fc 0700 8000")   # h=1: the same order
    assert _packed(layout.pack_input(x, 2)) == expected
    assert layout.input_bytes(3, 2, 2, 2) == 16 == len(expected)


def test_weights_int8_2x3x1x1_pm2_pn2():
    w = np.array([[1, 2, 3], [-1, -2, -3]], dtype=np.int8).reshape(2, 3, 1, 1)
    expected = bytes.fromhex(
        "0102 fffe"     # cg=0: i=0 (out 0: in 0, in 1), i=1 (out 1: in 0, in 1)
        "0300 fd00")    # cg=1: i=0 (out 0: in 2, pad), i=1 (out 1: in 2, pad)
    assert _packed(layout.pack_weights(w, 2, 2)) == expected
    assert layout.weight_bytes(2, 3, 1, 2, 2) == 8 == len(expected)


def test_weights_int8_3x3_kernel_with_channel_padding():
    """M=3 (one padding output channel at pm=2), C=1 (one padding input channel at pn=2), K=3;
    w[0] taps are 1..9, w[1] their negations, w[2] 10..18, row-major (u, v)."""
    taps = np.arange(1, 10).reshape(3, 3)
    w = np.stack([taps, -taps, taps + 9]).reshape(3, 1, 3, 3).astype(np.int8)
    expected = bytes.fromhex(
        # mg=0, one [pm][pn] word per tap (u, v) in row-major order: out 0 in 0, pad, out 1 in 0, pad
        "01 00 ff 00  02 00 fe 00  03 00 fd 00  04 00 fc 00  05 00 fb 00  06 00 fa 00  07 00 f9 00"
        "08 00 f8 00  09 00 f7 00"
        # mg=1: out 2 in 0, pad, then the padding output channel (zero)
        "0a 00 00 00  0b 00 00 00  0c 00 00 00  0d 00 00 00  0e 00 00 00  0f 00 00 00  10 00 00 00"
        "11 00 00 00  12 00 00 00")
    assert _packed(layout.pack_weights(w, 2, 2)) == expected
    assert layout.weight_bytes(3, 1, 3, 2, 2) == 72 == len(expected)


def test_quant_entries_m3_pm2():
    """16 bytes per channel: bias int32 LE, mult int32 LE, shift uint8, 7 zero bytes; zero entries
    up to a multiple of pm."""
    bias = [-1, 0x12345678, -(1 << 31)]
    mult = [-2, 1, (1 << 31) - 1]
    shift = [63, 0, 1]
    expected = bytes.fromhex(
        "ffffffff feffffff 3f 00000000000000"
        "78563412 01000000 00 00000000000000"
        "00000080 ffffff7f 01 00000000000000"
        "00000000 00000000 00 00000000000000")   # padding entry (channel 3)
    assert _packed(layout.pack_quant(bias, mult, shift, 3, 2)) == expected
    assert layout.quant_bytes(3, 2) == 64 == len(expected)
    # Scalars stand for every channel.
    assert _packed(layout.pack_quant(5, 7, 2, 1, 1)) == bytes.fromhex("05000000 07000000 02 00000000000000")
    assert layout.quant_bytes(1, 1) == 16


def test_unpack_output_m3_pm2_with_negative_values():
    raw = np.frombuffer(bytes.fromhex(
        "01ff 02fe 8055 7f55"     # row 0: mg=0 (c0) (c1), each [out 0, out 1]; mg=1 [out 2, padding 0x55]
        "03fd 04fc 0055 9c55"),   # row 1
        dtype=np.uint8)
    y = layout.unpack_output(raw, 3, 2, 2, 2)
    assert y.dtype == np.int8
    assert y.tolist() == [[[1, 2], [3, 4]], [[-1, -2], [-3, -4]], [[-128, 127], [0, -100]]]
    assert layout.output_bytes(3, 2, 2, 2) == 16 == raw.size


def test_unpack_output_is_a_copy_even_when_pm_is_1():
    raw = np.frombuffer(bytes.fromhex("01 02 ff fe"), dtype=np.uint8).copy()   # [Ho=1][MG=2][Wo=2][pm=1]
    y = layout.unpack_output(raw, 2, 1, 2, 1)
    raw[:] = 0
    assert y.tolist() == [[[1, 2]], [[-1, -2]]]
    assert layout.output_bytes(2, 1, 2, 1) == 4


def test_output_with_pm_equal_pn_is_the_next_layers_input():
    """One activation layout: what a pm == p IP writes is what a pn == p IP reads."""
    rng = np.random.default_rng(3)
    for m, ho, wo, p in ((5, 3, 4, 2), (7, 2, 5, 3), (8, 1, 1, 8), (1, 4, 3, 4)):
        y = rng.integers(-128, 128, size=(m, ho, wo)).astype(np.int8)
        raw = layout.pack_input(y, p)
        assert raw.size == layout.output_bytes(m, ho, wo, p) == layout.input_bytes(m, ho, wo, p)
        assert np.array_equal(layout.unpack_output(raw, m, ho, wo, p), y)


def test_input_int16_is_little_endian():
    x = np.array([[[1, -2]], [[300, -32768]], [[32767, 256]]], dtype=np.int16)   # C=3, H=1, W=2
    expected = bytes.fromhex(
        "0100 2c01 feff 0080"     # cg=0: w=0 (1, 300), w=1 (-2, -32768)
        "ff7f 0000 0001 0000")    # cg=1: w=0 (32767, pad), w=1 (256, pad)
    assert _packed(layout.pack_input(x, 2, data_width=16)) == expected
    assert layout.input_bytes(3, 1, 2, 2, data_width=16) == 16 == len(expected)


def test_weights_int16_is_little_endian():
    w = np.array([[1, -1, 1000], [-1000, 32767, -32768]], dtype=np.int16).reshape(2, 3, 1, 1)
    expected = bytes.fromhex(
        "0100 ffff 18fc ff7f"     # cg=0: out 0 (1, -1), out 1 (-1000, 32767)
        "e803 0000 0080 0000")    # cg=1: out 0 (1000, pad), out 1 (-32768, pad)
    assert _packed(layout.pack_weights(w, 2, 2, data_width=16)) == expected
    assert layout.weight_bytes(2, 3, 1, 2, 2, data_width=16) == 16 == len(expected)


def test_output_shape_is_the_convolution_size():
    # (H + 2P - K) // S + 1: (9 + 2 - 3) // 2 + 1 = 5, (11 + 2 - 3) // 2 + 1 = 6
    assert layout.output_shape(9, 11, 3, 2, 1) == (5, 6)
    assert layout.output_shape(4, 4, 1, 1, 0) == (4, 4)


def test_data_width_12_is_refused():
    with pytest.raises(ValueError, match="data_width must be 8 or 16, got 12"):
        layout.pack_input(np.zeros((1, 1, 1), np.int16), 2, data_width=12)
    with pytest.raises(ValueError, match="data_width must be 8 or 16, got 12"):
        layout.pack_weights(np.zeros((1, 1, 1, 1), np.int16), 2, 2, data_width=12)
