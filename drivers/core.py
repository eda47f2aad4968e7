"""The driver logic shared by the board (PYNQ) and the simulation: one conv2d for both.

A backend supplies four primitives, named as on ``pynq.DefaultIP`` so PYNQ habits carry over:
``read(offset)``, ``write(offset, value)``, ``allocate(shape, dtype)`` (a numpy array with
``.device_address``, ``.flush()`` and ``.invalidate()``) and ``_wait_done(timeout)``.
Everything else -- discovery of the IP's parameters from its build-info registers, validation,
DDR layout conversion, buffer reuse, register programming, error reporting and counters -- lives
here once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import layout
from .interface import BUILD_VERSION, POOL_MODES
from .regmap import (ABORT, AP_IDLE, AP_START, BUILD_MAGIC, ERROR_DESCRIPTIONS, REGISTERS, STATUS_ERROR, field_bits,
                     field_mask, field_value, require_int)
from .rules import Descriptor, Engine, Limits, engine_named, engine_with_code, refusal

__all__ = ["AcceleratorDriver", "ResidentWeights", "DeviceActivation", "BuildInfo", "AcceleratorError", "AcceleratorTimeout", "AcceleratorBusy"]


#: LAYER_FLAGS with RELU set, with TABLE set, and the POOL field.
_RELU = field_mask("LAYER_FLAGS", "RELU")
_TABLE = field_mask("LAYER_FLAGS", "TABLE")
_POOL = field_mask("LAYER_FLAGS", "POOL")


def _pool_code(pool) -> int:
    """LAYER_FLAGS.POOL for ``pool`` (None, or a name of ``POOL_MODES`` other than "none")."""
    if pool is None:
        return 0
    if not isinstance(pool, str) or pool not in POOL_MODES[1:]:
        raise ValueError(f"pool must be None or one of {POOL_MODES[1:]} (2x2 stride 2), got {pool!r}")
    return POOL_MODES.index(pool)


class AcceleratorError(RuntimeError):
    """The IP finished a layer with a non-zero STATUS error code."""


class AcceleratorTimeout(TimeoutError):
    """AP_DONE did not come in time."""


class AcceleratorBusy(RuntimeError):
    """A layer was to start while the IP is still running the previous one (AP_IDLE is 0)."""


@dataclass(frozen=True)
class BuildInfo:
    """The IP's build-time parameters, read from its build-info registers."""

    version: int
    engine: str
    m: int
    pm: int
    pn: int
    data_width: int
    axi_data_width: int
    max_width: int
    max_height: int
    max_channels: int
    max_kernel: int
    max_stride: int
    acc_width: int
    clock_mhz: float
    max_row_words: int
    max_weight_taps: int
    axi_addr_width: int = 64
    #: The IP has an activation table (LAYER_FLAGS.TABLE; build-info ACT_TABLE).
    act_table: bool = False
    #: The IP has a 2x2 pooling stage (LAYER_FLAGS.POOL; build-info POOLING).
    pooling: bool = False

    @property
    def engine_rules(self) -> Engine:
        """What the IP's engine runs (drivers.rules)."""
        return engine_named(self.engine)

    @property
    def limits(self) -> Limits:
        """What the IP accepts, for the descriptor rule (drivers.rules.refusal)."""
        return Limits(self.m, self.pm, self.pn, self.max_width, self.max_height, self.max_channels,
                      self.max_kernel, self.max_stride, self.max_row_words, self.max_weight_taps)


@dataclass(frozen=True)
class ResidentWeights:
    """A layer's weights and quant table packed once into DDR buffers of their own
    (:meth:`AcceleratorDriver.load_weights`); ``shape`` is the weights' [M, C, K, K];
    ``table``: the quant buffer opens with an activation table (the runs set LAYER_FLAGS.TABLE)."""

    shape: tuple
    weights: object
    quant: object
    table: bool = False

    def free(self) -> None:
        """Give the buffers back (PYNQ's ``freebuffer``; simulated DDR is freed with the simulator)."""
        for buf in (self.weights, self.quant):
            if hasattr(buf, "freebuffer"):
                buf.freebuffer()


@dataclass(frozen=True)
class DeviceActivation:
    """An int8 activation ``[C, H, W]`` the IP left in DDR (``conv2d_resident(..., keep=name)``),
    in its row-major output layout ``[H][CG][W][p]``. On an IP with ``pm == pn`` that is the
    input layout too, so the next accelerated layer reads it where it lies: nothing is
    relaid out on the CPU (docs/memory-layout.md). :meth:`AcceleratorDriver.fetch` brings it
    to numpy. It is valid until the driver runs another layer that keeps its output under the
    same name. ``name``: the driver's name of the buffer (None for one it did not allocate)."""

    buffer: object
    shape: tuple
    name: str | None = None


class AcceleratorDriver:
    """Mixin with the layer API; see :meth:`conv2d`."""

    #: Seconds (board) or the simulation's own cycle budget is used when None.
    timeout: float | None = 10.0
    #: How long an abort may take (seconds on a board; simulated cycles in a simulation): the
    #: masters' outstanding bursts drain at the memory's pace, a few thousand cycles at most.
    abort_timeout: float = 0.1

    def _driver_init(self):
        self._info: BuildInfo | None = None
        self._buffers: dict[str, np.ndarray] = {}
        self.counters: dict[str, int] = {}
        #: How many times a layer's weights and quant table were packed (load_weights, conv2d).
        self.weight_packs = 0
        #: How many activations were relaid out on the CPU: inputs packed into the IP's layout,
        #: outputs unpacked from it (a DeviceActivation input or a kept output is neither).
        self.activation_relayouts = 0
        #: How many times AP_START was written: once per run from the registers, once per run list.
        self.ap_starts = 0
        #: Deferred runs (``defer=True``), in order: their register values and a label each.
        self._pending: list[tuple[dict, str]] = []
        #: Names of the buffers the deferred runs read or write.
        self._pending_buffers: set[str] = set()
        #: The runs whose list the "run list" buffer holds (the descriptors' values).
        self._listed: list[tuple] = []

    # ----- discovery ----------------------------------------------------------------------
    def _reg(self, name: str) -> int:
        return self.read(REGISTERS[name])

    @property
    def info(self) -> BuildInfo:
        if self._info is None:
            magic = self._reg("MAGIC")
            if magic != BUILD_MAGIC:
                raise RuntimeError(f"no convforge IP answers at this address: MAGIC reads {magic:#010x}, expected {BUILD_MAGIC:#010x}")
            version = self._reg("VERSION")
            if version != BUILD_VERSION:
                raise RuntimeError(f"the IP has register layout version {version} and this runtime drives version "
                                   f"{BUILD_VERSION}: install the runtime wheel of the deploy folder the bitstream came from")
            self._info = BuildInfo(
                version=version,
                engine=engine_with_code(self._reg("ENGINE")).name,
                m=self._reg("WINO_M"), pm=self._reg("PM"), pn=self._reg("PN"),
                data_width=self._reg("DATA_WIDTH"), axi_data_width=self._reg("AXI_DATA_WIDTH"),
                max_width=self._reg("MAX_WIDTH"), max_height=self._reg("MAX_HEIGHT"),
                max_channels=self._reg("MAX_CHANNELS"), max_kernel=self._reg("MAX_KERNEL"),
                max_stride=self._reg("MAX_STRIDE"), acc_width=self._reg("ACC_WIDTH"),
                clock_mhz=self._reg("CLOCK_HZ") / 1e6,
                max_row_words=self._reg("MAX_ROW_WORDS"), max_weight_taps=self._reg("MAX_WEIGHT_TAPS"),
                axi_addr_width=self._reg("AXI_ADDR_WIDTH") or 64,   # 0 on IPs built before the register
                act_table=bool(self._reg("ACT_TABLE")), pooling=bool(self._reg("POOLING")),
            )
        return self._info

    # ----- validation ---------------------------------------------------------------------
    def check_layer(self, x_shape, w_shape, stride: int, padding: int, pool=None) -> tuple[int, int]:
        """Raise ValueError unless the IP can run this layer (pooled by ``pool``, as
        :meth:`conv2d` takes it); return the (Ho, Wo) it writes."""
        info = self.info
        if len(x_shape) != 3:
            raise ValueError(f"x must be [C, H, W], got shape {tuple(x_shape)}")
        if len(w_shape) != 4 or w_shape[2] != w_shape[3]:
            raise ValueError(f"w must be [M, C, K, K], got shape {tuple(w_shape)}")
        c, h, wd = x_shape
        m, cw, k, _ = w_shape
        if cw != c:
            raise ValueError(f"w has {cw} input channels but x has {c}")
        stride, padding = require_int("stride", stride), require_int("padding", padding)
        code = _pool_code(pool)
        if code and not info.pooling:
            raise ValueError("this IP has no pooling stage (build-info POOLING is 0): run the layer without pool= and "
                             "pool on the CPU, or build with pooling")
        d = Descriptor(c, m, h, wd, k, stride, padding, code)
        refused = refusal(d, info.limits, info.engine_rules)
        if refused is not None:
            raise ValueError(refused.reason)
        return d.written_height, d.written_width

    @staticmethod
    def _check_values(name, arr, bits):
        arr = np.asarray(arr)
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{name} must be an integer array, got dtype {arr.dtype}")
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        if arr.size and (arr.min() < lo or arr.max() > hi):
            raise ValueError(f"{name} values must fit int{bits} ({lo}..{hi})")
        return arr

    # ----- buffers ------------------------------------------------------------------------
    def _buffer(self, name: str, nbytes: int) -> np.ndarray:
        nbytes = max(nbytes, 1)
        buf = self._buffers.get(name)
        if buf is None or buf.nbytes < nbytes:
            if name in self._pending_buffers:
                self.run_pending()     # a deferred run still uses the buffer about to be replaced
            if buf is not None and hasattr(buf, "freebuffer"):
                buf.freebuffer()
            buf = self.allocate((nbytes,), dtype=np.uint8)
            self._buffers[name] = buf
        return buf

    # ----- the layer API ------------------------------------------------------------------
    def _check_quant(self, m: int, bias, mult, shift) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        bias_arr = np.zeros(m, dtype=np.int64) if bias is None else np.asarray(bias)
        self._check_values("bias", bias_arr, 32)
        if bias_arr.shape not in ((), (m,)):
            raise ValueError(f"bias must have shape ({m},), got {bias_arr.shape}")
        mult_arr = self._check_values("mult", np.asarray(mult), 32)
        shift_arr = np.asarray(shift)
        if not np.issubdtype(shift_arr.dtype, np.integer) or shift_arr.size and (shift_arr.min() < 0 or shift_arr.max() > 63):
            raise ValueError("shift must be integers in 0..63")
        for name, arr in (("mult", mult_arr), ("shift", shift_arr)):
            if arr.shape not in ((), (m,)):
                raise ValueError(f"{name} must be a scalar or have shape ({m},), got {arr.shape}")
        return bias_arr, mult_arr, shift_arr

    def _pack_weights(self, w, bias, mult, shift, table=None) -> tuple[np.ndarray, np.ndarray]:
        """``w`` and its quant table (opened by the activation ``table`` when given) in the IP's
        layouts (counted in :attr:`weight_packs`)."""
        info = self.info
        w = self._check_values("w", w, info.data_width)
        if w.ndim != 4 or w.shape[2] != w.shape[3]:
            raise ValueError(f"w must be [M, C, K, K], got shape {tuple(w.shape)}")
        bias_arr, mult_arr, shift_arr = self._check_quant(w.shape[0], bias, mult, shift)
        quant = layout.pack_quant(bias_arr, mult_arr, shift_arr, w.shape[0], info.pm)
        if table is not None:
            if not info.act_table:
                raise ValueError("this IP has no activation table (build-info ACT_TABLE is 0): run the layer without "
                                 "table= and apply the function on the CPU, or build with activation_table")
            quant = np.concatenate([layout.pack_table(table), quant])
        self.weight_packs += 1
        return layout.pack_weights(w, info.pm, info.pn, info.data_width), quant

    def _below_top(self, name: str, buf, n: int) -> None:
        top = 1 << self.info.axi_addr_width
        if buf.device_address + n > top:
            raise ValueError(f"the {name} buffer at {buf.device_address:#x} ({n} bytes) passes the top of the "
                             f"IP's {self.info.axi_addr_width}-bit address space; allocate it below {top:#x}")

    def load_weights(self, w, bias=None, mult=1, shift=0, table=None) -> ResidentWeights:
        """Pack a layer's weights and quant table once, into DDR buffers of their own; run the
        layer with :meth:`conv2d_resident` as often as needed without repacking. Arguments as
        for :meth:`conv2d`; ValueError for values the IP cannot hold. Free the buffers with
        :meth:`ResidentWeights.free` (a PYNQ board) or let them live as long as the driver."""
        wp, qp = self._pack_weights(w, bias, mult, shift, table)
        wbuf, qbuf = self.allocate((max(1, wp.nbytes),), dtype=np.uint8), self.allocate((max(1, qp.nbytes),), dtype=np.uint8)
        for name, buf, data in (("weights", wbuf, wp), ("quant", qbuf, qp)):
            self._below_top(name, buf, data.nbytes)
            buf[: data.nbytes] = data
            buf.flush()
        return ResidentWeights(tuple(int(n) for n in np.shape(w)), wbuf, qbuf, table is not None)

    def conv2d(self, x, w, bias=None, mult=1, shift=0, stride: int = 1, padding: int = 0, relu: bool = False,
               keep: str | None = None, table=None, pool=None):
        """Run one conv layer: ``requantize(conv2d(x, w, stride, padding), bias, mult, shift, relu)``.

        ``x`` int [C, H, W], ``w`` int [M, C, K, K] (int8, or int16 on a 16-bit IP); ``bias``
        int32 [M] or None; ``mult`` int32 and ``shift`` 0..63, scalars or [M]. Returns int8
        [M, Ho, Wo], bit-exact with ``sim.reference``. ValueError for what the IP cannot run.
        The weights are packed on every call; :meth:`load_weights` packs them once. ``x`` may be
        a :class:`DeviceActivation` and ``keep`` a name, as for :meth:`conv2d_resident`.
        ``table`` (an IP with ``info.act_table``): 256 int8 values; each output ``y`` becomes
        ``table[y & 0xFF]`` (``drivers.layout.activation_table`` tabulates a function).
        ``pool`` (an IP with ``info.pooling``): "max" or "avg" pools the outputs (after ``table``)
        2x2 with stride 2, as ``drivers.ops.maxpool``/``avgpool`` would; the output height and
        width must be even, and the result is half of each.
        """
        wp, qp = self._pack_weights(w, bias, mult, shift, table)
        x, out = self._check_run(x, np.shape(w), stride, padding, relu, pool)       # before anything is allocated
        bw, bq = self._buffer("weights", wp.nbytes), self._buffer("quant", qp.nbytes)
        return self._run(x, out, np.shape(w), bw, bq, stride, padding, relu, weights=(wp, qp), keep=keep,
                         table=table is not None, pool=_pool_code(pool))

    def conv2d_resident(self, x, weights: ResidentWeights, stride: int = 1, padding: int = 0, relu: bool = False,
                        keep: str | None = None, defer: bool = False, pool=None):
        """:meth:`conv2d` with weights and quant table loaded by :meth:`load_weights`: only the
        input is packed and the output unpacked.

        ``x`` may also be a :class:`DeviceActivation` an earlier run kept (the IP must have
        ``pm == pn``): the IP then reads it where it lies. With ``keep`` (a name), the output
        stays in DDR, in a buffer of that name allocated once and reused, and a
        :class:`DeviceActivation` is returned instead of an array.

        With ``defer`` (and ``keep``) the run is not started: it joins the run list that
        :meth:`run_pending` starts with one AP_START, and the returned activation is valid once
        that list has run. :meth:`fetch`, any run that is not deferred and a buffer the deferred
        runs use being replaced start the list first; its errors are raised there."""
        if not isinstance(weights, ResidentWeights):
            raise ValueError(f"weights must come from load_weights(), got {type(weights).__name__}")
        if defer and keep is None:
            raise ValueError("a deferred run must keep its output in DDR: pass keep=<name> with defer=True")
        x, out = self._check_run(x, weights.shape, stride, padding, relu, pool)
        return self._run(x, out, weights.shape, weights.weights, weights.quant, stride, padding, relu, keep=keep,
                         defer=bool(defer), table=weights.table, pool=_pool_code(pool))

    def fetch(self, act: DeviceActivation) -> np.ndarray:
        """A kept activation as a new int8 ``[C, H, W]`` array (one unpack on the CPU)."""
        if not isinstance(act, DeviceActivation):
            raise ValueError(f"fetch() takes a DeviceActivation, got {type(act).__name__}")
        c, h, w = act.shape
        self.run_pending()
        act.buffer.invalidate()
        self.activation_relayouts += 1
        return layout.unpack_output(np.asarray(act.buffer)[:layout.output_bytes(c, h, w, self.info.pm)], c, h, w,
                                    self.info.pm)

    def _check_run(self, x, w_shape, stride, padding, relu, pool=None):
        """``x`` as a checked array (or the :class:`DeviceActivation` it is) and the output's
        ``(Ho, Wo)``; ValueError for what the IP cannot run."""
        if not (isinstance(relu, (bool, np.bool_)) or isinstance(relu, (int, np.integer)) and relu in (0, 1)):
            raise ValueError(f"relu must be a bool, got {relu!r}")
        if isinstance(x, DeviceActivation):
            if self.info.pm != self.info.pn:
                raise ValueError(f"this IP writes {self.info.pm}-channel groups and reads {self.info.pn}-channel groups, "
                                 "so a kept activation is not its input layout: fetch() it and pass the array")
        else:
            x = self._check_values("x", x, self.info.data_width)
        return x, self.check_layer(x.shape, tuple(w_shape), stride, padding, pool)

    def _run(self, x, out, w_shape, bw, bq, stride, padding, relu, weights=None, keep=None, defer=False,
             table=False, pool=0):
        """Pack ``x`` (checked by :meth:`_check_run`, which gave ``out`` = (Ho, Wo); a
        :class:`DeviceActivation` is read where it lies), run the layer with the weight and quant
        buffers ``bw``/``bq`` (first writing ``weights``, the packed ``(weights, quant)``, into
        them when given), unpack -- or, with ``keep``, leave the output in DDR; with ``defer``,
        add the run to the pending run list instead of starting it."""
        info = self.info
        ho, wo = out
        c, h, wd = x.shape
        m, _, k, _ = w_shape
        out_n = layout.output_bytes(m, ho, wo, info.pm)
        out_name = "output" if keep is None else f"activation:{keep}"
        # A deferred run packs its input into a buffer of its own: the runs before it in the
        # list have not read theirs yet.
        in_name = f"input:{keep}" if defer else "input"
        if not defer or in_name in self._pending_buffers:
            self.run_pending()
        writes = []
        if isinstance(x, DeviceActivation):
            # Checked before the output buffer is (re)allocated: that could free the input.
            if self._buffers.get(out_name) is x.buffer:
                raise ValueError(f"the output cannot be kept in {keep!r}: that buffer holds this run's input")
            bx = x.buffer
            in_name = x.name
        else:
            xin = layout.pack_input(x, info.pn, info.data_width)
            self.activation_relayouts += 1
            bx = self._buffer(in_name, xin.nbytes)
            writes.append(("input", bx, xin))
        bo = self._buffer(out_name, out_n)
        if weights is not None:
            writes += [("weights", bw, weights[0]), ("quant", bq, weights[1])]
        for name, buf, data in writes:
            self._below_top(name, buf, data.nbytes)
        self._below_top("output", bo, out_n)
        for _, buf, data in writes:
            buf[: data.nbytes] = data
        for _, buf, _ in writes:
            buf.flush()

        desc = dict(in_addr=bx.device_address, weight_addr=bw.device_address, out_addr=bo.device_address,
                    quant_addr=bq.device_address, in_channels=c, out_channels=m, height=h, width=wd, kernel=k,
                    stride=stride, padding=padding, relu=int(bool(relu)), table=int(table), pool=int(pool))
        result = DeviceActivation(bo, (m, ho, wo), out_name)
        if defer:
            if len(self._pending) == self.MAX_RUN_LIST:
                self.run_pending()
            self._pending.append((desc, keep))
            self._pending_buffers.update(n for n in (in_name, out_name) if n is not None)
            return result
        self.start_layer(desc)
        self._finish(lambda: "")
        return result if keep is not None else self.fetch(result)

    #: Entries of one run list (RUNLIST_COUNT is 16 bits).
    MAX_RUN_LIST = (1 << 16) - 1

    def run_pending(self) -> dict | None:
        """Start the deferred runs (``conv2d_resident(..., defer=True)``) as one run list: the
        IP walks them in order after a single AP_START. Returns the list's counters (also in
        :attr:`counters`: they cover the whole list), None when nothing was pending; raises
        :class:`AcceleratorError` naming the entry that failed (the entries before it ran)."""
        if not self._pending:
            return None
        pending, self._pending, self._pending_buffers = self._pending, [], set()
        # A frame loop lists the same runs every frame: the list in DDR is then written once.
        key = [tuple(desc.values()) for desc, _ in pending]
        buf = self._buffers.get("run list")
        if key != self._listed or buf is None:
            image = layout.pack_run_list([self._register_values(desc) for desc, _ in pending])
            buf = self._buffer("run list", image.nbytes)
            self._below_top("run list", buf, image.nbytes)
            if buf.device_address % layout.RUN_LIST_ENTRY_BYTES:
                raise ValueError(f"the run-list buffer at {buf.device_address:#x} is not aligned to "
                                 f"{layout.RUN_LIST_ENTRY_BYTES} bytes: the allocator must return aligned buffers")
            buf[:image.nbytes] = image
            buf.flush()
            self._listed = key
        self.start_run_list(buf.device_address, [desc for desc, _ in pending])

        def where():
            index = self._reg("RUNLIST_INDEX")
            label = pending[index][1] if index < len(pending) else "?"
            return f" at run-list entry {index} of {len(pending)} (kept as {label!r})"
        return self._finish(where)

    def _finish(self, where) -> dict:
        """Wait for AP_DONE (aborting on a timeout), read the counters and raise for an error code
        (``where()`` adds where it happened)."""
        try:
            self._wait_done(self.timeout)
        except AcceleratorTimeout as exc:
            raise self._abort(str(exc)) from None
        status = self._reg("STATUS")
        self.counters = self._read_counters()
        code = field_value(status, STATUS_ERROR)
        if code:
            raise AcceleratorError(f"the accelerator reported error {code} ({ERROR_DESCRIPTIONS.get(code, 'unknown')})"
                                   f"{where()}")
        return self.counters

    @staticmethod
    def _register_values(desc: dict) -> dict[str, int]:
        """The descriptor registers' values for a run ``desc`` (keys as :meth:`start_layer` takes)."""
        values = {}
        for base in ("in_addr", "weight_addr", "out_addr", "quant_addr"):
            addr = int(desc[base])
            values[base.upper() + "_LO"] = addr & 0xFFFFFFFF
            values[base.upper() + "_HI"] = addr >> 32
        for name in ("in_channels", "out_channels", "height", "width", "kernel", "stride", "padding"):
            values[{"height": "IN_HEIGHT", "width": "IN_WIDTH"}.get(name, name.upper())] = int(desc[name])
        values["LAYER_FLAGS"] = ((_RELU if desc.get("relu", 0) else 0) | (_TABLE if desc.get("table", 0) else 0)
                                 | field_bits(int(desc.get("pool", 0)), _POOL))
        return values

    def _require_idle(self) -> None:
        if not self._reg("CTRL") & AP_IDLE:
            raise AcceleratorBusy("the accelerator is still running a layer (CTRL.AP_IDLE is 0); stop it with "
                                  "CTRL.ABORT or wait for it to finish")

    def start_layer(self, desc: dict) -> None:
        """Program the descriptor registers from ``desc`` and set AP_START.

        Raises :class:`AcceleratorBusy` (before writing anything) while the IP still runs a
        layer: it would ignore AP_START, and waiting would pick up the old run's AP_DONE."""
        self._require_idle()
        for reg, value in self._register_values(desc).items():
            self.write(REGISTERS[reg], value)
        self.write(REGISTERS["RUNLIST_COUNT"], 0)
        self.write(REGISTERS["CTRL"], AP_START)
        self.ap_starts += 1

    def start_run_list(self, address: int, descs: list) -> None:
        """Point the IP at a run list of ``len(descs)`` entries written at ``address`` and set
        AP_START (:class:`AcceleratorBusy` as for :meth:`start_layer`)."""
        self._require_idle()
        self.write(REGISTERS["RUNLIST_ADDR_LO"], address & 0xFFFFFFFF)
        self.write(REGISTERS["RUNLIST_ADDR_HI"], address >> 32)
        self.write(REGISTERS["RUNLIST_COUNT"], len(descs))
        self.write(REGISTERS["CTRL"], AP_START)
        self.ap_starts += 1

    def _abort(self, reason: str) -> AcceleratorTimeout:
        """Stop the running layer with CTRL.ABORT and wait (``abort_timeout``) for the IP to end
        it; the exception to raise says whether the IP is idle again."""
        self.write(REGISTERS["CTRL"], ABORT)
        try:
            self._wait_done(self.abort_timeout)
        except AcceleratorTimeout:
            return AcceleratorTimeout(f"{reason}; CTRL.ABORT did not end the run either (the memory no longer "
                                      f"answers the IP's bursts?): reset the PL before using the IP again")
        code = field_value(self._reg("STATUS"), STATUS_ERROR)
        return AcceleratorTimeout(f"{reason}; the layer was aborted and the IP is idle again "
                                  f"(STATUS.ERROR = {code}: {ERROR_DESCRIPTIONS.get(code, 'unknown')})")

    def _read_counters(self) -> dict[str, int]:
        return {
            "cycles": self._reg("CYCLES_LO") | (self._reg("CYCLES_HI") << 32),
            "stall_read_cycles": self._reg("STALL_READ"),
            "stall_write_cycles": self._reg("STALL_WRITE"),
            "active_cycles": self._reg("ACTIVE_CYCLES"),
            "bytes_read": self._reg("BYTES_READ"),
            "bytes_written": self._reg("BYTES_WRITTEN"),
        }
