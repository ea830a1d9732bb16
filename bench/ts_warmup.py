"""The first calls of a TorchScript artifact at each batch size, in milliseconds: how long the bench's warm-up
must last for the profiling executor (docs/decisions.md, "TorchScript: a warm-up until the profiling executor
settles"). Converts ``zoo:MODEL --to torchscript`` into ``--work`` (reused when there), then calls the artifact
``--calls`` times at each batch size in the order given, printing every call's time. Not part of CI:

    python bench/ts_warmup.py [--model rnnt-small] [--batches 1,2,4,1] [--calls 12] [--threads 1] [--work DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="rnnt-small")
    ap.add_argument("--batches", default="1,2,4,1")
    ap.add_argument("--calls", type=int, default=12)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--work", type=Path)
    a = ap.parse_args()
    run = (a.work or Path(tempfile.mkdtemp(prefix="modelport-ts-warmup-"))) / a.model
    if not (run / "manifest.json").is_file():
        exe = Path(sys.executable).with_name("modelport")
        subprocess.run([str(exe), "convert", f"zoo:{a.model}", "--to", "torchscript", "--no-validate", "--out",
                        str(run), "--quiet"], check=True)
    from modelport.manifest import load_manifest
    from modelport.runners import RunnerOptions, load_runner
    from modelport.spec import make_inputs

    m = load_manifest(run)
    runner = load_runner("torchscript", run / "model.ts", [s.name for s in m.inputs], m.output_names,
                         RunnerOptions(threads=a.threads))
    print(f"{a.model} TorchScript ({a.threads} thread(s)), load average {open('/proc/loadavg').read().split()[:3]}")
    for b in (int(x) for x in a.batches.split(",")):
        feed = make_inputs(m.inputs, 1, batch=b)
        times = []
        for _ in range(a.calls):
            t = time.perf_counter()
            runner.infer(feed)
            times.append((time.perf_counter() - t) * 1e3)
        print(f"  batch {b:<3} " + " ".join(f"{x:.1f}" for x in times), flush=True)


if __name__ == "__main__":
    main()
