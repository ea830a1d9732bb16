"""KiTS19 for 3D-UNet: the folder MLPerf's kits19 reference preprocessing writes, one ``case_XXXXX.pkl`` per
case holding ``[image, label]`` (image (1, D, H, W) float32 already resampled and normalised, label (1, D, H, W)
uint8: 0 background, 1 kidney, 2 tumour).

The pickles are read with an unpickler that builds numpy arrays and nothing else (docs/decisions.md, "Data
sets: the reference layouts on disk"), so a crafted file cannot run code. One LoadGen sample is one patch of
the reference's sliding window (``zoo.unet3d.sliding_window``: half-overlapping patches at the model's patch
size); scoring puts each case's patch logits back together with the same Gaussian weights, takes the argmax
and computes the reference accuracy_kits.py's Dice (one-hot, smoothing 1e-6) for kidney and tumour, averaged
over cases.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelport.datasets.base import (
    DataSet,
    Responses,
    Scored,
    Status,
    Streamed,
    find_input,
    first_output,
    quiet,
    report_every,
)
from modelport.errors import InputError
from modelport.spec import InputSpec
from modelport.zoo.unet3d import sliding_window

#: the globals a pickle of numpy arrays needs (numpy 1 and 2 module paths); anything else is refused
_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"), ("numpy.core.numeric", "_frombuffer"),
            ("numpy._core.numeric", "_frombuffer"), ("builtins", "bytearray")}
SMOOTH = 1e-6


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which a pickle of arrays does not need")
        return super().find_class(module, name)


def read_case(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        data = _ArraysOnly(io.BytesIO(path.read_bytes())).load()
        image, label = (np.asarray(a) for a in data)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise InputError(f"--dataset kits19: {path} is not a reference [image, label] pickle: {e}") from None
    if image.ndim != 4 or image.shape != label.shape:
        raise InputError(f"--dataset kits19: {path}: image {list(image.shape)} and label {list(label.shape)} "
                         "must both be (1, D, H, W)")
    return image.astype(np.float32), label.astype(np.uint8)


def _pad(image: np.ndarray, patch: int) -> np.ndarray:
    """Axes shorter than the patch padded at the end with the image minimum (the reference pads with the
    normalised background); the prediction is cropped back before scoring."""
    pads = [(0, 0)] + [(0, max(0, patch - s)) for s in image.shape[1:]]
    return np.pad(image, pads, constant_values=float(image.min()))


def _patches(volume: np.ndarray, patch: int, keep: bool = True) -> list[np.ndarray | None]:
    """The sliding window's patches in its own order, collected by running it on a recorder (``keep`` False:
    only counted, one None each)."""
    seen: list[np.ndarray | None] = []

    def record(p: np.ndarray) -> np.ndarray:
        seen.append(p.copy() if keep else None)
        return np.zeros((1, 1, patch, patch, patch), np.float32)

    sliding_window(record, volume, patch, num_classes=1)
    return seen


def load(path: Path, specs: Sequence[InputSpec], limit: int | None = None, status: Status = quiet) -> DataSet:
    spec = find_input(specs, "kits19", 5, "one volume input (N, 1, D, H, W)")
    patch = spec.shape[2]
    cases = sorted(path.glob("case_*.pkl"))[:limit]
    if not cases:
        raise InputError(f"--dataset kits19={path}: no case_*.pkl files",
                         "point at the reference preprocessing's output folder")
    # a first pass counts each case's patches and keeps its label (for scoring); the patches themselves are
    # streamed, one case at a time: 42 cases of 128^3 float32 patches are several GB (base.Streamed)
    spans: list[tuple[str, int, int, np.ndarray, tuple[int, ...]]] = []  # case, first sample, count, label, shape
    total = 0
    for n, case in enumerate(cases, 1):
        image, label = read_case(case)
        volume = _pad(image, patch)[None]
        count = len(_patches(volume, patch, keep=False))
        spans.append((case.stem, total, count, label[0], volume.shape))
        total += count
        report_every(status, "kits19: cases read", n, len(cases), every=5)
    dtype = spec.np_dtype

    def rows() -> Iterator[dict[str, np.ndarray]]:
        for n, case in enumerate(cases, 1):
            for p in _patches(_pad(read_case(case)[0], patch)[None], patch):
                yield {spec.name: np.asarray(p, dtype)}
            report_every(status, "kits19: cases preprocessed", n, len(cases), every=5)

    samples = Streamed(total, {spec.name: ((1, 1, patch, patch, patch), dtype)}, rows)
    return DataSet("kits19", path, samples, lambda r: score(r, spans, patch))


def dice(prediction: np.ndarray, truth: np.ndarray, k: int) -> float:
    p, t = prediction == k, truth == k
    return float((2.0 * np.logical_and(p, t).sum() + SMOOTH) / (p.sum() + t.sum() + SMOOTH))


def _replay(outputs: list[np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """An ``infer`` for the sliding window that returns the logged patch outputs in the window's order."""
    it = iter(outputs)
    return lambda _patch: next(it)


def score(responses: Responses, spans: list[tuple[str, int, int, np.ndarray, tuple[int, ...]]],
          patch: int) -> Scored:
    kidney, tumour = [], []
    for _, first, count, label, shape in spans:
        if any(first + k not in responses for k in range(count)):
            continue  # accuracy runs cover every sample; a partial case is not scored
        outs = [first_output(responses[first + k])[None] for k in range(count)]
        logits = sliding_window(_replay(outs), np.zeros(shape, np.float32), patch, num_classes=outs[0].shape[1])
        pred = logits[0].argmax(0)[tuple(slice(0, s) for s in label.shape)]
        kidney.append(dice(pred, label, 1))
        tumour.append(dice(pred, label, 2))
    k, t = (float(np.mean(v)) if v else 0.0 for v in (kidney, tumour))
    mean = (k + t) / 2
    return Scored(f"Accuracy: mean = {mean:.5f}, kidney = {k:.4f}, tumor = {t:.4f}",
                  {"mean": mean, "kidney": k, "tumor": t, "cases": float(len(kidney))})
