"""Train the digits-cnn demo network on scikit-learn's 8x8 digits with plain numpy.

    python examples/digits_train.py [--epochs 40] [--seed 0] [--out examples/digits_model.npz]

The network (``dse.networks.get_network("digits-cnn")``): conv 1->8 3x3 pad 1 + ReLU, max-pool 2,
conv 8->16 3x3 pad 1 + ReLU, max-pool 2, FC 64->10, trained with softmax cross-entropy and Adam
(mini-batches of 32, learning rate 0.01 decayed by half every 10 epochs, no weight decay) on the
training part of the fixed split of examples/digits_common.py. He-initialised from ``--seed``;
the batch order comes from the same seed, so a run is reproducible on one machine (BLAS may
change the last bits elsewhere). Writes float32 weights and the run's metadata (seed, epochs,
float train/held-out accuracy) to ``examples/digits_model.npz`` (about 8 KB).

Everything here is float64 numpy: the forward pass matches ``drivers.float_forward`` (checked by
tests/test_digits_demo.py), the backward pass is the textbook one (max-pool routes the gradient
to the first maximum of each window), checked against finite differences by the same test.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from digits_common import MODEL_PATH, load_split, save_weights  # noqa: E402

__all__ = ["init_params", "forward", "loss_and_grads", "train", "predict", "to_network_weights", "main"]

# (name, shape) of the parameters; conv weights [M, C, K, K], fc [M, N] with N in C-major order.
SHAPES = {
    "conv1.weight": (8, 1, 3, 3), "conv1.bias": (8,),
    "conv2.weight": (16, 8, 3, 3), "conv2.bias": (16,),
    "fc.weight": (10, 64), "fc.bias": (10,),
}


def init_params(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """He-normal weights, zero biases."""
    params = {}
    for name, shape in SHAPES.items():
        if name.endswith(".bias"):
            params[name] = np.zeros(shape)
        else:
            fan_in = int(np.prod(shape[1:]))
            params[name] = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)
    return params


# ----- layers (batched: x [N, C, H, W]) ------------------------------------------------------------

def _conv(x, w, b):
    """3x3 (any K) stride-1 'same' convolution (correlation, as sim.reference) plus bias."""
    k = w.shape[2]
    p = k // 2
    n, _, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    out = np.zeros((n, w.shape[0], h, wd))
    for u in range(k):
        for v in range(k):
            out += np.einsum("nchw,mc->nmhw", xp[:, :, u:u + h, v:v + wd], w[:, :, u, v], optimize=True)
    return out + b[None, :, None, None]


def _conv_backward(x, w, dy):
    """Gradients of :func:`_conv` with respect to ``x``, ``w`` and ``b``."""
    k = w.shape[2]
    p = k // 2
    n, _, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for u in range(k):
        for v in range(k):
            dw[:, :, u, v] = np.einsum("nmhw,nchw->mc", dy, xp[:, :, u:u + h, v:v + wd], optimize=True)
            dxp[:, :, u:u + h, v:v + wd] += np.einsum("nmhw,mc->nchw", dy, w[:, :, u, v], optimize=True)
    return dxp[:, :, p:p + h, p:p + wd], dw, dy.sum(axis=(0, 2, 3))


def _maxpool2(x):
    """2x2 stride-2 max-pooling; returns the output and the one-hot mask of the first maximum."""
    n, c, h, w = x.shape
    win = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, w // 2, 4)
    arg = win.argmax(axis=-1)
    mask = np.zeros_like(win)
    np.put_along_axis(mask, arg[..., None], 1.0, axis=-1)
    return np.take_along_axis(win, arg[..., None], axis=-1)[..., 0], mask


def _maxpool2_backward(dy, mask):
    n, c, h2, w2, _ = mask.shape
    d = mask * dy[..., None]
    return d.reshape(n, c, h2, w2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, 2 * h2, 2 * w2)


def forward(params, x, keep: bool = False):
    """Logits ``[N, 10]`` (and, with ``keep``, the intermediate values the backward pass needs)."""
    z1 = _conv(x, params["conv1.weight"], params["conv1.bias"])
    a1 = np.maximum(z1, 0.0)
    p1, m1 = _maxpool2(a1)
    z2 = _conv(p1, params["conv2.weight"], params["conv2.bias"])
    a2 = np.maximum(z2, 0.0)
    p2, m2 = _maxpool2(a2)
    f = p2.reshape(len(x), -1)  # C-major flatten of [16, 2, 2], as drivers.ops.flatten
    logits = f @ params["fc.weight"].T + params["fc.bias"]
    if keep:
        return logits, dict(x=x, z1=z1, p1=p1, m1=m1, z2=z2, p2=p2, m2=m2, f=f)
    return logits


def loss_and_grads(params, x, labels):
    """Mean softmax cross-entropy over the batch and its gradient for every parameter."""
    logits, c = forward(params, x, keep=True)
    z = logits - logits.max(axis=1, keepdims=True)
    prob = np.exp(z)
    prob /= prob.sum(axis=1, keepdims=True)
    n = len(x)
    loss = -np.log(prob[np.arange(n), labels]).mean()
    dlogits = prob
    dlogits[np.arange(n), labels] -= 1.0
    dlogits /= n
    g = {"fc.weight": dlogits.T @ c["f"], "fc.bias": dlogits.sum(axis=0)}
    dp2 = (dlogits @ params["fc.weight"]).reshape(c["p2"].shape)
    dz2 = _maxpool2_backward(dp2, c["m2"]) * (c["z2"] > 0)
    dp1, g["conv2.weight"], g["conv2.bias"] = _conv_backward(c["p1"], params["conv2.weight"], dz2)
    dz1 = _maxpool2_backward(dp1, c["m1"]) * (c["z1"] > 0)
    _, g["conv1.weight"], g["conv1.bias"] = _conv_backward(c["x"], params["conv1.weight"], dz1)
    return loss, g


def predict(params, x) -> np.ndarray:
    return forward(params, x).argmax(axis=1)


def train(x, y, epochs: int = 40, seed: int = 0, batch: int = 32, lr: float = 0.01, log=None) -> dict:
    """Adam (beta 0.9/0.999, eps 1e-8) on mini-batches; the learning rate halves every 10 epochs."""
    rng = np.random.default_rng(seed)
    params = init_params(rng)
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    step = 0
    for epoch in range(epochs):
        rate = lr * 0.5 ** (epoch // 10)
        order = rng.permutation(len(x))
        total = 0.0
        for start in range(0, len(x), batch):
            idx = order[start:start + batch]
            loss, grads = loss_and_grads(params, x[idx], y[idx])
            total += loss * len(idx)
            step += 1
            for k in params:
                m[k] = 0.9 * m[k] + 0.1 * grads[k]
                v[k] = 0.999 * v[k] + 0.001 * grads[k] ** 2
                mhat = m[k] / (1 - 0.9 ** step)
                vhat = v[k] / (1 - 0.999 ** step)
                params[k] -= rate * mhat / (np.sqrt(vhat) + 1e-8)
        if log is not None:
            log(f"epoch {epoch + 1:3d}: loss {total / len(x):.4f}, train accuracy {np.mean(predict(params, x) == y):.4f}")
    return params


def to_network_weights(params) -> dict:
    """``{layer: {"weight", "bias"}}`` (the form of ``Network.weights``)."""
    return {name: {"weight": params[f"{name}.weight"], "bias": params[f"{name}.bias"]} for name in ("conv1", "conv2", "fc")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=40, help="training epochs (default 40)")
    ap.add_argument("--seed", type=int, default=0, help="initialisation and batch-order seed (default 0)")
    ap.add_argument("--out", type=Path, default=MODEL_PATH, help=f"output file (default {MODEL_PATH.name} next to this script)")
    args = ap.parse_args(argv)
    x_train, y_train, x_test, y_test = load_split()
    print(f"sklearn digits: {len(x_train)} training, {len(x_test)} held-out images of 8x8")
    t0 = time.time()
    params = train(x_train, y_train, args.epochs, args.seed, log=print)
    train_acc = float(np.mean(predict(params, x_train) == y_train))
    test_acc = float(np.mean(predict(params, x_test) == y_test))
    print(f"trained in {time.time() - t0:.1f} s: float accuracy {train_acc:.4f} (training), {test_acc:.4f} (held-out)")
    save_weights(to_network_weights(params), args.out, seed=args.seed, epochs=args.epochs,
                 train_accuracy=train_acc, test_accuracy=test_acc)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
