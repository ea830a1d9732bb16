"""Timings of the opsets library: schema index, show/diff (cold and cached), check and convert on zoo exports.

Run: python bench/opsets.py [--models resnet50,bert-small]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def timed(fn, repeat: int = 1) -> float:
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def _model_rows(name: str, d: Path) -> list[tuple[str, float]]:
    import onnx
    from helpers.opsets import export_zoo

    from modelport.converters.opset_convert import convert_opset as convert
    from modelport.opsets import check_model

    p = export_zoo(name, d / f"{name}.onnx", opset=13)
    n_nodes = len(onnx.load(str(p), load_external_data=False).graph.node)
    return [
        (f"check {name} ({n_nodes} nodes), schema only", timed(lambda: check_model(p, confirm=False), 3)),
        (f"check {name}, confirmed by onnx.checker", timed(lambda: check_model(p), 3)),
        (f"convert {name} 13->18 incl. checker+ORT+compare", timed(lambda: convert(p, 18, d / "out.onnx"))),
        (f"convert {name} 13->18, no compare", timed(lambda: convert(p, 18, None, compare=False))),
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="resnet50,bert-small")
    args = ap.parse_args()

    from modelport.opsets import diff, op_history
    from modelport.opsets import schemas as sx
    from modelport.opsets.history import _history

    rows = []
    rows.append(("schema index (cold)", timed(lambda: sx._index())))
    all_ops = sx.ops("")
    rows.append((f"op_history x{len(all_ops)} (cold)", timed(lambda: [op_history(o) for o in all_ops])))
    rows.append((f"op_history x{len(all_ops)} (cached)", timed(lambda: [op_history(o) for o in all_ops], 5)))
    _history.cache_clear()
    rows.append(("diff 1 28 (cold history)", timed(lambda: diff(1, 28))))
    rows.append(("diff 17 18 (cached)", timed(lambda: diff(17, 18), 5)))

    with tempfile.TemporaryDirectory() as d:
        for name in args.models.split(","):
            rows += _model_rows(name, Path(d))

    width = max(len(r[0]) for r in rows)
    for label, secs in rows:
        print(f"{label:<{width}}  {secs * 1000:9.1f} ms")


if __name__ == "__main__":
    main()
