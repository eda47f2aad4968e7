"""The main job as Python calls on the PC: build a design, read its report, predict, simulate, write it.

    from dse.api import build_design

    design = build_design("lenet", board="pynq-z2")       # the DSE: a zoo name, an .onnx path or a Network
    design.report["totals"]["fps"]                        # what report.json holds
    design.quantize(calibration)                          # int8 post-training quantisation
    y = design.predict(x)                                 # int8 output of the numpy reference
    y = design.simulate(x)                                # the same on the simulated IP (bit-exact)
    design.write("build/lenet-pynq-z2")                   # the deploy folder

``python -m dse.build`` is this job from the command line (:func:`dse.build.build`: the DSE and
the folder in one call). This module sits on top of the packages, as the CLIs do: it uses the
DSE (``dse``), the board runtime (``drivers``: quantisation, the network runner) and the
simulated backends (``sim.backends``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from drivers import quantize_network, random_weights, run_network
from drivers.quantize import QuantizedNetwork
from sim.backends import simulated

from .build import (DEFAULT_BOARD, DEFAULT_GENERATIONS, DEFAULT_POPULATION, DEFAULT_SEED, BuildError, explore,
                    write_deploy_folder)
from .design import Design
from .report import design_dict, report_dict

__all__ = ["build_design", "AcceleratedNetwork", "BuildError"]


class AcceleratedNetwork:
    """A network, the accelerator the DSE designed for it on a board, and (after :meth:`quantize`)
    its int8 parameters. Attributes: ``design`` (:class:`dse.design.Design`), ``network``,
    ``board``, ``config``, ``fps``, ``report`` (the dict of report.json), ``plan`` (the layers
    of design.json: where each runs and its descriptors), ``qnet`` (None before
    :meth:`quantize`), ``folder`` (None before :meth:`write`)."""

    def __init__(self, design: Design, result, engines: list[str], settings: dict):
        self.design, self._result, self._engines, self._settings = design, result, engines, settings
        self.qnet: QuantizedNetwork | None = None
        self.folder: Path | None = None

    network = property(lambda self: self.design.network)
    board = property(lambda self: self.design.board)
    config = property(lambda self: self.design.config)
    fps = property(lambda self: self.design.fps)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.network.input_shape)

    @property
    def report(self) -> dict:
        return report_dict(self.design, self._result, engines=self._engines, settings=self._settings)

    @property
    def plan(self) -> dict:
        return design_dict(self.design)

    def quantize(self, calibration, weights=None, *, percentile: float | None = None,
                 seed: int = 0) -> "AcceleratedNetwork":
        """Post-training int8 quantisation (:func:`drivers.quantize_network`) calibrated on
        ``calibration`` (one input ``[C, H, W]`` or a batch ``[N, C, H, W]``) with ``weights``
        (default: the network's own, from its ONNX file; random ones, seeded, for a zoo network
        without weights). Returns self."""
        if weights is None:
            weights = self.network.weights or random_weights(self.network, seed)
        self.qnet = quantize_network(self.network, np.asarray(calibration, dtype=np.float64), weights,
                                     percentile=percentile)
        return self

    def _quantized(self) -> QuantizedNetwork:
        if self.qnet is None:
            raise BuildError("quantize the network first: design.quantize(calibration)")
        return self.qnet

    def predict(self, x) -> np.ndarray:
        """The int8 output of the numpy reference for the float input ``x[C, H, W]``: every
        layer with the runtime's CPU kernels, which the IP is bit-exact with."""
        y, _ = run_network(self._quantized(), x)
        return y

    def simulate(self, x, *, backend: str = "native") -> np.ndarray:
        """The int8 output for ``x`` with the accelerated layers on a Verilator simulation of
        the design (placed as design.json places them), the rest on the CPU."""
        qnet = self._quantized()
        with simulated(self.folder or self.config, backend=backend) as accel:
            y, _ = run_network(qnet, x, accel, plan=self.plan)
        return y

    def write(self, out=None, *, synth: bool = False, quiet: bool = True) -> Path:
        """Write the deploy folder (default ``build/<network>-<board>``): report, design.json,
        Verilog, the Vivado package and what the board needs. ``synth``: Yosys counts and the
        timing estimate in the report. Returns the folder."""
        out = Path("build") / f"{self.network.name}-{self.board.name}" if out is None else Path(out)
        write_deploy_folder(self.design, self._result, out, engines=self._engines, settings=self._settings,
                            synth=synth, quiet=quiet)
        self.folder = out
        return out


def build_design(network, board=DEFAULT_BOARD, *, engine: str = "auto", seed: int = DEFAULT_SEED,
                 population: int = DEFAULT_POPULATION, generations: int = DEFAULT_GENERATIONS, data_width: int = 8,
                 quiet: bool = True, input_shape=None) -> AcceleratedNetwork:
    """Run the DSE of ``network`` (a zoo name, a path to an .onnx model or a
    :class:`dse.graph.Network`) on ``board`` and return the :class:`AcceleratedNetwork`; nothing
    is written. ``input_shape`` (``(1, C, H, W)``): the input size of an ONNX model that leaves
    it symbolic. Raises :class:`BuildError` with one sentence."""
    network, board, engines, result = explore(network, board, engine=engine, seed=seed, population=population,
                                              generations=generations, data_width=data_width, quiet=quiet,
                                              input_shape=input_shape)
    settings = {"population": population, "generations": generations, "data_width": data_width}
    return AcceleratedNetwork(result.best, result, engines, settings)
