# %% [markdown]
# # Handwritten digits on the convforge IP -- in simulation
#
# The same steps as `digits_board.py`, with `sim.backends.simulated` (a Verilator simulation of the
# deploy folder's Verilog behind the board driver's API) in place of the PYNQ overlay. Run it
# from the repository root:
#
#     python -m dse.build --network digits-cnn --board pynq-z2 --out build/digits-cnn-pynq-z2
#     python examples/digits_sim.py [--design build/digits-cnn-pynq-z2] [--images N] [--json]
#
# or cell by cell (`# %%` cells: VS Code, Jupytext). Without a deploy folder the script builds
# one first. The first simulation of a design compiles it with Verilator (about a minute,
# cached under ~/.cache/convforge); each image then takes a fraction of a second.
#
# It prints the float, int8-numpy and accelerator accuracy on the held-out images of the fixed
# split (examples/digits_common.py), checks that the accelerator's int8 outputs equal the numpy
# reference bit for bit, and the simulated latency per image at the design clock (the IP's
# CYCLES counters). It also writes `digits-int8.npz` into the deploy folder: the int8 network,
# the held-out images and labels, which `digits_board.py` runs on the board with the runtime.

# %%
import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from digits_common import export_for_board, run_demo  # noqa: E402
from sim.backends import simulated  # noqa: E402

ap = argparse.ArgumentParser(description="The digits-cnn demo on a Verilator simulation of the IP.")
ap.add_argument("--design", type=Path, default=Path("build/digits-cnn-pynq-z2"),
                help="deploy folder of python -m dse.build (built with the defaults if missing)")
ap.add_argument("--images", type=int, default=None, help="first N held-out images only (default: all 360)")
ap.add_argument("--pauses", default="none", choices=["none", "fixed", "random"], help="AXI back-pressure in the simulated memory")
ap.add_argument("--json", action="store_true", help="print the figures as JSON at the end")
args, _ = ap.parse_known_args()  # tolerate a notebook kernel's own arguments

# %% The deploy folder: python -m dse.build --network digits-cnn --board pynq-z2
if not (args.design / "design.json").is_file():
    print(f"building {args.design} with python -m dse.build ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "dse.build", "--network", "digits-cnn", "--board", "pynq-z2",
                    "--out", str(args.design), "--quiet"], check=True)

# %% Run the held-out set on the simulated IP (the board script gets `accel` from the overlay instead)
with simulated(args.design, pauses=args.pauses) as accel:
    print(f"simulated IP: {accel.info}", file=sys.stderr)
    result = run_demo(accel, args.design, args.images, backend="simulation")

# %% What the board script needs besides the runtime: the int8 network and the held-out set
print(f"wrote {export_for_board(args.design)} for digits_board.py", file=sys.stderr)

# %%
if args.json:
    print(json.dumps(result, indent=1))
