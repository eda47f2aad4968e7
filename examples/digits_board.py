# %% [markdown]
# # Handwritten digits on the convforge IP -- on a PYNQ board
#
# Needs only the board runtime (the deploy folder's `convforge_runtime-*.whl`), numpy and pynq.
# On the PC (a convforge checkout):
#
#     python -m dse.build --network digits-cnn --board pynq-z2 --out build/digits-cnn-pynq-z2
#     python examples/digits_sim.py          # also writes build/digits-cnn-pynq-z2/digits-int8.npz
#     vivado -mode batch -source build/digits-cnn-pynq-z2/vivado/build.tcl
#     cp examples/digits_board.py build/digits-cnn-pynq-z2/
#     scp -r build/digits-cnn-pynq-z2 xilinx@pynq:
#
# On the board (the folder's BOARD.md): `pip install --no-deps digits-cnn-pynq-z2/convforge_runtime-*.whl`,
# then `cd digits-cnn-pynq-z2` and `python3 digits_board.py`, or paste the cells into a notebook
# in that folder. `digits-int8.npz` holds the int8 network (drivers.model_file), the 360 held-out
# images and their labels, and the float model's predictions (computed on the PC).

# %%
import argparse
import json
import time
from pathlib import Path

import numpy as np
from pynq import Overlay

import drivers  # noqa: F401  (registers drivers.ConvAccelerator with PYNQ by the IP's VLNV)
from drivers import run_network
from drivers.model_file import load_network

ap = argparse.ArgumentParser(description="The digits-cnn demo on the convforge IP of a PYNQ overlay.")
ap.add_argument("--design", type=Path, default=Path.cwd(),
                help="the deploy folder (design.json, <name>.bit, <name>.hwh, digits-int8.npz; default: here)")
ap.add_argument("--images", type=int, default=None, help="first N held-out images only (default: all)")
ap.add_argument("--json", action="store_true", help="print the figures as JSON at the end")
args, _ = ap.parse_known_args()  # tolerate a notebook kernel's own arguments

design = json.loads((args.design / "design.json").read_text())
qnet, data = load_network(args.design / "digits-int8.npz")
images, labels, float_pred = data["images"], data["labels"], data["float_predictions"]
if args.images is not None:
    images, labels, float_pred = images[:args.images], labels[:args.images], float_pred[:args.images]

# %% Load the bitstream; the block design names the IP's cell conv_accelerator_0
overlay = Overlay(str(args.design / (design["name"] + ".bit")))
accel = overlay.conv_accelerator_0            # a drivers.ConvAccelerator
print(accel.info)                             # build parameters read from the IP's registers

# %% Every image through the int8 numpy reference and through the IP (conv and fc layers on it)
reference, on_ip, cycles, wall = [], [], [], []
for x in images:
    y_ref, _ = run_network(qnet, x)
    t0 = time.perf_counter()
    y, table = run_network(qnet, x, accel, plan=args.design)
    wall.append(time.perf_counter() - t0)
    reference.append(y_ref.reshape(-1))
    on_ip.append(y.reshape(-1))
    cycles.append(sum(r["cycles"] or 0 for r in table if r["runs_on"] == "accelerator"))   # fused: no cycles
reference, on_ip = np.array(reference), np.array(on_ip)
mismatches = int(np.sum(np.any(reference != on_ip, axis=1)))
assert mismatches == 0, f"the IP's int8 outputs differ from the numpy reference on {mismatches} images"

# %% The figures
info = accel.info
result = {
    "images": int(len(images)),
    "float_accuracy": float(np.mean(float_pred == labels)),
    "int8_accuracy": float(np.mean(reference.argmax(axis=1) == labels)),
    "accelerator_accuracy": float(np.mean(on_ip.argmax(axis=1) == labels)),
    "identical_outputs": mismatches == 0,
    "clock_mhz": info.clock_mhz,
    "accelerated_layers": [r["name"] for r in table if r["runs_on"] == "accelerator"],
    "cpu_layers": [r["name"] for r in table if r["runs_on"] == "cpu"],
    "cycles_per_image": int(np.median(cycles)),
    "accelerator_seconds_per_image": float(np.median(cycles)) / (info.clock_mhz * 1e6),
    "wall_seconds_per_image": float(np.mean(wall)),
}
print(f"{result['images']} held-out digits: float {result['float_accuracy']:.4f}, int8 numpy "
      f"{result['int8_accuracy']:.4f}, int8 on the IP {result['accelerator_accuracy']:.4f} (identical outputs); "
      f"{result['cycles_per_image']} cycles = {1e6 * result['accelerator_seconds_per_image']:.1f} us per image on the IP")
if args.json:
    print(json.dumps(result, indent=1))
