# %% [markdown]
# # Handwritten digits on the convforge IP -- on a PYNQ board
#
# A notebook for a PYNQ-Z2 (or any board the design was built for). On your PC:
#
#     python -m dse.build --network digits-cnn --board pynq-z2 --out build/digits-cnn-pynq-z2
#     vivado -mode batch -source build/digits-cnn-pynq-z2/vivado/build.tcl   # -> <name>.bit, <name>.hwh
#     scp -r build/digits-cnn-pynq-z2 xilinx@pynq:digits-cnn-pynq-z2          # folder with design.json, .bit, .hwh
#
# On the board: install convforge from a copy of the repository (`pip install "./convforge[board]"`;
# scikit-learn too, for its bundled digits: `pip install scikit-learn`), copy this `examples/`
# folder next to the deploy folder, and run the cells in a notebook (`# %%` cells) or
# `python3 examples/digits_board.py --design digits-cnn-pynq-z2`.
#
# The digits, the trained weights (digits_model.npz) and the quantisation are the same as in
# `digits_sim.py`, which runs these steps against a Verilator simulation instead of the board.

# %%
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pynq import Overlay  # noqa: E402

import drivers  # noqa: E402,F401  (registers drivers.ConvAccelerator with PYNQ by the IP's VLNV)
from digits_common import design_name, run_demo  # noqa: E402

ap = argparse.ArgumentParser(description="The digits-cnn demo on the convforge IP of a PYNQ overlay.")
ap.add_argument("--design", type=Path, default=Path("digits-cnn-pynq-z2"),
                help="the deploy folder copied to the board (design.json, <name>.bit, <name>.hwh)")
ap.add_argument("--images", type=int, default=None, help="first N held-out images only (default: all 360)")
ap.add_argument("--json", action="store_true", help="print the figures as JSON at the end")
args, _ = ap.parse_known_args()  # tolerate a notebook kernel's own arguments

# %% Load the bitstream; the block design names the IP's cell conv_accelerator_0
overlay = Overlay(str(args.design / f"{design_name(args.design)}.bit"))
accel = overlay.conv_accelerator_0            # a drivers.ConvAccelerator
print(accel.info)                             # build parameters read from the IP's registers

# %% Run the held-out set: conv and fc layers on the IP, pooling on the ARM cores
result = run_demo(accel, args.design, args.images, backend="board")

# %%
if args.json:
    print(json.dumps(result, indent=1))
