"""Run a Tcl script as ``tclsh SCRIPT ARGS...`` does: with tclsh where it is installed, else with
Python's own Tcl interpreter (tkinter); a machine with neither fails the test that asked, it never
skips it (the stubbed Vivado checks of tests/unit/test_packaging.py run everywhere)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

__all__ = ["TKINTER_TCLSH", "tcl_command", "run_tcl"]

# ``python -c TKINTER_TCLSH SCRIPT ARGS...`` runs SCRIPT as ``tclsh SCRIPT ARGS...`` does: in a fresh
# interpreter with argv0/argv/argc set, sourced at global level; an error's -errorinfo goes to stderr
# with exit code 1; ``exit N`` ends the process with N, flushing and closing channels. The script runs
# in a child interpreter because _tkinter deletes ``exit`` from its own; a child has Tcl's real one.
TKINTER_TCLSH = r"""
import sys, tkinter
tcl = tkinter.Tcl()
tcl.call("set", "script_args", tuple(sys.argv[1:]))
tcl.eval('''
set child [interp create]
$child eval [list set tcl_interactive 0]
$child eval [list set argv0 [lindex $script_args 0]]
$child eval [list set argv [lrange $script_args 1 end]]
$child eval [list set argc [expr {[llength $script_args] - 1}]]
$child eval {
    if {[catch {source $argv0} message options]} {
        puts stderr [dict get $options -errorinfo]
        exit 1
    }
    exit 0
}
''')
"""


def tcl_command(tclsh: str | None) -> list[str]:
    """The command prefix that runs a Tcl script like ``tclsh SCRIPT ARGS...``: ``[tclsh]`` if a
    tclsh path is given (normally ``shutil.which("tclsh")``), else Python's Tcl through tkinter;
    fails the test, saying why, if neither exists."""
    if tclsh:
        return [tclsh]
    try:
        import tkinter

        tkinter.Tcl()
    except Exception as exc:   # no tkinter module, or its Tcl library is missing
        pytest.fail(f"no Tcl interpreter: tclsh is not on PATH and Python's Tcl (tkinter) does not work ({exc!r}); "
                    "install tclsh (Tcl 8.6) or a Python with tkinter")
    return [sys.executable, "-c", TKINTER_TCLSH]


def run_tcl(script: Path, *args: str, cwd: Path, command: list[str] | None = None) -> subprocess.CompletedProcess:
    """Run ``script`` with ``args`` in a fresh Tcl interpreter (``command``; by default
    :func:`tcl_command` of the tclsh on PATH), stdout and stderr captured as text."""
    command = command or tcl_command(shutil.which("tclsh"))
    return subprocess.run([*command, str(script), *args], capture_output=True, text=True, cwd=cwd, timeout=60)
