#!/usr/bin/env bash
# GPU check of the torch backends, for a lent accelerator machine (not run in CI).
# Builds modelport there without its pinned dependencies (the machine has its own torch), converts ResNet-50,
# validates the CUDA runners against the CPU eager model, and benchmarks the torch backends with --device cuda.
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/modelport-gpu-check}
mkdir -p "$OUT"
nvidia-smi -L
python3 -c "import torch, onnxruntime as ort; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'ort', ort.__version__, ort.get_available_providers())"
python3 -m pip install -q --no-build-isolation --no-deps -e . > "$OUT/pip.log" 2>&1 || { tail -20 "$OUT/pip.log"; exit 1; }
python3 -c "import modelport.loadgen as lg; print('loadgen', lg.LOADGEN_VERSION)"
time python3 -m modelport.cli convert zoo:resnet50 --to torchscript --to pt2 --to onnx --opset 17 --out /tmp/r50 --quiet \
  || exit 1
python3 - <<'PY' | tee "$OUT/cuda_vs_cpu.txt"
import time
import numpy as np
import torch
from modelport.manifest import load_manifest
from modelport.sources import reload_source
from modelport.runners import RunnerOptions, load_runner
from modelport.runners.torch_runners import TorchModuleRunner
from modelport.spec import make_inputs
from modelport.validators import compare_arrays

m = load_manifest("/tmp/r50")
names = [s.name for s in m.inputs]
cpu = TorchModuleRunner(reload_source(m.source, seed=m.seed), names, m.output_names)
feeds = [make_inputs(m.inputs, seed=s, batch=b, sign=g) for s, b, g in ((0, 2, 1), (1, 8, -1))]
refs = [cpu.infer(f) for f in feeds]
gpu_opts = RunnerOptions(device="cuda")
runners = {"eager": TorchModuleRunner(reload_source(m.source, seed=m.seed), names, m.output_names, gpu_opts)}
for a in m.artifacts:
    if a.target in ("torchscript", "pt2"):
        runners[a.id] = load_runner(a.target, f"/tmp/r50/{a.path}", names, m.output_names, gpu_opts)
for rid, r in runners.items():
    for f, ref in zip(feeds, refs):
        out = r.infer(f)
        for name in m.output_names:
            c = compare_arrays(name, ref[name], out[name], atol=1e-2, rtol=1e-3)
            agree = float(np.mean(ref[name].argmax(-1) == out[name].argmax(-1)))
            print(f"{rid:14s} batch {f[names[0]].shape[0]}: max abs {c.max_abs:.2e} top1 agreement {agree:.3f}")
    f = make_inputs(m.inputs, seed=0, batch=32)
    for _ in range(3):
        r.infer(f)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(10):
        r.infer(f)
    torch.cuda.synchronize()
    print(f"{rid:14s} batch 32 on {torch.cuda.get_device_name()}: {(time.perf_counter() - t0) / 10 * 1e3:.2f} ms")
PY
time python3 -m modelport.cli bench /tmp/r50 --device cuda --profile quick --artifact torchscript --artifact pt2 \
  --quiet --json > "$OUT/bench.json" 2> "$OUT/bench.err"
echo "bench exit $?"; tail -3 "$OUT/bench.err"
cp /tmp/r50/report.md "$OUT/report.md" 2>/dev/null
python3 - <<'PY'
import json, os
r = json.load(open(os.environ.get("OUT", "/tmp/modelport-gpu-check") + "/bench.json"))
print(json.dumps(r.get("summary", r), indent=1, default=str)[:3000])
PY
