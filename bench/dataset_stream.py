"""Peak memory of preparing an ImageNet-layout data set, streamed (what ``--dataset imagenet=`` does) vs held in
memory (the loader's rows stacked, as before), and of a QSL loading 64 samples of the written .npz,
memory-mapped (now) vs each member read whole (before).

    .venv/bin/python bench/dataset_stream.py [--images 1000] [--size 224]

Each mode runs in a fresh process (peak RSS is per process); the images are seeded 100x80 JPEGs written to a
temporary folder, preprocessed at the model input size (224: 600 KB of float32 per image). See
docs/decisions.md, "Data sets: streamed to disk, memory-mapped by the QSL".
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _child(mode: str, folder: Path, size: int) -> dict[str, float]:
    from modelport.benchmarks import qsl as qsl_module
    from modelport.benchmarks.dataset_accuracy import write_samples
    from modelport.datasets import load_dataset
    from modelport.spec import InputSpec

    spec = InputSpec("input", (1, 3, size, size), "float32", -1, 1, {0: "batch"})
    target = folder.parent / "samples.npz"
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    if mode.startswith("qsl"):  # 64 samples of the written file, memory-mapped or (as before) read whole
        if mode == "qsl-whole":
            qsl_module.mapped_npz = lambda path: None
        qsl = qsl_module.SampleLibrary([spec], 10**9, 64, npz_path=target)
        qsl.load(list(range(0, qsl.total, max(1, qsl.total // 64)))[:64])
    else:
        data = load_dataset("imagenet", folder, [spec])
        write_samples(data.samples if mode == "streamed" else data.arrays(), target)
    return {"peak_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024,
            "npz_mb": target.stat().st_size / 2**20, "s": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--child", nargs=2, metavar=("MODE", "FOLDER"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child(args.child[0], Path(args.child[1]), args.size)))
        return
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "imagenet"
        folder.mkdir()
        rng = np.random.default_rng(0)
        for i in range(args.images):
            Image.fromarray(rng.integers(0, 255, (80, 100, 3), dtype=np.uint8)).save(folder / f"v{i}.JPEG")
        (folder / "val_map.txt").write_text("".join(f"v{i}.JPEG {i % 1000}\n" for i in range(args.images)))
        print(f"{args.images} images at {args.size}: {args.images * 3 * args.size**2 * 4 / 2**20:.0f} MB of float32")
        for mode in ("in-memory", "streamed", "qsl-whole", "qsl-mapped"):
            out = subprocess.run([sys.executable, __file__, "--size", str(args.size), "--child", mode, str(folder)],
                                 capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            what = "loading 64 samples" if mode.startswith("qsl") else "preparing the .npz"
            print(f"{mode:>10}: {what}: peak RSS +{r['peak_mb']:.0f} MB, {r['s']:.1f} s (npz {r['npz_mb']:.0f} MB)")


if __name__ == "__main__":
    main()
