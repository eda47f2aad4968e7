"""A quantised network as one ``.npz`` file: written on the PC, run on the board with the runtime alone.

:func:`save_network` writes a :class:`~drivers.quantize.QuantizedNetwork` -- the graph (every
layer's kind, shapes, inputs and attributes) as JSON and the int8/int32 parameters as arrays --
plus any extra arrays the caller adds (test images, labels). :func:`load_network` reads it back
as a :class:`~drivers.quantize.QuantizedNetwork` whose graph is a :class:`SavedNetwork` of
:class:`SavedLayer` objects: what :func:`drivers.run_network` reads of ``dse.graph``, without
``dse``. The loaded network runs bit for bit like the saved one (tests/unit/test_model_file.py).
The file holds no pickled objects (``allow_pickle=False``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np

from .quantize import QuantizedLayer, QuantizedNetwork

__all__ = ["SavedLayer", "SavedNetwork", "save_network", "load_network", "FORMAT"]

#: The file format's name and version (``format`` in the file's JSON).
FORMAT = "convforge-quantized-network/1"

_LAYER_FIELDS = ("name", "kind", "in_channels", "out_channels", "height", "width", "out_height", "out_width",
                 "kernel", "stride", "padding", "relu", "inputs", "op_type", "attrs")
_ARRAYS = ("weight", "weight_scale", "bias", "mult", "shift")


@dataclass(frozen=True)
class SavedLayer:
    """One layer of a saved network: the fields of ``dse.graph.Layer`` the runtime reads."""

    name: str
    kind: str
    in_channels: int
    out_channels: int
    height: int
    width: int
    out_height: int
    out_width: int
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    relu: bool = False
    inputs: Tuple[str, ...] = ()
    op_type: str = ""
    attrs: Tuple[Tuple[str, Any], ...] = ()

    def attr(self, name: str, default=None):
        """The value of attribute ``name`` (``default`` when the layer has none)."""
        for key, value in self.attrs:
            if key == name:
                return value
        return default

    @property
    def groups(self) -> int:
        return int(self.attr("groups", 1))


@dataclass
class SavedNetwork:
    """A saved network's graph: ``name``, ``input_shape`` ``(C, H, W)`` and ``layers`` in order."""

    name: str
    input_shape: Tuple[int, int, int]
    layers: Tuple[SavedLayer, ...]
    weights: Optional[dict] = field(default=None, repr=False)

    def layer(self, name: str) -> SavedLayer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer named {name!r} in {self.name}")


def _plain(value):
    """``value`` as JSON: tuples as lists, numpy scalars and arrays as Python numbers and lists."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _tupled(value):
    """Lists back to tuples, the form the graph and the parameters had."""
    return tuple(_tupled(v) for v in value) if isinstance(value, list) else value


def save_network(qnet: QuantizedNetwork, path, **extra: np.ndarray) -> Path:
    """Write ``qnet`` (and the ``extra`` arrays, by name) to the ``.npz`` file ``path``."""
    path = Path(path)
    arrays: Dict[str, np.ndarray] = {}
    layers = []
    for i, layer in enumerate(qnet.network.layers):
        entry = {"layer": {f: _plain(getattr(layer, f)) for f in _LAYER_FIELDS}}
        ql = qnet.layers.get(layer.name)
        if ql is not None:
            q = {"in_scales": _plain(ql.in_scales), "out_scale": float(ql.out_scale), "params": _plain(ql.params)}
            for name in _ARRAYS:
                value = getattr(ql, name)
                if isinstance(value, np.ndarray):
                    arrays[f"layer{i}.{name}"] = value
                    q[name] = {"array": f"layer{i}.{name}"}
                else:
                    q[name] = _plain(value)
            entry["quant"] = q
        layers.append(entry)
    for key in extra:
        if key.startswith("layer") or key == "network":
            raise ValueError(f"extra array names must not start with 'layer' or be 'network', got {key!r}")
    meta = {"format": FORMAT, "name": qnet.network.name, "input_shape": list(qnet.network.input_shape),
            "input_scale": float(qnet.input_scale), "layers": layers}
    arrays["network"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays, **{k: np.asarray(v) for k, v in extra.items()})
    return path


def load_network(path) -> Tuple[QuantizedNetwork, Dict[str, np.ndarray]]:
    """``(qnet, extra)``: the network saved in ``path`` and the extra arrays saved with it."""
    with np.load(path, allow_pickle=False) as data:
        if "network" not in data.files:
            raise ValueError(f"{path} is not a saved convforge network (no 'network' entry)")
        meta = json.loads(data["network"].tobytes().decode())
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path} has format {meta.get('format')!r}; this runtime reads {FORMAT!r}")
        layers, quant = [], {}
        for entry in meta["layers"]:
            fields = {k: _tupled(v) for k, v in entry["layer"].items()}
            layer = SavedLayer(**fields)
            layers.append(layer)
            q = entry.get("quant")
            if q is None:
                continue
            values = {}
            for name in _ARRAYS:
                value = q[name]
                values[name] = data[value["array"]] if isinstance(value, dict) else _tupled(value)
            params = {k: _tupled(v) for k, v in q["params"].items()}
            quant[layer.name] = QuantizedLayer(layer, tuple(q["in_scales"]), q["out_scale"], params=params, **values)
        extra = {k: data[k] for k in data.files if k != "network" and not k.startswith("layer")}
    network = SavedNetwork(meta["name"], tuple(meta["input_shape"]), tuple(layers))
    return QuantizedNetwork(network, meta["input_scale"], quant), extra
