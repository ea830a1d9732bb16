"""The files of an MLPerf submission tree, from benched run directories (docs/decisions.md, "Submission: the tree
and --dry-run").

``<division>/<submitter>/`` holds ``systems/<system>.json``, ``src/`` and, per benchmark and scenario,
``results/<system>/<benchmark>/<scenario>/`` with ``performance/run_1/``, ``accuracy/`` (the accuracy log
truncated to its first and last 4 KiB once over 10 KiB, its sha256 as a ``hash=`` line in accuracy.txt, as
MLPerf's truncate_accuracy_log.py does), ``TEST01/``, ``TEST04/``, ``measurements.json``, ``user.conf`` and
``README.md``.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
from pathlib import Path
from typing import Any

from modelport.benchmarks.mlperf_logs import ACCURACY, DETAIL, SUMMARY
from modelport.benchmarks.results import BenchResults, Cell
from modelport.benchmarks.store import log_folder
from modelport.benchmarks.submission import PlannedRun, SubmissionMeta
from modelport.environment import machine_info, package_versions

MAX_ACCURACY_LOG = 10 * 1024
VIEWABLE = 4096
#: files of a compliance folder that are not part of the submission (our latencies, the empty trace, the audit)
_NOT_SUBMITTED = shutil.ignore_patterns("*.npy", "mlperf_log_trace.json", "audit.config")
DRY_RUN_NOTE = ("**NOT A VALID SUBMISSION**: written by `modelport submission --dry-run` (short runs, generated "
                "samples) to try the flow; rerun without --dry-run for a submission.")


def write_system(root: Path, meta: SubmissionMeta, results: list[BenchResults]) -> Path:
    """``systems/<system>.json``: the machine as modelport sees it, then the user's --system-json on top."""
    machine, versions = machine_info(), package_versions()
    system: dict[str, Any] = {
        "division": meta.division, "submitter": meta.submitter, "system_type": meta.system_type,
        "system_name": meta.system, "status": "RDI" if meta.dry_run else "available", "number_of_nodes": 1,
        "host_processor_model_name": machine["cpu_model"], "host_processors_per_node": 1,
        "host_processor_core_count": machine["usable_cores"], "host_memory_capacity": _memory(),
        "accelerators_per_node": 0, "accelerator_model_name": "N/A",
        "framework": f"onnxruntime {versions.get('onnxruntime')}, torch {versions.get('torch')}",
        "operating_system": platform.platform(),
        "other_software_stack": f"modelport {versions.get('modelport')}, python {versions.get('python')}",
        "sw_notes": "LoadGen: " + ", ".join(sorted({f"{r.loadgen.get('module')} {r.loadgen.get('version')}"
                                                   for r in results})),
    }
    system.update(_described_fields(system))
    system.update(meta.system_json)
    path = root / "systems" / f"{meta.system}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(system, indent=2) + "\n")
    return path


#: the fields MLPerf's checker requires that modelport cannot see; "" until --system-json fills them (the
#: checker names each one); accelerator fields are "N/A" on a CPU-only system (docs/decisions.md, "Submission:
#: the official checker")
_ASK_USER = ("host_memory_configuration", "host_storage_type", "host_networking", "cooling",
             "host_processor_interconnect", "hw_notes", "system_type_detail")
_NO_ACCELERATOR = ("accelerator_memory_capacity", "accelerator_host_interconnect", "accelerator_interconnect",
                   "accelerator_interconnect_topology", "accelerator_memory_configuration", "accelerator_frequency",
                   "accelerator_on-chip_memories")


def _described_fields(system: dict[str, Any]) -> dict[str, Any]:
    """Every other field the checker requires: measured here where the machine tells, else left to the user."""
    fields: dict[str, Any] = dict.fromkeys(_ASK_USER, "")
    fields.update(dict.fromkeys(_NO_ACCELERATOR, "N/A"))
    fields["accelerators_per_node"] = "0"  # the checker reads a bare 0 as an empty answer
    fields["host_storage_capacity"] = f"{shutil.disk_usage('/').total / 1e9:.0f} GB"
    fields["host_networking_topology"] = "N/A (single node)" if system.get("number_of_nodes") == 1 else ""
    fields["host_network_card_count"] = str(len([n for n in _listdir("/sys/class/net") if n != "lo"]))
    fields["host_processor_frequency"] = _cpu_mhz()
    fields["host_processor_caches"] = ", ".join(_caches())
    return fields


def _listdir(path: str) -> list[str]:
    try:
        return sorted(p.name for p in Path(path).iterdir())
    except OSError:
        return []


def _cpu_mhz() -> str:
    try:
        mhz = [float(line.split(":")[1]) for line in Path("/proc/cpuinfo").read_text().splitlines()
               if line.startswith("cpu MHz")]
    except (OSError, ValueError, IndexError):
        return ""
    return f"{max(mhz):.0f} MHz" if mhz else ""


def _caches() -> list[str]:
    out = []
    for index in _listdir("/sys/devices/system/cpu/cpu0/cache"):
        folder = Path("/sys/devices/system/cpu/cpu0/cache") / index
        try:
            level, kind = (folder / "level").read_text().strip(), (folder / "type").read_text().strip()
            out.append(f"L{level} {kind.lower()} {(folder / 'size').read_text().strip()}")
        except OSError:
            continue
    return out


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.0f} GB"
    except OSError:
        pass
    return "unknown"


def write_src(root: Path, meta: SubmissionMeta, command: str) -> None:
    src = root / "src"
    src.mkdir(parents=True, exist_ok=True)
    versions = package_versions()
    lines = ["# Source", "", f"Results produced by modelport {versions.get('modelport')} "
             "(its benchmarks package drives the official LoadGen).", "", "```", command, "```", ""]
    if meta.dry_run:
        lines[1:1] = ["", DRY_RUN_NOTE]
    (src / "README.md").write_text("\n".join(lines))


def write_scenario(root: Path, meta: SubmissionMeta, run: PlannedRun, results: BenchResults, scenario: str,
                   command: str) -> Path:
    """One ``results/<system>/<benchmark>/<scenario>/`` folder from the submitted artifact's cell."""
    cell = results.cells[run.artifact.id][scenario]
    folder = root / "results" / meta.system / run.benchmark / scenario
    logs = log_folder(run.run_dir, cell.log_dir)
    cell_dir = logs.parent
    perf = folder / "performance" / "run_1"
    perf.mkdir(parents=True)
    for name in (SUMMARY, DETAIL):
        shutil.copy2(logs / name, perf / name)
    _accuracy(folder / "accuracy", run, cell)
    for test in cell.compliance:
        shutil.copytree(cell_dir / test, folder / test, ignore=_NOT_SUBMITTED)
    (folder / "measurements.json").write_text(json.dumps(_measurements(run, results), indent=2) + "\n")
    (folder / "user.conf").write_text(_user_conf(run.benchmark, scenario, cell))
    (folder / "README.md").write_text(_readme(meta, run, scenario, cell, command))
    return folder


def _accuracy(folder: Path, run: PlannedRun, cell: Cell) -> None:
    acc = cell.accuracy
    if acc is None or not acc.log_dir:
        return
    folder.mkdir(parents=True)
    src = log_folder(run.run_dir, acc.log_dir)
    for name in (ACCURACY, DETAIL, SUMMARY):
        if (src / name).is_file():
            shutil.copy2(src / name, folder / name)
    log = folder / ACCURACY
    digest = hashlib.sha256(log.read_bytes()).hexdigest()
    # with --dataset, the reference accuracy script's line (dataset_accuracy wrote it beside the log) comes first
    scored = src / "accuracy.txt"
    lines = scored.read_text().splitlines() if scored.is_file() else []
    lines.append(f"agreement with the eager model = {acc.agreement:.6f} ({acc.method}, n={acc.samples})")
    if acc.task_metric:
        lines.append(f"task metric = {json.dumps(acc.task_metric, sort_keys=True)}")
    lines.append(f"hash={digest}")
    (folder / "accuracy.txt").write_text("\n".join(lines) + "\n")
    data = log.read_bytes()
    if len(data) >= MAX_ACCURACY_LOG:
        log.write_bytes(data[:VIEWABLE] + b"\n\n...\n\n" + data[-VIEWABLE:])


def _measurements(run: PlannedRun, results: BenchResults) -> dict[str, Any]:
    art = run.artifact
    precision = art.extra.get("precision") or "fp32"
    inputs = sorted({s.dtype for s in run.manifest.inputs})
    how = f"exported by modelport to {art.target}" + (f" opset {art.opset}" if art.opset else "")
    if art.extra.get("optimize"):
        how += f", onnxruntime optimization {art.extra['optimize']}"
    return {"starting_weights_filename": run.manifest.source.spec, "retraining": "no",
            "input_data_types": ", ".join(inputs), "weight_data_types": precision,
            "weight_transformations": how, "artifact": art.id, "loadgen": results.loadgen}


def _user_conf(benchmark: str, scenario: str, cell: Cell) -> str:
    """The settings this run gave LoadGen beyond mlperf.conf, as user.conf lines (CellSettings' recorded ones)."""
    st = cell.settings
    values: dict[str, Any] = {"min_duration": st.get("min_duration_ms"), "min_query_count": st.get("min_query_count"),
                              "target_qps": st.get("offline_expected_qps") or st.get("server_target_qps")}
    if st.get("expected_latency_ns"):  # SingleStream / MultiStream: user.conf gives it in ms
        values["target_latency"] = round(st["expected_latency_ns"] / 1e6, 6)
    return "".join(f"{benchmark}.{scenario}.{k} = {v:g}\n" if isinstance(v, float) else
                   f"{benchmark}.{scenario}.{k} = {v}\n" for k, v in values.items() if v is not None)


def _readme(meta: SubmissionMeta, run: PlannedRun, scenario: str, cell: Cell, command: str) -> str:
    lines = [f"# {run.benchmark} {scenario} on {meta.system}", ""]
    if meta.dry_run:
        lines += [DRY_RUN_NOTE, ""]
    verdicts = ", ".join(f"{t} {'passed' if v.get('passed') else 'FAILED'}"
                         + (" (MLPerf's verification scripts)" if v.get("verifier") == "mlperf" else "")
                         for t, v in cell.compliance.items())
    lines += [f"Artifact `{run.artifact.id}` ({run.artifact.path}) of {run.manifest.source.spec}, benched with the "
              f"official LoadGen: result {cell.validity}; compliance: {verdicts or 'not run'}.", "",
              "Reproduce:", "", "```", command, "```", ""]
    return "\n".join(lines)
