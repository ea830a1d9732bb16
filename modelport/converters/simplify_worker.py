"""Run onnxsim on one file, in its own process: ``python -m modelport.converters.simplify_worker IN OUT``.

onnxsim is native code that can crash or hang on some graphs (docs/decisions.md, "onnxsim: optional, isolated,
revalidated"); running it in a subprocess with a timeout keeps a crash from taking ``modelport convert`` down
with it. Prints one JSON line (node counts) on success; exits non-zero with the reason on stderr otherwise.
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: python -m modelport.converters.simplify_worker IN.onnx OUT.onnx\n")
        return 2
    src, dest = argv
    import onnx
    import onnxsim

    model = onnx.load(src)
    before = len(model.graph.node)
    # check_n=0: modelport compares the result against the eager model itself, on its own input sets
    simplified, ok = onnxsim.simplify(model, check_n=0)
    if not ok:
        sys.stderr.write("onnxsim reported that its output may differ from its input\n")
        return 1
    onnx.save(simplified, dest)
    sys.stdout.write(json.dumps({"nodes_before": before, "nodes_after": len(simplified.graph.node)}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
