"""A PYNQ board stand-in for the board driver's tests, at the lowest level pynq allows.

The stand-in is a ``pynq.Device`` with the ``REGISTER_RW`` capability: pynq's own ``MMIO`` (and
so ``DefaultIP.read``/``write`` and ``register_map``) turns every register access into
``read_registers``/``write_registers`` calls, which go to a small Python model of the control
block (HLS CTRL semantics, the build-info values it is given, STATUS, counters). Buffers come
from pynq's ``allocate`` -> ``Device.allocate`` -> ``default_memory.allocate`` as real
``pynq.buffer.PynqBuffer`` objects; their ``flush``/``invalidate`` reach the device's
``flush``/``invalidate`` with the host address, which copy between host memory and a bytearray
"DDR". The model does not compute convolutions: at AP_START it snapshots the DDR the IP would
read (so a test sees whether the driver flushed first) and writes a known pattern where the IP
writes (so the driver only returns it if it invalidated afterwards).

It imports only numpy, pynq and the board runtime (``drivers``), so it also runs where the PC
side is blocked (tests/unit/test_runtime.py). ``reset_values`` (register name -> value after
reset, the build-info constants included) come from the test, which computes them from
``rtl.registers``.
"""

import ctypes

import pynq
from pynq.buffer import PynqBuffer
from pynq.overlay import _assign_drivers, _IPMap

from drivers import interface, layout
from drivers.interface import VLNV
from drivers.regmap import ABORT, ERROR_NAMES, REGISTERS

__all__ = ["IP_BASE", "DDR_BASE", "BUSY", "ControlBlockModel", "FakeMemory", "FakeBoard", "description", "overlay_ip"]

ABORTED = {name: code for code, name in ERROR_NAMES.items()}["ABORTED"]

IP_BASE = 0x4000_0000
DDR_BASE = 0x8_0000_0000  # above 4 GiB (ZynqMP high DDR): exercises the *_HI address registers
BUSY = 0x100


class ControlBlockModel:
    """The s_axi_control register block of one IP, in Python (docs/registers.md semantics)."""

    def __init__(self, reset_values, board):
        self.board = board
        self.values = {REGISTERS[name]: value for name, value in reset_values.items()}
        self.fields = {REGISTERS[name]: [(f["access"], ((1 << f["width"]) - 1) << f["lsb"])
                                         for f in interface.REGISTERS[name]["fields"].values()]
                       for name in reset_values}
        self.pm, self.pn = self.reg("PM"), self.reg("PN")
        self.mode = "run"        # "run", "hang" (CTRL.ABORT ends it), "dead" (nothing does) or ("error", code)
        self.polls_until_done = 3
        self.pending_polls = None
        self.snapshot = None
        self.pattern = None

    def reg(self, name):
        return self.values[REGISTERS[name]]

    def addr(self, name):
        return self.reg(name + "_LO") | self.reg(name + "_HI") << 32

    def read(self, offset):
        self.board.log.append(("read", offset))
        if offset == REGISTERS["CTRL"]:
            if self.pending_polls is not None:
                self.pending_polls -= 1
                if self.pending_polls <= 0:
                    self.pending_polls = None
                    self.finish()
            value = self.values[offset]
            self.values[offset] &= ~0b1010  # AP_DONE and AP_READY clear on read
            idle = self.pending_polls is None and not self.reg("STATUS") & BUSY
            return value | (idle << 2)
        return self.values.get(offset, 0)

    def write(self, offset, value):
        self.board.log.append(("write", offset, value))
        if offset not in self.values:
            return
        if offset == REGISTERS["CTRL"]:
            self.values[offset] = (self.values[offset] & ~0x80) | (value & 0x80)
            if value & 1:
                self.start()
            if value & ABORT and self.reg("STATUS") & BUSY and self.mode != "dead":
                self.board.log.append(("abort",))
                self.pending_polls = None
                self.values[REGISTERS["STATUS"]] = ABORTED
                self.values[offset] |= 0b1010  # AP_DONE, AP_READY
            return
        keep = self.values[offset]
        for access, mask in self.fields[offset]:
            if access == "RW":
                keep = (keep & ~mask) | (value & mask)
            elif access == "TOW" and value & mask:
                keep ^= mask
        self.values[offset] = keep

    def start(self):
        self.board.log.append(("start",))
        d = {n: self.reg(r) for n, r in (("c", "IN_CHANNELS"), ("m", "OUT_CHANNELS"), ("h", "IN_HEIGHT"),
                                          ("w", "IN_WIDTH"), ("k", "KERNEL"), ("s", "STRIDE"), ("p", "PADDING"))}
        self.descriptor = d
        ddr = self.board.ddr_view
        self.snapshot = {
            "input": ddr(self.addr("IN_ADDR"), layout.input_bytes(d["c"], d["h"], d["w"], self.pn)),
            "weights": ddr(self.addr("WEIGHT_ADDR"), layout.weight_bytes(d["m"], d["c"], d["k"], self.pm, self.pn)),
            "quant": ddr(self.addr("QUANT_ADDR"), layout.quant_bytes(d["m"], self.pm)),
        }
        self.values[REGISTERS["STATUS"]] = BUSY
        if self.mode not in ("hang", "dead"):
            self.pending_polls = self.polls_until_done

    def finish(self):
        d = self.descriptor
        if isinstance(self.mode, tuple):
            self.values[REGISTERS["STATUS"]] = self.mode[1]
        else:
            ho, wo = layout.output_shape(d["h"], d["w"], d["k"], d["s"], d["p"])
            n = layout.output_bytes(d["m"], ho, wo, self.pm)
            self.pattern = bytes((i * 73 + 19) & 0xFF for i in range(n))
            self.board.ddr_write(self.addr("OUT_ADDR"), self.pattern)
            self.values[REGISTERS["STATUS"]] = 0
        for name, value in (("CYCLES_LO", 123456), ("CYCLES_HI", 1), ("STALL_READ", 77), ("STALL_WRITE", 5),
                            ("ACTIVE_CYCLES", 4000), ("BYTES_READ", 2048), ("BYTES_WRITTEN", 512)):
            self.values[REGISTERS[name]] = value
        self.values[REGISTERS["CTRL"]] |= 0b1010  # AP_DONE, AP_READY
        self.board.log.append(("done",))


class FakeMemory:
    """The device's ``default_memory``: hands out PynqBuffers at increasing DDR addresses."""

    def __init__(self, board):
        self.board = board
        self.next = DDR_BASE
        self.bos = {}

    def allocate(self, shape, dtype, **kwargs):
        buf = PynqBuffer(shape, dtype, device=self.board, device_address=self.next, bo=len(self.bos) + 1,
                         coherent=False)
        self.bos[buf.bo] = self.next
        self.board.log.append(("allocate", buf.bo, buf.nbytes))
        self.next += (buf.nbytes + 4095) // 4096 * 4096
        return buf


class FakeBoard(pynq.Device):
    """A pynq Device standing in for the board: registers -> ControlBlockModel, memory -> bytearray."""

    def __init__(self, reset_values):
        super().__init__("fake-board")
        self.capabilities = {"REGISTER_RW": True}
        self.log = []
        self.ddr = bytearray(1 << 20)
        self.default_memory = FakeMemory(self)
        self.control = ControlBlockModel(reset_values, self)

    # MMIO through REGISTER_RW: pynq's _AccessHook calls these with absolute addresses.
    def read_registers(self, address, length):
        assert length == 4 and IP_BASE <= address < IP_BASE + 0x1000
        return self.control.read(address - IP_BASE).to_bytes(4, "little")

    def write_registers(self, address, data):
        assert len(data) == 4 and IP_BASE <= address < IP_BASE + 0x1000
        self.control.write(address - IP_BASE, int.from_bytes(data, "little"))

    # DDR
    def ddr_view(self, address, n):
        return bytes(self.ddr[address - DDR_BASE: address - DDR_BASE + n])

    def ddr_write(self, address, data):
        self.ddr[address - DDR_BASE: address - DDR_BASE + len(data)] = data

    # Cache maintenance, as PynqBuffer.flush/invalidate call it.
    def flush(self, bo, offset, vaddr, nbytes):
        self.log.append(("flush", bo, offset, nbytes))
        self.ddr_write(self.default_memory.bos[bo] + offset, ctypes.string_at(vaddr, nbytes))

    def invalidate(self, bo, offset, vaddr, nbytes):
        self.log.append(("invalidate", bo, offset, nbytes))
        data = self.ddr_view(self.default_memory.bos[bo] + offset, nbytes)
        ctypes.memmove(vaddr, data, nbytes)


def description(board, **extra):
    """An ip_dict entry as pynq's hwh parser writes it (here without registers)."""
    return {"type": VLNV, "phys_addr": IP_BASE, "addr_range": 0x1000, "fullpath": "conv_accelerator_0",
            "mem_id": "s_axi_control", "device": board, **extra}


def overlay_ip(board, ip_type=VLNV, ignore_version=False):
    """What ``Overlay(...).conv_accelerator_0`` does after parsing the .hwh: pynq's own driver
    assignment and IP map."""
    desc = {"ip": {"conv_accelerator_0": description(board, type=ip_type)}, "hierarchies": {}, "interrupts": {},
            "gpio": {}, "memories": {}}
    _assign_drivers(desc, ignore_version, board)
    return _IPMap(desc).conv_accelerator_0
