"""``drivers.ConvAccelerator`` against the real ``pynq`` package, with a fake board at the lowest
level pynq allows (tests/harness/fake_pynq.py: a ``pynq.Device`` whose registers are a Python
model of the control block and whose DDR is a bytearray). The build-info values the model
reports are computed here from ``rtl.registers``, the single source the IP's RTL is built from.
"""

import dataclasses
import subprocess
import sys
import warnings

import numpy as np
import pytest

import pynq  # noqa: F401 -- the dev extra installs it (pyproject.toml): missing pynq is a failure, not a skip
from pynq.overlay import DefaultIP, _ip_drivers

from drivers import AcceleratorError, AcceleratorTimeout, ConvAccelerator, DeviceActivation
from drivers.regmap import ABORT, REGISTERS
from rtl.config import AcceleratorConfig
from rtl.ip_identity import VLNV
from rtl.registers import BUILD_MAGIC, control_register_map
from tests.harness.ddr_bytes import expected_input, expected_output, expected_quant, expected_weights
from tests.harness.fake_pynq import DDR_BASE, FakeBoard, description, overlay_ip

CONFIG = AcceleratorConfig(engine="direct", pm=4, pn=8, max_width=20, max_height=20, max_channels=24,
                           max_kernel=5, max_stride=2, requant_lanes=2, clock_mhz=125)


def reset_values(config) -> dict:
    """Register name -> value after reset of the IP built from ``config`` (build-info constants
    included), from rtl.registers."""
    values = {}
    for reg in control_register_map(config):
        value = 0
        for f in reg.fields:
            value |= (f.constant if f.constant is not None else f.reset) << f.lsb
        values[reg.name] = value
    return values


def fake_board(config=CONFIG) -> FakeBoard:
    return FakeBoard(reset_values(config))


# ----- registration by VLNV ---------------------------------------------------------------------------

def test_class_is_registered_by_vlnv():
    assert _ip_drivers[VLNV] is ConvAccelerator
    assert _ip_drivers[VLNV.rpartition(":")[0]] is ConvAccelerator  # the version-less key pynq also keeps
    board = fake_board()
    ip = overlay_ip(board)
    assert type(ip) is ConvAccelerator and isinstance(ip, DefaultIP)
    # Another version of the IP binds only with ignore_version, as for any PYNQ driver.
    other = VLNV.rpartition(":")[0] + ":9.9"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert type(overlay_ip(board, other)) is DefaultIP
    assert any("ignore_version" in str(w.message) for w in caught)
    assert type(overlay_ip(board, other, ignore_version=True)) is ConvAccelerator
    # Something else entirely gets pynq's DefaultIP.
    assert type(overlay_ip(board, "xilinx.com:ip:axi_dma:7.1")) is DefaultIP


def test_import_drivers_without_pynq():
    code = ("import sys; sys.modules['pynq'] = None\n"
            "import drivers\n"
            "assert drivers.PYNQ_AVAILABLE is False\n"
            "try:\n    drivers.ConvAccelerator({})\nexcept ImportError as e:\n    print('ImportError', e)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ImportError") and "pip install" in proc.stdout


# ----- register map -------------------------------------------------------------------------------

def test_register_map_supplied_by_the_driver():
    board = fake_board()
    ip = overlay_ip(board)
    rm = ip.register_map
    names = [r.name for r in control_register_map(CONFIG)]
    text = repr(rm)
    assert all(f"  {n} = Register(" in text for n in names)
    assert int(rm.MAGIC) == BUILD_MAGIC == ip.read(0x80)
    assert int(rm.PM) == CONFIG.pm and int(rm.MAX_CHANNELS) == CONFIG.max_channels
    assert rm.CTRL.AP_IDLE == 1 and rm.CTRL.AP_DONE == 0
    rm.IN_CHANNELS = 7  # goes through pynq's Register -> MMIO -> the model
    assert board.control.reg("IN_CHANNELS") == 7 and int(rm.IN_CHANNELS) == 7
    rm.MAGIC[7:0] = 0  # read-only in the map: the model ignores the write
    assert int(rm.MAGIC) == BUILD_MAGIC
    assert ip.info.pm == 4 and ip.info.pn == 8 and ip.info.clock_mhz == 125.0


def test_an_ip_of_another_register_layout_is_refused():
    """CLOCK_HZ replaced CLOCK_KHZ in layout version 2 and the run list came in version 3: an IP of
    an older version would read 1000 times too slow a clock, or ignore RUNLIST_COUNT and run the
    descriptor registers instead, so the driver refuses it before using any build-info value."""
    values = reset_values(CONFIG)
    values["VERSION"] = 2
    ip = overlay_ip(FakeBoard(values))
    with pytest.raises(RuntimeError, match=r"^the IP has register layout version 2 and this runtime drives version 3: "
                                           r"install the runtime wheel of the deploy folder the bitstream came from$"):
        ip.info
    assert overlay_ip(fake_board()).info.clock_mhz == CONFIG.clock_mhz == 125.0


def test_register_map_from_the_hwh_is_kept():
    board = fake_board()
    hwh_regs = {"CTRL": {"address_offset": 0, "size": 32, "access": "read-write", "description": "control",
                         "fields": {}}}
    ip = ConvAccelerator(description(board, registers=hwh_regs))
    assert "CTRL" in repr(ip.register_map) and "MAGIC" not in repr(ip.register_map)


# ----- a layer: flush before start, invalidate after done, buffers reused ----------------------------------

def _layer(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, size=(10, 9, 11), dtype=np.int8)
    w = rng.integers(-128, 128, size=(6, 10, 3, 3), dtype=np.int8)
    bias = rng.integers(-999, 999, size=6).astype(np.int32)
    mult = rng.integers(1, 1 << 20, size=6).astype(np.int32)
    shift = rng.integers(0, 40, size=6).astype(np.int32)
    return x, w, bias, mult, shift


def test_conv2d_flushes_starts_waits_and_invalidates():
    board = fake_board()
    ip = overlay_ip(board)
    ip.poll_interval = 0
    x, w, bias, mult, shift = _layer(1)
    y = ip.conv2d(x, w, bias=bias, mult=mult, shift=shift, stride=2, padding=1, relu=True)
    model = board.control
    # The IP saw the flushed inputs in the driver's DDR layout at the programmed (64-bit) addresses.
    assert model.snapshot["input"] == expected_input(x, 8)
    assert model.snapshot["weights"] == expected_weights(w, 4, 8)
    assert model.snapshot["quant"] == expected_quant(bias, mult, shift, 4)
    assert model.addr("IN_ADDR") >> 32 == DDR_BASE >> 32
    assert model.descriptor == dict(c=10, m=6, h=9, w=11, k=3, s=2, p=1) and model.reg("LAYER_FLAGS") == 1
    # ... and the driver returns what the IP wrote, which it only sees after invalidating.
    assert y.dtype == np.int8 and y.tolist() == expected_output(model.pattern, 6, 5, 6, 4)
    events = [e[0] for e in board.log if e[0] in ("flush", "invalidate", "start", "done")]
    assert events == ["flush", "flush", "flush", "start", "done", "invalidate"]
    assert ip.counters == {"cycles": (1 << 32) + 123456, "stall_read_cycles": 77, "stall_write_cycles": 5,
                           "active_cycles": 4000, "bytes_read": 2048, "bytes_written": 512}
    # A second layer of the same size reuses the four buffers.
    allocations = [e for e in board.log if e[0] == "allocate"]
    assert len(allocations) == 4
    x2, w2, bias2, mult2, shift2 = _layer(2)
    ip.conv2d(x2, w2, bias=bias2, mult=mult2, shift=shift2, stride=2, padding=1)
    assert len([e for e in board.log if e[0] == "allocate"]) == 4
    assert model.snapshot["input"] == expected_input(x2, 8)
    assert model.reg("LAYER_FLAGS") == 0


def test_a_kept_activation_is_read_where_it_lies():
    """On an IP with pm == pn a kept output stays in its DDR buffer (no invalidate, no unpack);
    the next run reads it there (no input written or flushed); fetch() unpacks it once. An IP
    with pm != pn refuses it in one sentence."""
    board = fake_board(dataclasses.replace(CONFIG, pm=8))
    ip = overlay_ip(board)
    ip.poll_interval = 0
    model = board.control
    x, w, bias, mult, shift = _layer(5)
    first = ip.load_weights(w, bias=bias, mult=mult, shift=shift)
    second = ip.load_weights(np.ones((3, 6, 1, 1), np.int8))
    start = len(board.log)
    act = ip.conv2d_resident(x, first, stride=2, padding=1, keep="a")
    assert isinstance(act, DeviceActivation) and act.shape == (6, 5, 6)
    assert model.addr("OUT_ADDR") == act.buffer.device_address
    assert [e[0] for e in board.log[start:] if e[0] in ("flush", "start", "invalidate")] == ["flush", "start"]
    assert ip.activation_relayouts == 1                                     # the input packed; nothing unpacked
    kept = model.pattern
    start = len(board.log)
    y = ip.conv2d_resident(act, second)
    assert model.addr("IN_ADDR") == act.buffer.device_address
    assert model.reg("IN_CHANNELS") == 6 and model.reg("IN_HEIGHT") == 5 and model.reg("IN_WIDTH") == 6
    assert [e[0] for e in board.log[start:] if e[0] in ("flush", "start", "invalidate")] == ["start", "invalidate"]
    assert y.tolist() == expected_output(model.pattern, 3, 5, 6, 8) and ip.activation_relayouts == 2
    assert ip.fetch(act).tolist() == expected_output(kept, 6, 5, 6, 8) and ip.activation_relayouts == 3
    again = ip.conv2d_resident(x, first, stride=2, padding=1, keep="a")     # the same buffer, reused
    assert again.buffer is act.buffer
    with pytest.raises(ValueError, match="holds this run's input"):     # a run cannot overwrite its input
        ip.conv2d_resident(act, ip.load_weights(np.ones((6, 6, 1, 1), np.int8)), keep="a")
    narrow = overlay_ip(fake_board())
    narrow.poll_interval = 0
    with pytest.raises(ValueError, match="fetch"):
        narrow.conv2d_resident(act, narrow.load_weights(np.ones((3, 6, 1, 1), np.int8)))


def test_resident_weights_are_packed_and_flushed_once():
    board = fake_board()
    ip = overlay_ip(board)
    ip.poll_interval = 0
    x, w, bias, mult, shift = _layer(4)
    resident = ip.load_weights(w, bias=bias, mult=mult, shift=shift)
    assert ip.weight_packs == 1
    assert [e[0] for e in board.log if e[0] in ("allocate", "flush")] == ["allocate", "allocate", "flush", "flush"]
    model = board.control
    for k in range(3):                         # every frame: only the input is written and flushed
        x_k = (x + k).clip(-128, 127).astype(np.int8)
        start = len(board.log)
        y = ip.conv2d_resident(x_k, resident, stride=2, padding=1, relu=True)
        assert [e[0] for e in board.log[start:] if e[0] in ("flush", "start")] == ["flush", "start"]
        assert model.snapshot["input"] == expected_input(x_k, 8)
        assert model.snapshot["weights"] == expected_weights(w, 4, 8)
        assert model.snapshot["quant"] == expected_quant(bias, mult, shift, 4)
        assert model.addr("WEIGHT_ADDR") == resident.weights.device_address
        assert y.tolist() == expected_output(model.pattern, 6, 5, 6, 4)
    assert ip.weight_packs == 1
    with pytest.raises(ValueError, match="weights must come from load_weights"):
        ip.conv2d_resident(x, w)
    n = len(board.log)
    with pytest.raises(ValueError, match="int8"):
        ip.load_weights(w.astype(np.int16) * 300)
    with pytest.raises(ValueError, match="shift"):
        ip.load_weights(w, shift=64)
    assert len(board.log) == n and ip.weight_packs == 1     # refused before anything was allocated


def test_invalid_layers_never_reach_the_device():
    board = fake_board()
    ip = overlay_ip(board)
    x, w, *_ = _layer(3)
    with pytest.raises(ValueError, match="channels"):
        ip.conv2d(np.zeros((30, 4, 4), np.int8), np.zeros((2, 30, 3, 3), np.int8))
    with pytest.raises(ValueError, match="kernel"):
        ip.conv2d(x, np.zeros((2, 10, 7, 7), np.int8), padding=3)
    with pytest.raises(ValueError, match="int8"):
        ip.conv2d(x.astype(np.int16) * 2, w)
    assert not [e for e in board.log if e[0] in ("start", "flush", "allocate")]


def test_buffers_beyond_a_32_bit_port_are_refused_before_the_device_is_touched():
    """Issue 15 case 8: on a build for 32-bit HP ports (Zynq-7000) a buffer above 4 GiB would
    be wrapped into low DDR by the interconnect; the driver refuses it from AXI_ADDR_WIDTH."""
    board = fake_board(dataclasses.replace(CONFIG, axi_addr_width=32))  # the fake DDR sits at 32 GiB
    ip = overlay_ip(board)
    assert ip.info.axi_addr_width == 32
    x, w, bias, mult, shift = _layer(6)
    with pytest.raises(ValueError, match="input buffer at 0x8000[0-9a-f]{5} .* passes the top of the IP's 32-bit address"):
        ip.conv2d(x, w, bias=bias, mult=mult, shift=shift, padding=1)
    assert not [e for e in board.log if e[0] in ("start", "flush")]


def test_timeout_reports_the_status_register():
    board = fake_board()
    board.control.mode = "hang"
    ip = overlay_ip(board)
    ip.timeout, ip.poll_interval = 0.05, 0.001
    x, w, bias, mult, shift = _layer(4)
    with pytest.raises(AcceleratorTimeout, match=r"within 0\.05 s \(STATUS = 0x100, CTRL = 0x0\); the layer was "
                                                 r"aborted and the IP is idle again \(STATUS.ERROR = 10"):
        ip.conv2d(x, w, bias=bias, mult=mult, shift=shift, padding=1)
    assert not [e for e in board.log if e[0] == "invalidate"]
    assert ("write", REGISTERS["CTRL"], ABORT) in board.log and ("abort",) in board.log
    # A layer after the aborted one runs.
    board.control.mode = "run"
    ip.conv2d(x, w, bias=bias, mult=mult, shift=shift, padding=1)


def test_timeout_when_abort_does_not_help_says_to_reset_the_pl():
    board = fake_board()
    board.control.mode = "dead"
    ip = overlay_ip(board)
    ip.timeout, ip.abort_timeout, ip.poll_interval = 0.05, 0.02, 0.001
    x, w, bias, mult, shift = _layer(4)
    with pytest.raises(AcceleratorTimeout, match="CTRL.ABORT did not end the run either .* reset the PL"):
        ip.conv2d(x, w, bias=bias, mult=mult, shift=shift, padding=1)


def test_error_code_is_reported():
    board = fake_board()
    board.control.mode = ("error", 6)
    ip = overlay_ip(board)
    ip.poll_interval = 0
    x, w, *_ = _layer(5)
    with pytest.raises(AcceleratorError, match="error 6 .*past the top of the master.s address space"):
        ip.conv2d(x, w, padding=1)
