"""``--dataset NAME=PATH``: bench on a data set's samples and score every accuracy run with its task metric
(docs/decisions.md, "Data sets: the reference layouts on disk").

``prepare`` loads the data set for the run's model, writes its samples to ``RUN_DIR/datasets/<name>.npz``
(the ``--samples`` path of the bench, so the QSL, results.json and every backend see one sample set) and
makes the accuracy runs cover every sample; ``score_results`` reads each cell's accuracy log, scores it as
the reference accuracy script does and writes its line to ``accuracy/accuracy.txt`` beside the log, the file
MLPerf's submission checker reads.
"""

from __future__ import annotations

import contextlib
import tempfile
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from modelport.benchmarks.mlperf_logs import read_accuracy
from modelport.benchmarks.options import BenchOptions
from modelport.benchmarks.responses import ResponseLayout
from modelport.benchmarks.results import BenchResults
from modelport.benchmarks.store import log_folder
from modelport.datasets import DataSet, Scored, load_dataset, parse_dataset
from modelport.datasets.base import Streamed
from modelport.errors import InputError, ModelportError
from modelport.fsutil import atomic_path
from modelport.manifest import load_manifest
from modelport.progress import Progress

ACCURACY_TXT = "accuracy.txt"


def check_request(text: str, options: BenchOptions, one_run: bool = True) -> tuple[str, Path]:
    """``--dataset NAME=PATH`` checked against the other options, before any work (``run`` converts first);
    ``one_run`` False: a matrix of runs, refused."""
    if not one_run:
        raise InputError("--dataset scores one run directory, not a matrix",
                         "use modelport bench RUN_DIR/cells/CELL --dataset ...")
    name, path = parse_dataset(text)
    if options.samples_file:
        raise InputError("--dataset and --samples both choose the samples", "pass one of them")
    if not options.accuracy:
        raise InputError("--dataset scores the accuracy run", "drop --no-accuracy")
    return name, path


def prepare(run_dir: Path, text: str, options: BenchOptions, limit: int | None = None,
            progress: Progress | None = None) -> tuple[BenchOptions, DataSet]:
    """The options benching ``run_dir`` on the data set ``text`` (``NAME=PATH``), and the loaded data set;
    ``limit`` keeps its first items (``--total-samples``)."""
    name, path = check_request(text, options)
    manifest = load_manifest(run_dir)
    if progress is not None:
        progress.step(f"reading {name} from {path}")
    data = load_dataset(name, path, manifest.inputs, limit, progress.status if progress is not None else None)
    target = Path(run_dir) / "datasets" / f"{name}.npz"
    target.parent.mkdir(parents=True, exist_ok=True)
    write_samples(data.samples, target)
    # every sample in the accuracy run (MLPerf scores the whole data set); performance runs keep the
    # profile's sample count as their performance sample count
    profile = replace(options.profile, accuracy_samples=data.count,
                      total_samples=min(options.profile.total_samples, data.count))
    return replace(options, samples_file=str(target), profile=profile), data


def write_samples(samples: dict[str, np.ndarray] | Streamed, target: Path) -> None:
    """The samples as an uncompressed .npz at ``target`` (atomically), which the QSL memory-maps; a streamed
    set is written sample by sample into one .npy per input beside it, then stored in the archive as it is
    (docs/decisions.md, "Data sets: streamed to disk, memory-mapped by the QSL")."""
    if not isinstance(samples, Streamed):
        with atomic_path(target) as tmp, open(tmp, "wb") as f:
            np.savez(f, **samples)
        return
    with tempfile.TemporaryDirectory(prefix=".samples-", dir=target.parent) as work, atomic_path(target) as tmp:
        files = {name: Path(work) / f"{name}.npy" for name in samples.layout}
        with contextlib.ExitStack() as stack:
            out = {name: stack.enter_context(open(files[name], "wb")) for name in files}
            for name, (shape, dtype) in samples.layout.items():  # the .npy header of the whole array first
                header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                          "shape": (samples.count * shape[0], *shape[1:])}
                np.lib.format.write_array_header_2_0(out[name], header)
            done = 0
            for done, row in enumerate(samples.rows(), 1):  # then each sample's rows: plain writes, no memory
                if done > samples.count:                    # map (whose written pages would stay resident)
                    break
                for name, (shape, dtype) in samples.layout.items():
                    out[name].write(np.ascontiguousarray(row[name], dtype).reshape(shape).tobytes())
        if done != samples.count:
            raise ModelportError(f"the data set yielded {done} samples, {samples.count} expected")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name, file in files.items():
                zf.write(file, f"{name}.npy")


def cell_responses(folder: Path, layout: ResponseLayout) -> dict[int, dict[str, np.ndarray]]:
    """Sample index -> decoded outputs, from one accuracy run's log (the first response per sample)."""
    out: dict[int, dict[str, np.ndarray]] = {}
    for _, index, data in read_accuracy(folder):
        if data and index not in out:
            out[index] = layout.decode(data)
    return out


def score_results(run_dir: Path, results: BenchResults, data: DataSet) -> dict[str, dict[str, Scored]]:
    """backend -> scenario -> the data set's metric of that cell's accuracy run, each also written to the
    run's ``accuracy/accuracy.txt``."""
    scores: dict[str, dict[str, Scored]] = {}
    for backend, scenario, cell in results.cell_items():
        if cell.accuracy is None or not cell.accuracy.log_dir:
            continue
        layout = ResponseLayout.from_json(results.backends[backend]["layout"])
        folder = log_folder(run_dir, cell.accuracy.log_dir)
        scored = data.score(cell_responses(folder, layout))
        with atomic_path(folder / ACCURACY_TXT) as tmp:
            tmp.write_text(scored.line + "\n")
        scores.setdefault(backend, {})[scenario] = scored
    return scores


def score_lines(data: DataSet, scores: dict[str, dict[str, Scored]]) -> list[str]:
    """One line per cell for a terminal: the data set, the cell and the reference script's line."""
    return [f"{data.name} {backend} {scenario}: {scored.line}" for backend, per in scores.items()
            for scenario, scored in per.items()]


def scores_json(data: DataSet, scores: dict[str, dict[str, Scored]]) -> dict[str, Any]:
    return {"name": data.name, "path": str(data.path), "samples": data.count, "notes": data.notes,
            "scores": {b: {s: {"line": v.line, **v.values} for s, v in per.items()} for b, per in scores.items()}}
