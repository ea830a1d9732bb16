"""MLPerf data sets read from the user's disk for accuracy runs (``bench --dataset NAME=PATH``).

One module per data set, each reading the layout of MLPerf's reference implementation and applying its
preprocessing; ``load_dataset`` picks the loader by name. Nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from modelport.datasets.base import DataSet, Responses, Scored, Status, quiet
from modelport.errors import InputError
from modelport.spec import InputSpec

__all__ = ["DATASETS", "DataSet", "Responses", "Scored", "load_dataset", "parse_dataset"]

#: data set -> (module, what PATH holds)
DATASETS = {
    "imagenet": ("imagenet", "validation JPEGs + val_map.txt"),
    "squad": ("squad", "dev-v1.1.json + vocab.txt"),
    "kits19": ("kits19", "the reference preprocessing's case_*.pkl"),
    "librispeech": ("librispeech", "dev-clean: */*/*.trans.txt + .flac or .wav"),
    "criteo": ("criteo", "day_23_dense*.npy, day_23_sparse_multi_hot*.npz, day_23_labels*.npy"),
}
#: the data set each MLPerf zoo model is scored on (by its MLPerf keywords' model name)
FOR_MODEL = {"ResNet50-v1.5": "imagenet", "BERT-Large": "squad", "3D-UNet": "kits19", "RNN-T": "librispeech",
             "DLRM": "criteo"}


def parse_dataset(text: str) -> tuple[str, Path]:
    """``NAME=PATH`` checked: a known data set and an existing folder."""
    name, sep, path = text.partition("=")
    if not sep or not path:
        raise InputError(f"--dataset {text!r}: expected NAME=PATH", f"NAME is one of {', '.join(DATASETS)}")
    if name not in DATASETS:
        raise InputError(f"--dataset: unknown data set {name!r}", f"known: {', '.join(DATASETS)}")
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise InputError(f"--dataset {name}={path}: not a folder", f"{name} is a folder of {DATASETS[name][1]}")
    return name, folder.resolve()


def load_dataset(name: str, path: Path, specs: Sequence[InputSpec], limit: int | None = None,
                 status: Status | None = None) -> DataSet:
    """Samples for ``specs`` (the model's inputs) and the scorer, from the data set ``name`` at ``path``;
    ``limit`` keeps the first items (images, questions, cases, utterances, rows) in the reference's order;
    ``status`` hears how far a long read is (a progress line on a terminal)."""
    import importlib

    module = importlib.import_module(f"modelport.datasets.{DATASETS[name][0]}")
    data: DataSet = module.load(path, specs, limit, status or quiet)
    if data.count == 0:
        raise InputError(f"--dataset {name}={path} holds no samples")
    return data
