"""The DDR layouts of docs/memory-layout.md, element by element (int8, little-endian): the bytes the
IP reads and writes, computed independently of drivers/layout.py for the driver's tests."""

__all__ = ["expected_input", "expected_weights", "expected_quant", "expected_output"]


def expected_input(x, pn) -> bytes:
    """``[H][CG][W][pn]``: channel cg*pn + k, channels >= C zero."""
    c, h, w = x.shape
    x = x.tolist()
    out = bytearray()
    for row in range(h):
        for cg in range(-(-c // pn)):
            for col in range(w):
                for k in range(pn):
                    ch = cg * pn + k
                    out += (x[ch][row][col] if ch < c else 0).to_bytes(1, "little", signed=True)
    return bytes(out)


def expected_weights(wt, pm, pn) -> bytes:
    """``[MG][CG][K][K][pm][pn]``: output channel mg*pm + i, input channel cg*pn + j, padding zero."""
    m, c, k, _ = wt.shape
    wt = wt.tolist()
    out = bytearray()
    for mg in range(-(-m // pm)):
        for cg in range(-(-c // pn)):
            for u in range(k):
                for v in range(k):
                    for i in range(pm):
                        for j in range(pn):
                            oc, ic = mg * pm + i, cg * pn + j
                            value = wt[oc][ic][u][v] if oc < m and ic < c else 0
                            out += value.to_bytes(1, "little", signed=True)
    return bytes(out)


def expected_quant(bias, mult, shift, pm) -> bytes:
    """One 16-byte entry per output channel (bias int32, mult int32, shift uint8, 7 zero bytes),
    zero entries up to a multiple of pm."""
    m = len(bias)
    out = bytearray()
    for oc in range(-(-m // pm) * pm):
        if oc < m:
            out += (int(bias[oc]).to_bytes(4, "little", signed=True) + int(mult[oc]).to_bytes(4, "little", signed=True)
                    + int(shift[oc]).to_bytes(1, "little") + bytes(7))
        else:
            out += bytes(16)
    return bytes(out)


def expected_output(raw: bytes, m, ho, wo, pm) -> list:
    """``y[M][Ho][Wo]`` from the ``[Ho][MG][Wo][pm]`` int8 output layout."""
    groups = -(-m // pm)

    def element(oc, r, col):
        mg, i = divmod(oc, pm)
        at = ((r * groups + mg) * wo + col) * pm + i
        return int.from_bytes(raw[at:at + 1], "little", signed=True)
    return [[[element(oc, r, col) for col in range(wo)] for r in range(ho)] for oc in range(m)]
