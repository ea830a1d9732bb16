"""Data sets larger than memory: a streamed data set goes to disk sample by sample, the QSL memory-maps the
uncompressed .npz and copies in only the samples LoadGen loads, and the eager references walk the accuracy
samples in chunks of the performance sample count."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from modelport.benchmarks.accuracy import Reference
from modelport.benchmarks.dataset_accuracy import write_samples
from modelport.benchmarks.qsl import SampleLibrary, mapped_npz
from modelport.benchmarks.suite import reference_outputs
from modelport.datasets.base import DataSet, Streamed
from modelport.errors import ModelportError
from modelport.spec import InputSpec

SPECS = [InputSpec("x", (2, 3, 4), "float32", -1, 1, {0: "batch"}),
         InputSpec("ids", (2, 5), "int64", 0, 50, {0: "batch"})]
N = 200


def _arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"x": rng.standard_normal((N, 3, 4)).astype(np.float32), "ids": rng.integers(0, 50, (N, 5))}


@pytest.mark.parametrize("compressed", [False, True])
def test_the_qsl_loads_only_what_it_is_asked_and_copies_it_into_memory(tmp_path, compressed):
    arrays, path = _arrays(), tmp_path / "s.npz"
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    mapped = mapped_npz(path)
    # uncompressed members are memory-mapped (nothing read yet); a compressed file is read whole, as before
    assert (mapped is None) if compressed else all(isinstance(a, np.memmap) for a in mapped.values())
    qsl = SampleLibrary(SPECS, total=999, performance_count=8, npz_path=path)
    assert qsl.total == N and qsl.performance_count == 8
    qsl.load([150, 3])
    assert sorted(qsl.samples) == [3, 150]
    for i in (3, 150):
        for name in ("x", "ids"):
            got = qsl.sample(i)[name]
            np.testing.assert_array_equal(got, arrays[name][i:i + 1])
            assert type(got) is np.ndarray and got.flags.owndata  # a copy in memory, not a view of the file


def _streamed(count: int, yielded: int | None = None) -> tuple[Streamed, list[int]]:
    arrays, produced = _arrays(), []

    def rows():
        for i in range(count if yielded is None else yielded):
            produced.append(i)
            yield {"x": arrays["x"][i:i + 1], "ids": arrays["ids"][i:i + 1]}

    layout = {"x": ((1, 3, 4), np.dtype(np.float32)), "ids": ((1, 5), np.dtype(np.int64))}
    return Streamed(count, layout, rows), produced


def test_a_streamed_data_set_is_written_sample_by_sample_to_a_mappable_archive(tmp_path):
    samples, produced = _streamed(N)
    write_samples(samples, tmp_path / "d.npz")
    assert produced == list(range(N))  # one pass over the rows, one sample at a time
    mapped = mapped_npz(tmp_path / "d.npz")
    assert mapped is not None and set(mapped) == {"x", "ids"}
    for name, want in _arrays().items():
        np.testing.assert_array_equal(mapped[name], want)
    data = DataSet("t", tmp_path, _streamed(N)[0], lambda r: None)
    assert data.count == N and data.arrays()["ids"].shape == (N, 5)
    assert [p.name for p in tmp_path.iterdir()] == ["d.npz"]  # the per-input .npy files are gone


def test_a_data_set_that_yields_too_few_samples_leaves_no_file(tmp_path):
    with pytest.raises(ModelportError, match="yielded 5 samples, 9 expected"):
        write_samples(_streamed(9, yielded=5)[0], tmp_path / "d.npz")
    assert list(tmp_path.iterdir()) == []


def test_eager_references_walk_the_accuracy_samples_in_chunks(tmp_path):
    np.savez(tmp_path / "s.npz", **_arrays())
    qsl = SampleLibrary(SPECS, total=N, performance_count=64, npz_path=tmp_path / "s.npz")
    loads = []
    load = qsl.load
    qsl.load = lambda indices: (loads.append(len(indices)), load(indices))  # type: ignore[method-assign]
    options = SimpleNamespace(accuracy=True, profile=SimpleNamespace(accuracy_samples=150))
    ctx = SimpleNamespace(options=options, qsl=qsl, reference=Reference(None, None))
    reference_outputs(ctx, SimpleNamespace(infer=lambda feed: {"y": feed["x"] * 2}))
    assert loads == [64, 64, 22] and qsl.samples == {}  # never more than a chunk in memory
    np.testing.assert_array_equal(ctx.reference.outputs[149]["y"], _arrays()["x"][149] * 2)
