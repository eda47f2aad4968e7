"""sim.axi_monitor.AxiChecker on hand-made cycle sequences: it accepts legal traffic and fails
on every rule it claims to check (pure Python, no simulator)."""

import pytest

from sim.axi_monitor import AxiChecker, ProtocolError

IDLE = {f"{ch}{s}": 0 for ch in ("AW", "W", "B", "AR", "R") for s in ("VALID", "READY")}


def ar(addr, beats, size=3, burst=1, valid=1, ready=1, arid=0):
    return {"ARVALID": valid, "ARREADY": ready, "ARID": arid, "ARADDR": addr, "ARLEN": beats - 1,
            "ARSIZE": size, "ARBURST": burst, "ARLOCK": 0, "ARCACHE": 3, "ARPROT": 0, "ARQOS": 0}


def aw(addr, beats, size=3, valid=1, ready=1):
    return {"AWVALID": valid, "AWREADY": ready, "AWID": 0, "AWADDR": addr, "AWLEN": beats - 1,
            "AWSIZE": size, "AWBURST": 1, "AWLOCK": 0, "AWCACHE": 3, "AWPROT": 0, "AWQOS": 0}


def r(last, valid=1, ready=1, resp=0, data=0):
    return {"RVALID": valid, "RREADY": ready, "RID": 0, "RDATA": data, "RRESP": resp, "RLAST": last}


def w(last, valid=1, ready=1, data=0, strb=0xFF):
    return {"WVALID": valid, "WREADY": ready, "WDATA": data, "WSTRB": strb, "WLAST": last}


def b(valid=1, ready=1, resp=0):
    return {"BVALID": valid, "BREADY": ready, "BID": 0, "BRESP": resp}


def run(cycles, **kw):
    checker = AxiChecker(64, **kw)
    for parts in cycles:
        values = dict(IDLE)
        for part in parts:
            values.update(part)
        checker.cycle(values)
    return checker


def test_legal_traffic_passes_and_is_counted():
    chk = run([
        [ar(0x1000 - 16, 2, ready=0)],          # waits for ARREADY, payload held
        [ar(0x1000 - 16, 2)],
        [ar(0x1000, 256), r(0)],
        [r(1)],
        [aw(0x2000 - 8, 1), w(1)],
        [b()],
        [w(0), aw(0x3000, 2, valid=0)],          # W may come before its AW
        [w(1)],
        [aw(0x3000, 2)],
        [b()],
    ] + [[r(int(k == 255))] for k in range(256)])
    assert chk.stats["AR"] == 2 and chk.stats["R"] == 258 and chk.stats["max_burst"] == 256
    assert chk.stats["page_end_bursts"] == 2 and chk.stats["B"] == 2
    chk.assert_quiet()


@pytest.mark.parametrize("cycles,match", [
    ([[ar(0x1000 - 8, 2)]], "crosses the 4 KiB boundary"),
    ([[aw(0x1FF8, 1, size=3), ], [aw(0x2FFC, 2, size=2)]], "crosses the 4 KiB boundary"),
    ([[ar(0x0, 17)]], "longer than 16 beats"),
    ([[ar(0x0, 1, size=4)]], "wider than the 8-byte bus"),
    ([[ar(0x0, 1, burst=2)]], "expected INCR"),
    ([[ar(0x40, 2, ready=0)], [ar(0x48, 2)]], "ARADDR changed before the handshake"),
    ([[ar(0x40, 2, ready=0)], [ar(0x40, 2, valid=0)]], "ARVALID dropped"),
    ([[w(0, ready=0, data=1)], [w(0, data=2)]], "WDATA changed"),
    ([[b(ready=0, resp=0)], [b(resp=2)]], "BRESP changed"),
    ([[r(1, ready=0, data=5)], [r(1, data=6)]], "RDATA changed"),
    ([[ar(0x0, 2)], [r(1)]], "RLAST=1 with 1 beats left"),
    ([[ar(0x0, 1)], [r(0)]], "RLAST=0 with 0 beats left"),
    ([[r(1)]], "no read burst outstanding"),
    ([[aw(0x0, 2), w(1)]], "WLAST=1 on beat 1 of a 2-beat burst"),
    ([[aw(0x0, 1), w(0)]], "WLAST=0 on beat 1 of a 1-beat burst"),
    ([[w(1)], [aw(0x0, 2)]], "its W burst had 1"),
    ([[b()]], "B response without a completed write burst"),
    ([[ar(0x0, 1)], [ar(0x8, 1)], [ar(0x10, 1)]], "3 read bursts in flight"),
])
def test_violations_are_caught(cycles, match):
    with pytest.raises(ProtocolError, match=match):
        run(cycles, max_burst=16, max_outstanding_reads=2)


def test_open_requests_fail_the_final_check():
    chk = run([[ar(0x0, 4)], [r(0)]])
    with pytest.raises(ProtocolError, match="not quiet"):
        chk.assert_quiet()


def test_lite_rules():
    lite = AxiChecker(32, lite=True)
    cycle = {"AWVALID": 0, "AWREADY": 1, "WVALID": 0, "WREADY": 1, "BVALID": 1, "BREADY": 1,
             "BRESP": 0, "ARVALID": 0, "ARREADY": 1, "RVALID": 0, "RREADY": 1}
    with pytest.raises(ProtocolError, match="before both the AW and W"):
        lite.cycle(cycle)
    lite.reset()
    with pytest.raises(ProtocolError, match="R response without a read request"):
        lite.cycle(dict(cycle, BVALID=0, RVALID=1, RDATA=0, RRESP=0))
