"""The default build's runtime wheel, installed with --no-deps where a PYNQ-Z2 image has only pynq and numpy.

Builds the default deploy folder (``python -m dse.build``: VGG16 on PYNQ-Z2), makes a virtual
environment with the interpreter, numpy and pynq of the oldest supported PYNQ image -- PYNQ 3.0
(the last image line for the PYNQ-Z1/Z2): Python 3.10, numpy 1.21.5, pynq 3.0.1 -- installs
the folder's ``convforge_runtime-*.whl`` into it with ``pip install --no-deps``, and runs one
layer through ``drivers.ConvAccelerator`` on the fake board of tests/harness/fake_pynq.py with
every PC-side package blocked (tests/harness/runtime_check.py: what the IP read and what the
driver returned, checked byte by byte). The environment is x86, not armv7l; the runtime has no
compiled part, and tests/unit/test_runtime.py checks its syntax against Python 3.8 with vermin.

    python bench/bench_runtime_install.py [--python /path/to/python3.10] [--keep]

Exits 1 when a step fails. Needs network access to PyPI for numpy and pynq.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness.runtime_check import check_blocked_run, run_blocked  # noqa: E402
from tests.unit.test_pynq_driver import CONFIG, _layer, reset_values  # noqa: E402

#: The oldest supported PYNQ image's Python, numpy and pynq (PYNQ v3.0, Ubuntu 22.04).
IMAGE = {"name": "PYNQ 3.0", "python": "3.10", "numpy": "1.21.5", "pynq": "3.0.1"}


def find_python(version: str) -> str | None:
    """An interpreter of ``version`` that runs (pyenv's, or ``python3.10`` on PATH)."""
    candidates = [str(p) for p in sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"))]
    candidates += [exe for exe in [shutil.which(f"python{version}")] if exe]
    for exe in candidates:
        proc = subprocess.run([exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True,
                              text=True)
        if proc.returncode == 0 and proc.stdout.strip() == version:
            return exe
    return None


def run(cmd, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}): "
                           + (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1])
    return proc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", default=None, help=f"the interpreter (default: Python {IMAGE['python']} on PATH or pyenv)")
    ap.add_argument("--keep", action="store_true", help="keep the folder, the venv and the deploy folder")
    args = ap.parse_args(argv)
    python = args.python or find_python(IMAGE["python"])
    if python is None:
        print(f"error: no Python {IMAGE['python']} found; pass --python", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="convforge-runtime-install-"))
    t0 = time.time()
    try:
        deploy = work / "vgg16-pynq-z2"
        run([sys.executable, "-m", "dse.build", "--quiet", "--out", deploy], cwd=ROOT)
        wheels = sorted(deploy.glob("convforge_runtime-*.whl"))
        if len(wheels) != 1:
            raise RuntimeError(f"the default deploy folder holds {len(wheels)} runtime wheels, not one")
        t_build = time.time()
        venv = work / "venv"
        run([python, "-m", "venv", venv])
        vpy = venv / "bin" / "python"
        run([vpy, "-m", "pip", "install", "--quiet", f"numpy=={IMAGE['numpy']}", f"pynq=={IMAGE['pynq']}"])
        before = run([vpy, "-m", "pip", "list", "--format=freeze"]).stdout.split()
        run([vpy, "-m", "pip", "install", "--no-deps", "--quiet", wheels[0]])
        after = run([vpy, "-m", "pip", "list", "--format=freeze"]).stdout.split()
        t_venv = time.time()
        x, w, bias, mult, shift = _layer(11)
        got = run_blocked(vpy, work / "child", reset_values(CONFIG), x, w, bias, mult, shift)
        check_blocked_run(got, x, w, bias, mult, shift, CONFIG.pm, CONFIG.pn)
        if not str(got["drivers"]).startswith(str(venv)):
            raise RuntimeError(f"the child imported drivers from {got['drivers']}, not from the venv")
    except (RuntimeError, AssertionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    added = sorted(set(after) - set(before))
    print(f"| image | Python | numpy | pynq | wheel | installed by --no-deps | layer through ConvAccelerator | PC side "
          f"imported |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n"
          f"| {IMAGE['name']} | {'.'.join(map(str, got['python']))} | {got['numpy']} | {IMAGE['pynq']} | "
          f"`{wheels[0].name}` | {', '.join(added)} | bit-exact layouts, output returned as written | none |")
    print()
    print(f"deploy folder {t_build - t0:.0f} s, venv and install {t_venv - t_build:.0f} s, check "
          f"{time.time() - t_venv:.0f} s; the venv held {len(before)} distributions before the wheel")
    return 0


if __name__ == "__main__":
    sys.exit(main())
