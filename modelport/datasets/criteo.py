"""Criteo 1TB day 23 for DLRM: the multi-hot files MLPerf's DLRM v2 reference reads, ``day_23_dense*.npy``
((N, 13) float32, already log-transformed), ``day_23_sparse_multi_hot*.npz`` (members ``0`` to ``25``, each (N,
ids per row) int32) and ``day_23_labels*.npy`` ((N, 1) clicks), with the reference's suffixes: none (the full
day), ``_sample`` or ``_debug``.

The reference needs no preprocessing at run time. modelport's DLRM takes a fixed bag of L ids per table (docs/
decisions.md, "Data sets: the reference layouts on disk"): a table's first L ids are used and a shorter bag
is filled by repeating its ids, which the reference's variable-length bags do not do; AUC on real data is
then that of this fixed-bag model. One LoadGen sample is one row. The metric is the reference
accuracy-dlrm.py's ROC AUC (rank statistic, ties counted half) and click accuracy at 0.5.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from modelport.datasets.base import DataSet, Responses, Scored, Status, first_output, named_input, quiet
from modelport.errors import InputError
from modelport.spec import InputSpec

TABLES = 26
DENSE = 13
SUFFIXES = ("", "_sample", "_debug")


def _files(path: Path) -> tuple[Path, Path, Path]:
    for suffix in SUFFIXES:
        files = (path / f"day_23_dense{suffix}.npy", path / f"day_23_sparse_multi_hot{suffix}.npz",
                 path / f"day_23_labels{suffix}.npy")
        if all(f.is_file() for f in files):
            return files
    raise InputError(f"--dataset criteo={path}: no day_23_dense*.npy, day_23_sparse_multi_hot*.npz and "
                     "day_23_labels*.npy", "point at the DLRM v2 reference's preprocessed day 23 folder")


def _read(path: Path) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    dense_f, sparse_f, labels_f = _files(path)
    try:
        dense = np.load(dense_f, allow_pickle=False, mmap_mode="r")
        labels = np.load(labels_f, allow_pickle=False).reshape(-1)
        with np.load(sparse_f, allow_pickle=False) as z:
            sparse = [np.asarray(z[str(k)]) for k in range(TABLES)]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise InputError(f"--dataset criteo={path}: {type(e).__name__}: {e}") from None
    n = len(labels)
    if dense.ndim != 2 or dense.shape != (n, DENSE) or any(s.ndim != 2 or len(s) != n for s in sparse):
        raise InputError(f"--dataset criteo={path}: expected dense (N, 13), labels (N, 1) and 26 sparse (N, ids) "
                         f"arrays with one N; got dense {list(dense.shape)}, {n} labels")
    return dense, sparse, labels


def fixed_bags(sparse: list[np.ndarray], rows: slice, bag: int) -> np.ndarray:
    """(rows, 26, bag) int64: each table's first ``bag`` ids, a shorter bag cycled to length."""
    out = []
    for table in sparse:
        ids = np.asarray(table[rows], np.int64)
        reps = -(-bag // ids.shape[1])
        out.append(np.tile(ids, (1, reps))[:, :bag])
    return np.stack(out, axis=1)


def load(path: Path, specs: Sequence[InputSpec], limit: int | None = None, status: Status = quiet) -> DataSet:
    dense_spec = named_input(specs, "criteo", "dense", 2)
    sparse_spec = named_input(specs, "criteo", "sparse", 3)
    if dense_spec.shape[1] != DENSE or sparse_spec.shape[1] != TABLES:
        raise InputError("--dataset criteo needs dense (N, 13) and sparse (N, 26, L) inputs")
    dense, sparse, labels = _read(path)
    rows = slice(0, limit)
    labels = labels[rows].astype(np.int64)
    samples = {dense_spec.name: np.ascontiguousarray(dense[rows], dense_spec.np_dtype),
               sparse_spec.name: fixed_bags(sparse, rows, sparse_spec.shape[2])}
    notes = []
    if any(t.shape[1] != sparse_spec.shape[2] for t in sparse):
        notes.append(f"bags resized to the model's {sparse_spec.shape[2]} ids per table (first ids, shorter "
                     "bags repeated)")
    return DataSet("criteo", path, samples, lambda r: score(r, labels), notes)


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by the Mann-Whitney rank statistic, ties counted half, in O(n log n)."""
    pos = int(labels.sum())
    neg = len(labels) - pos
    if not pos or not neg:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), np.float64)
    sorted_scores = scores[order]
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)  # average 1-based rank of each tie group
    return float((ranks[labels == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def score(responses: Responses, labels: np.ndarray) -> Scored:
    idx = np.array(sorted(responses), np.int64)
    probs = np.array([float(first_output(responses[i]).reshape(-1)[0]) for i in idx], np.float64)
    truth = labels[idx]
    auc = roc_auc(truth, probs)
    good = int(((probs > 0.5).astype(np.int64) == truth).sum())
    total = len(idx)
    acc = 100.0 * good / total if total else 0.0
    return Scored(f"AUC={100.0 * auc:.3f}%, accuracy={acc:.3f}%, good={good}, total={total}, queries={total}",
                  {"auc": 100.0 * auc, "accuracy": acc, "good": float(good), "total": float(total)})
