"""The compute engines, each a datapath behind one signature and a description next to it.

``ENGINES`` maps ``AcceleratorConfig.engine`` names to descriptions
(:class:`rtl.engine.description.EngineDescription`); :func:`engine_named` and
:func:`engine_with_code` look them up for the configuration and for the driver (which reads the
ENGINE build-info register).
"""

from .description import EngineDescription, LayerMapping, Multipliers, PassCycles, Refusal
from .direct import DIRECT
from .signature import DatapathSignature
from .winograd import WINOGRAD

__all__ = ["ENGINES", "engine_named", "engine_with_code", "engine_codes", "EngineDescription", "LayerMapping",
           "Multipliers", "PassCycles", "Refusal", "DatapathSignature", "DIRECT", "WINOGRAD"]

#: Engine descriptions by name, in the order the DSE searches them.
ENGINES: dict[str, EngineDescription] = {e.name: e for e in (DIRECT, WINOGRAD)}

if len({e.code for e in ENGINES.values()}) != len(ENGINES):
    raise ImportError("two engines share an ENGINE register code; give each a unique EngineDescription.code")


def engine_named(name: str) -> EngineDescription:
    """The description of engine ``name``; ValueError naming the engines for anything else."""
    try:
        return ENGINES[name]
    except (KeyError, TypeError):
        raise ValueError(f"engine must be one of {tuple(ENGINES)}, got {name!r}") from None


def engine_with_code(code: int) -> EngineDescription:
    """The description whose ENGINE register code is ``code``."""
    for e in ENGINES.values():
        if e.code == code:
            return e
    raise ValueError(f"no engine has register code {code}; known: "
                     + ", ".join(f"{e.code} {e.name}" for e in ENGINES.values()))


def engine_codes() -> str:
    """The ENGINE register's values in words, e.g. ``0 direct, 1 Winograd``."""
    return ", ".join(f"{e.code} {e.title}" for e in ENGINES.values())
