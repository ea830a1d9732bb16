"""ImageNet 2012 validation for ResNet-50: the JPEGs and ``val_map.txt`` (``<file> <label>`` per line, labels
0-999), as MLPerf's classification reference reads them.

Preprocessing is the reference's PyTorch path (docs/decisions.md, "Data sets: the reference layouts on disk"):
RGB, the shorter side resized to size / 0.875 (256 for 224), a centre crop of the model's size, scaled to
[0, 1] and normalised with the torchvision mean and standard deviation, NCHW float32. The metric is top-1
accuracy, printed as the reference's accuracy-imagenet.py prints it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

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
    required_file,
)
from modelport.errors import InputError
from modelport.spec import InputSpec

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
CROP_FRACTION = 0.875


def read_val_map(path: Path) -> list[tuple[str, int]]:
    entries = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise InputError(f"{path}:{n}: expected '<file> <label>', got {line.strip()!r}")
        entries.append((parts[0], int(parts[1])))
    if not entries:
        raise InputError(f"{path} lists no images")
    return entries


def preprocess(path: Path, size: int) -> np.ndarray:
    """(1, 3, size, size) float32 from one image file."""
    from PIL import Image, UnidentifiedImageError  # matplotlib's own dependency; only this loader needs it

    try:
        with Image.open(path) as im:
            img = im.convert("RGB")
    except (OSError, UnidentifiedImageError) as e:
        raise InputError(f"--dataset imagenet: {path} cannot be read as an image: {e}") from None
    short = int(round(size / CROP_FRACTION))
    w, h = img.size
    scale = short / min(w, h)
    img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BILINEAR)
    w, h = img.size
    left, top = (w - size) // 2, (h - size) // 2
    arr = np.asarray(img.crop((left, top, left + size, top + size)), np.float32) / 255.0
    return ((arr - MEAN) / STD).transpose(2, 0, 1)[None]


def load(path: Path, specs: Sequence[InputSpec], limit: int | None = None, status: Status = quiet) -> DataSet:
    spec = find_input(specs, "imagenet", 4, "one image input (N, 3, H, W)")
    if spec.shape[1] != 3 or spec.shape[2] != spec.shape[3]:
        raise InputError(f"--dataset imagenet needs a square RGB input (N, 3, S, S); {spec.name} is {list(spec.shape)}")
    entries = read_val_map(required_file(path, "val_map.txt", "imagenet"))[:limit]
    for name, _ in entries:  # every file checked before the first is preprocessed
        if not (path / name).is_file():
            raise InputError(f"--dataset imagenet: val_map.txt names {name}, which is not in {path}")
    size, dtype = spec.shape[2], spec.np_dtype

    def rows() -> Iterator[dict[str, np.ndarray]]:
        # one image at a time: the whole validation set at 224 is about 30 GB of float32 (base.Streamed)
        for done, (name, _) in enumerate(entries, 1):
            yield {spec.name: preprocess(path / name, size).astype(dtype, copy=False)}
            report_every(status, "imagenet: images", done, len(entries))

    labels = np.array([label for _, label in entries], np.int64)
    samples = Streamed(len(entries), {spec.name: ((1, 3, size, size), dtype)}, rows)
    return DataSet("imagenet", path, samples, lambda r: score(r, labels))


def score(responses: Responses, labels: np.ndarray) -> Scored:
    good = 0
    for index, outputs in responses.items():
        logits = first_output(outputs, "logits").reshape(-1)
        offset = 1 if logits.shape[0] == 1001 else 0  # TF-style classifiers put a background class first
        good += int(int(np.argmax(logits)) - offset == labels[index])
    total = len(responses)
    acc = 100.0 * good / total if total else 0.0
    return Scored(f"accuracy={acc:.3f}%, good={good}, total={total}",
                  {"accuracy": acc, "good": float(good), "total": float(total)})
