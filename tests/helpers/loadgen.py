"""Shared synthetic SUTs, a run driver and log parsers for the LoadGen tests and bench.

One `run_lg(lg, spec, outdir)` drives any module with the `mlperf_loadgen` API (ours or the
official one) from a plain-JSON spec, so the differential tests feed the same SUT to both.
The official module crashes or hangs on several faults and aborts the process on a second
StartTest after some errors, so it always runs in a fresh subprocess: this file is also the
driver script (`python tests/helpers/loadgen.py MODULE < spec.json` prints the result as JSON).

Spec keys (all optional except settings):
  settings: {TestSettings field: value}; "scenario"/"mode" given by enum name.
  qsl: [total_sample_count, performance_sample_count] (default [64, 64]).
  sut: "sync" (complete inside issue_cb), "delay" (each sample completes service_s after it was
       issued, unlimited parallelism), "serial" (one FIFO server, per_sample_s each).
  service_s: float, or a list cycled by the sample's position inside its issue call.
  service_cycle: list of service times cycled by issue call ("delay"; overrides service_s).
  per_sample_s: float for "serial".
  api: "sut" (ConstructSUT), "fast" (ConstructFastSUT), "qdl" (ConstructQDL named "ModelportQDL")
       or "batch" (ours: ConstructBatchSUT).
  respond: "index" -> each response carries the sample index as 4 little-endian bytes; else empty.
  log: {enable_trace, prefix, suffix, prefix_with_datetime} (outdir is always the given folder).
  ids: record the response ids too (for fault tests).
  tokens: n -> token metrics: FirstTokenComplete at first_token_s (0: inside issue_cb), then
       QuerySamplesComplete with n_tokens = n at service_s.
  slow_issue_s: sleep this long inside every issue call (backlogs a Server run, for coalescing).
"""

from __future__ import annotations

import heapq
import importlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

OURS = "modelport.loadgen"
OFFICIAL = "mlperf_loadgen"

# Tests may point the "ours" side at another module (e.g. the official one, to check the
# expectations themselves): LOADGEN_TEST_MODULE=mlperf_loadgen pytest tests/test_loadgen_*.py
UNDER_TEST = os.environ.get("LOADGEN_TEST_MODULE", OURS)


def load_module(name: str = UNDER_TEST):
    return importlib.import_module(name)


def make_settings(lg, settings: dict[str, Any]):
    ts = lg.TestSettings()
    for key, value in settings.items():
        if key == "scenario":
            value = getattr(lg.TestScenario, value)
        elif key == "mode":
            value = getattr(lg.TestMode, value)
        setattr(ts, key, value)
    return ts


def make_log_settings(lg, outdir: str | Path, log: dict[str, Any] | None = None):
    log = dict(log or {})
    ls = lg.LogSettings()
    ls.log_output.outdir = str(outdir)
    ls.enable_trace = bool(log.pop("enable_trace", False))
    for key, value in log.items():
        setattr(ls.log_output, key, value)
    return ls


class Completer:
    """One long-lived thread that completes samples at due times (a heap).

    "delay": due = issue time + service (unbounded parallelism, so latency == service time).
    "serial": one FIFO server, due = max(previous due, issue time) + per_sample_s, so the
    throughput is exactly 1/per_sample_s. Samples due together are completed in one call.
    """

    def __init__(self, complete, mode: str, service, per_sample_s: float):
        self._complete = complete
        self._mode = mode
        self._service = service if isinstance(service, list) else [service]
        self._per_sample = per_sample_s
        self._heap: list[tuple[float, int, Any, int, str]] = []
        self._seq = 0
        self._last_due = 0.0
        self._cv = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def submit(self, ids, indices, service=None, kind: str = "complete") -> None:
        now = time.monotonic()
        with self._cv:
            for pos, (sid, idx) in enumerate(zip(ids, indices, strict=True)):
                if self._mode == "serial":
                    due = max(self._last_due, now) + self._per_sample
                    self._last_due = due
                elif service is not None:
                    due = now + service
                else:
                    due = now + self._service[pos % len(self._service)]
                heapq.heappush(self._heap, (due, self._seq, sid, idx, kind))
                self._seq += 1
            self._cv.notify()

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._stop and not self._heap:
                    self._cv.wait()
                if self._stop:
                    return
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cv.wait(wait)
                    continue
                now = time.monotonic()
                due: dict[str, list] = {}
                while self._heap and self._heap[0][0] <= now:
                    _, _, sid, idx, kind = heapq.heappop(self._heap)
                    due.setdefault(kind, []).append((sid, idx))
            for kind in ("first_token", "complete"):
                if kind in due:
                    self._complete(due[kind], kind)

    def stop(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify()
        self._thread.join()


def run_lg(lg, spec: dict[str, Any], outdir: str | Path) -> dict[str, Any]:
    """Run one StartTest from `spec`; return what the SUT saw plus the log files' text."""
    import numpy as np

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    total, perf = spec.get("qsl", [64, 64])
    api = spec.get("api", "sut")
    sut_kind = spec.get("sut", "sync")
    respond_index = spec.get("respond") == "index"
    record_ids = bool(spec.get("ids"))
    slow_issue = float(spec.get("slow_issue_s", 0.0))
    payload = np.arange(total, dtype="<u4")
    base = payload.ctypes.data

    issued: list[list[int]] = []
    issued_ids: list[list[int]] = []
    loads: list[list[int]] = []
    unloads: list[list[int]] = []
    flushes = [0]
    times = {"first_issue": None, "last_issue_return": None}

    n_tokens = spec.get("tokens")

    def responses(pairs, with_tokens=False):
        extra = (n_tokens,) if with_tokens and n_tokens is not None else ()
        if respond_index:
            return [lg.QuerySampleResponse(sid, base + 4 * idx, 4, *extra) for sid, idx in pairs]
        return [lg.QuerySampleResponse(sid, 0, 0, *extra) for sid, _ in pairs]

    def complete_pairs(pairs, kind: str = "complete") -> None:
        if kind == "first_token":
            lg.FirstTokenComplete(responses(pairs))
        elif api == "batch":
            ids = np.fromiter((p[0] for p in pairs), dtype=np.uint64, count=len(pairs))
            if respond_index:
                idx = np.fromiter((p[1] for p in pairs), dtype=np.uint64, count=len(pairs))
                data = (base + 4 * idx).astype(np.uint64)
                lg.QuerySamplesCompleteBatch(ids, data, np.full(len(pairs), 4, dtype=np.uint64))
            else:
                lg.QuerySamplesCompleteBatch(ids)
        else:
            lg.QuerySamplesComplete(responses(pairs, with_tokens=True))

    completer = None
    if sut_kind in ("delay", "serial"):
        completer = Completer(complete_pairs, sut_kind, spec.get("service_s", 0.0), spec.get("per_sample_s", 0.0))

    def on_issue(ids, indices) -> None:
        if times["first_issue"] is None:
            times["first_issue"] = time.perf_counter()
        issued.append([int(i) for i in indices])
        if record_ids:
            issued_ids.append([int(i) for i in ids])
        if slow_issue:
            time.sleep(slow_issue)
        if n_tokens is not None:
            first = spec.get("first_token_s", 0.0)
            if completer is None or not first:
                complete_pairs(list(zip(ids, indices, strict=True)), "first_token")
            else:
                completer.submit(ids, indices, first, "first_token")
        if completer is None:
            complete_pairs(list(zip(ids, indices, strict=True)))
        else:
            cycle = spec.get("service_cycle")
            completer.submit(ids, indices, None if cycle is None else cycle[(len(issued) - 1) % len(cycle)])
        times["last_issue_return"] = time.perf_counter()

    def issue_sut(qs) -> None:
        on_issue([q.id for q in qs], [q.index for q in qs])

    def issue_fast(ids, indices) -> None:
        on_issue(list(ids), list(indices))

    def flush() -> None:
        flushes[0] += 1

    if api == "sut":
        sut = lg.ConstructSUT(issue_sut, flush)
    elif api == "fast":
        sut = lg.ConstructFastSUT(issue_fast, flush)
    elif api == "qdl":
        sut = lg.ConstructQDL(issue_sut, flush, lambda: "ModelportQDL")
    elif api == "batch":
        sut = lg.ConstructBatchSUT(issue_fast, flush)
    else:
        raise ValueError(f"unknown api {api!r}")
    qsl = lg.ConstructQSL(total, perf, lambda s: loads.append(list(s)), lambda s: unloads.append(list(s)))
    ts = make_settings(lg, spec["settings"])
    ls = make_log_settings(lg, outdir, spec.get("log"))
    error = None
    t0 = time.perf_counter()
    try:
        lg.StartTestWithLogSettings(sut, qsl, ts, ls, spec.get("audit_config", "audit.config"))
    except Exception as exc:  # noqa: BLE001 - reported to the caller as data
        error = f"{type(exc).__name__}: {exc}"
    t1 = time.perf_counter()
    if completer is not None:
        completer.stop()
    lg.DestroyQSL(qsl)
    {"sut": lg.DestroySUT, "fast": lg.DestroyFastSUT, "qdl": lg.DestroyQDL}.get(
        api, getattr(lg, "DestroyBatchSUT", None)
    )(sut)

    prefix = (spec.get("log") or {}).get("prefix", "mlperf_log_")
    suffix = (spec.get("log") or {}).get("suffix", "")

    def read(name: str, ext: str) -> str | None:
        path = outdir / f"{prefix}{name}{suffix}.{ext}"
        return path.read_text() if path.exists() else None

    first, last = times["first_issue"], times["last_issue_return"]
    return {
        "issued": issued,
        "ids": issued_ids,
        "loads": loads,
        "unloads": unloads,
        "flushes": flushes[0],
        "error": error,
        "wall_s": t1 - t0,
        "startup_s": None if first is None else first - t0,
        "teardown_s": None if last is None else t1 - last,
        "summary": read("summary", "txt"),
        "detail": read("detail", "txt"),
        "accuracy": read("accuracy", "json"),
        "trace": read("trace", "json"),
    }


def run_subprocess(module: str, spec: dict[str, Any], outdir: str | Path, timeout: float = 60.0) -> dict[str, Any]:
    """Run `spec` against `module` in a fresh interpreter; the result dict, or raise with its stderr."""
    Path(outdir).mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), module, str(outdir)],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(outdir),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{module} driver exited {proc.returncode}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def run_snippet(module: str, code: str, cwd: str | Path, timeout: float = 30.0) -> Any:
    """Exec `code` with `lg` = the module in a fresh interpreter; it must set `result` (JSON-able)."""
    program = (
        "import json, importlib, sys\n"
        f"lg = importlib.import_module({module!r})\n"
        "ns = {'lg': lg}\n"
        "exec(sys.stdin.read(), ns)\n"
        "print(json.dumps(ns.get('result')))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", program], input=code, capture_output=True, text=True, timeout=timeout, cwd=str(cwd)
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{module} snippet exited {proc.returncode}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---- log parsing -------------------------------------------------------------------------

_MLLOG = ":::MLLOG "


def parse_detail(text: str) -> list[dict[str, Any]]:
    """Every `:::MLLOG {json}` line as a dict (asserts each line is valid JSON)."""
    records = []
    for line in text.splitlines():
        if not line.strip():
            continue
        assert line.startswith(_MLLOG), line
        records.append(json.loads(line[len(_MLLOG) :]))
    return records


def detail_values(text: str) -> dict[str, Any]:
    """key -> value of the last record with that key."""
    return {r["key"]: r["value"] for r in parse_detail(text)}


def detail_errors(text: str) -> list[dict[str, Any]]:
    return [r for r in parse_detail(text) if r["metadata"]["is_error"]]


_SUMMARY_KV = re.compile(r"^\s*([^:*][^:]*?)\s*:\s*(.*?)\s*$")


def parse_summary(text: str) -> dict[str, str]:
    """'Key : value' lines of the summary (first occurrence wins), whitespace-normalised keys."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = _SUMMARY_KV.match(line)
        if m and not line.startswith("="):
            out.setdefault(" ".join(m.group(1).split()), m.group(2))
    return out


def detail_keys(detail: str) -> list[str]:
    """The detail log's keys in order, without warnings: those depend on each implementation's
    logging internals (the official one warns about its own buffer allocations)."""
    return [r["key"] for r in parse_detail(detail) if not r["metadata"]["is_warning"]]


def summary_shape(summary: str) -> list[str]:
    """The summary with every number replaced and the warning count line normalised: the shape
    two LoadGens must share on the same run."""
    shape = []
    for line in summary.split("\n"):
        if re.fullmatch(
            r"(No warnings encountered during test\.|\d+ warnings? encountered\. See detailed log\.)", line
        ):
            line = "<warnings>"
        shape.append(re.sub(r"\d+(\.\d+)?(e[+-]\d+)?", "<n>", line))
    return shape


if __name__ == "__main__":
    _module, _outdir = sys.argv[1], sys.argv[2]
    _spec = json.loads(sys.stdin.read())
    _result = run_lg(importlib.import_module(_module), _spec, _outdir)
    sys.stdout.write(json.dumps(_result))
