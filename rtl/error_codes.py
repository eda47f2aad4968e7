"""``ErrorCode``: the values of ``STATUS.ERROR``, shared by the layer check, the register map and the driver."""

from __future__ import annotations

import enum

__all__ = ["ErrorCode"]


class ErrorCode(enum.IntEnum):
    """Values of ``STATUS.ERROR``: why the last run was refused or failed (0 = success)."""

    OK = 0
    BAD_CHANNELS = 1
    BAD_SIZE = 2
    BAD_KERNEL = 3
    BAD_STRIDE = 4
    BAD_PADDING = 5
    BAD_ADDRESS = 6
    AXI_READ_ERROR = 7
    AXI_WRITE_ERROR = 8
    BAD_OUTPUT = 9
    ABORTED = 10
    BAD_RUN_LIST = 11
    BAD_FLAGS = 12
    BAD_POOL = 13

    @property
    def description(self) -> str:
        return _ERROR_TEXT[self]


_ERROR_TEXT = {
    ErrorCode.OK: "the last run completed successfully",
    ErrorCode.BAD_CHANNELS: ("IN_CHANNELS or OUT_CHANNELS is zero or above the build's MAX_CHANNELS, or a group's "
                             "weights (ceil(C/pn) x K x K taps) exceed MAX_WEIGHT_TAPS"),
    ErrorCode.BAD_SIZE: ("IN_HEIGHT or IN_WIDTH is zero or above the build's MAX_HEIGHT / MAX_WIDTH, an input row "
                         "(W x ceil(C/pn) words) exceeds MAX_ROW_WORDS, or the input exceeds 4 GiB"),
    ErrorCode.BAD_KERNEL: "KERNEL is zero, above MAX_KERNEL or not supported by the engine",
    ErrorCode.BAD_STRIDE: "STRIDE is zero, above MAX_STRIDE or not supported by the engine",
    ErrorCode.BAD_PADDING: "PADDING is not smaller than KERNEL",
    ErrorCode.BAD_ADDRESS: ("a buffer would extend past the top of the master's address space (address + size > "
                            "2^ADDR_WIDTH); any alignment is accepted"),
    ErrorCode.AXI_READ_ERROR: ("a memory read returned SLVERR or DECERR; the layer ran to its end (writing only its "
                               "output buffer) and its output is invalid"),
    ErrorCode.AXI_WRITE_ERROR: "a memory write returned SLVERR or DECERR; the output is invalid",
    ErrorCode.BAD_OUTPUT: ("the output feature map would be empty (kernel larger than the padded input) or larger "
                           "than MAX_HEIGHT x MAX_WIDTH (padding above (K-1)/2)"),
    ErrorCode.ABORTED: ("the run was stopped by CTRL.ABORT: the output buffer holds part of the output (no byte "
                        "outside it was written)"),
    ErrorCode.BAD_RUN_LIST: ("RUNLIST_ADDR is not a multiple of 64, the run list (RUNLIST_COUNT x 64 bytes) passes "
                             "the top of the address space, or the entry RUNLIST_INDEX names sets a bit outside its "
                             "registers' fields"),
    ErrorCode.BAD_FLAGS: ("LAYER_FLAGS.TABLE is set on a build without an activation table (build-info ACT_TABLE "
                          "is 0), or LAYER_FLAGS.POOL is not 0 on a build without a pooling stage (build-info POOLING "
                          "is 0) or names no pooling mode"),
    ErrorCode.BAD_POOL: ("LAYER_FLAGS.POOL asks for 2x2 stride-2 pooling of an output whose height or width is odd "
                         "(pooled runs need both even)"),
}
