"""Greedy generation with modelport's exported components against the eager model's own ``generate``.

For a small gpt2 and llama (4 layers, hidden 128, vocabulary 1000, seeded, saved with save_pretrained; no
download), converted with ``modelport convert --task text-generation-with-past --to onnx`` and ``--task
text-generation``, it times greedy generation of N new tokens for one prompt (batch 1), median of repeats:

- eager: ``model.generate(do_sample=False, num_beams=1, max_new_tokens=N)`` in torch (with its KV cache), the
  peer a user has before exporting;
- onnx with past: ``decoder_model`` then ``decoder_with_past_model`` in onnxruntime through modelport's greedy
  loop (``sources.hf_greedy``);
- onnx without past: the single ``model`` graph re-reading the whole sequence every step.

It prints tokens/s and the ratios to eager, checks that all three produce the same tokens, and gives the convert
time (with validation). Not part of CI; run on a quiet machine:

    python bench/hf_generative.py [--new-tokens 32] [--prompt 16] [--repeat 5] [--threads 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np


def _models() -> dict[str, Any]:
    import transformers as tf

    common = {"vocab_size": 1000, "bos_token_id": 1, "eos_token_id": 2}
    return {"gpt2": tf.GPT2LMHeadModel(tf.GPT2Config(n_embd=128, n_layer=4, n_head=4, n_positions=256, **common)),
            "llama": tf.LlamaForCausalLM(tf.LlamaConfig(hidden_size=128, intermediate_size=256, num_hidden_layers=4,
                                                        num_attention_heads=4, num_key_value_heads=2,
                                                        max_position_embeddings=256, **common))}


def _convert(src: Path, out: Path, task: str) -> float:
    from modelport.cli import main

    t0 = time.perf_counter()
    try:
        main(["convert", str(src), "--task", task, "--to", "onnx", "--out", str(out), "--quiet"])
    except SystemExit as e:
        if e.code:
            raise RuntimeError(f"convert of {src} for {task} exited {e.code}") from None
    return time.perf_counter() - t0


def _median_time(fn: Any, repeat: int) -> tuple[float, Any]:
    fn()  # warm-up
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def _onnx_generate(run_dir: Path, threads: int):  # -> (generate function, close)
    from modelport.manifest import load_manifest
    from modelport.runners import RunnerOptions
    from modelport.validators.generation import ComponentRunners

    manifest = load_manifest(run_dir)
    art = manifest.artifacts[0]
    runners = ComponentRunners(run_dir, art, RunnerOptions(threads=threads))
    return manifest.settings["generation"], runners


def bench_one(name: str, model: Any, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from modelport.sources.hf_generative import prompt_inputs
    from modelport.sources.hf_greedy import eager_generate, greedy

    torch.manual_seed(0)
    model.eval()
    src = root / name
    model.save_pretrained(str(src))
    row: dict[str, Any] = {"model": name}
    runs = {}
    for task in ("text-generation-with-past", "text-generation"):
        runs[task] = root / f"{name}-{task}"
        row[f"convert_s[{task}]"] = round(_convert(src, runs[task], task), 2)
    plan_past, past = _onnx_generate(runs["text-generation-with-past"], args.threads)
    plan_nopast, nopast = _onnx_generate(runs["text-generation"], args.threads)
    prompt = prompt_inputs(model, 1, args.prompt, seed=0)
    n = args.new_tokens
    t_eager, tok_eager = _median_time(lambda: eager_generate(model, plan_past, prompt, n), args.repeat)
    t_past, g_past = _median_time(lambda: greedy(plan_past, past.run, past.outputs, prompt, n), args.repeat)
    t_nopast, g_nopast = _median_time(lambda: greedy(plan_nopast, nopast.run, nopast.outputs, prompt, n), args.repeat)
    past.close()
    nopast.close()
    tokens = tok_eager.shape[1]
    row.update({"new_tokens": tokens, "eager_tokens_per_s": round(tokens / t_eager, 1),
                "onnx_past_tokens_per_s": round(tokens / t_past, 1),
                "onnx_nopast_tokens_per_s": round(tokens / t_nopast, 1),
                "onnx_past_vs_eager": round(t_eager / t_past, 2), "onnx_nopast_vs_eager": round(t_eager / t_nopast, 2),
                "onnx_ttft_ms": round(g_past.first_token_s * 1e3, 2),
                "onnx_tpot_ms": round(float(np.mean(g_past.step_s)) * 1e3, 2) if g_past.step_s else None,
                "same_tokens": bool(np.array_equal(tok_eager, g_past.tokens) and
                                    np.array_equal(tok_eager, g_nopast.tokens))})
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--prompt", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    import torch

    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory(prefix="modelport-bench-gen-") as tmp:
        for name, model in _models().items():
            rows.append(bench_one(name, model, Path(tmp), args))
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        print()
        return
    for r in rows:
        print(f"{r['model']}: {r['new_tokens']} tokens; eager generate {r['eager_tokens_per_s']} tok/s, ONNX with "
              f"past {r['onnx_past_tokens_per_s']} tok/s ({r['onnx_past_vs_eager']}x), ONNX without past "
              f"{r['onnx_nopast_tokens_per_s']} tok/s ({r['onnx_nopast_vs_eager']}x); ONNX TTFT {r['onnx_ttft_ms']} "
              f"ms, TPOT {r['onnx_tpot_ms']} ms; same tokens: {r['same_tokens']}; convert "
              f"{r['convert_s[text-generation-with-past]']} s (with past), {r['convert_s[text-generation]']} s")


if __name__ == "__main__":
    main()
