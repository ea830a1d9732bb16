"""The query sample library: the samples a benchmark issues, held in memory only while LoadGen asks for them.

One sample is one item of batch 1, the MLPerf sample definition (one image, one sequence): every input of
the model with its batch axis set to 1 (inputs without a dynamic batch axis keep their exported shape).
Samples are either generated, each from its own seed derived from the run seed and the sample index (so a
sample does not depend on which others are loaded), by the zoo model's realistic sample generator when it has
one, else from the run's input specs, or read from an ``.npz`` whose arrays are keyed by input name and stack
the samples along axis 0.

An uncompressed ``.npz`` (``numpy.savez``, and every data set modelport writes) is memory-mapped: its members
are ``.npy`` files stored as they are, so only the rows of the samples LoadGen loads are read, and a data set
larger than memory (full ImageNet at 224 is about 30 GB) can be benched (docs/decisions.md, "Data sets:
streamed to disk, memory-mapped by the QSL"). A compressed one is read whole, as before.
"""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from modelport.errors import InputError
from modelport.npzfile import read_npz
from modelport.spec import InputSpec, make_inputs


def mapped_npz(path: Path) -> dict[str, np.ndarray] | None:
    """Read-only memory maps of an .npz's members when every one is stored uncompressed, else None (the
    caller reads it whole through ``read_npz``, which also reports a damaged file in one line)."""
    try:
        with zipfile.ZipFile(path) as zf, open(path, "rb") as f:
            out = {}
            for info in zf.infolist():
                if info.compress_type != zipfile.ZIP_STORED or not info.filename.endswith(".npy"):
                    return None
                f.seek(info.header_offset)
                local = f.read(30)  # the local file header: its name and extra field lengths end it
                if local[:4] != b"PK\x03\x04":
                    return None
                name_len, extra_len = struct.unpack("<HH", local[26:30])
                f.seek(info.header_offset + 30 + name_len + extra_len)
                version = np.lib.format.read_magic(f)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(f)
                if dtype.hasobject:
                    return None  # read_npz refuses pickled objects in one line
                out[info.filename[:-4]] = np.memmap(path, dtype, "r", f.tell(), shape, "F" if fortran else "C")
            return out
    except (OSError, ValueError, zipfile.BadZipFile, struct.error):
        return None


def sample_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, index]).generate_state(1, dtype=np.uint64)[0])


class SampleLibrary:
    """``load(indices)`` puts samples in memory, ``unload(indices)`` deletes them; ``batch(indices)`` stacks
    loaded samples into one feed."""

    def __init__(self, specs: list[InputSpec], total: int, performance_count: int, seed: int = 0,
                 npz_path: str | Path | None = None,
                 generator: tuple[str, Callable[[int], dict[str, np.ndarray]]] | None = None) -> None:
        self.specs = list(specs)
        self.seed = seed
        #: (its name, seed -> one sample): the zoo model's own generator, whose samples look like the data the
        #: model stands for; int8 ranges are calibrated on them, so uniform values would be judged off-range
        #: (docs/decisions.md, "Zoo: seeded classifier and QA heads scored like trained ones")
        self.generator = generator
        # absolute: LoadGen calls load() from the run's own working directory (lg.run_test)
        self.npz_path = Path(npz_path).absolute() if npz_path else None
        self.samples: dict[int, dict[str, np.ndarray]] = {}
        self.load_calls = 0
        self._mapped: dict[str, np.ndarray] | None = None  # the .npz's members, memory-mapped when stored
        if self.npz_path is not None:
            total = self._check_npz()
        if total < 1:
            raise InputError("the sample library needs at least one sample")
        self.total = total
        self.performance_count = max(1, min(performance_count, total))

    @property
    def source(self) -> str:
        if self.npz_path:
            return str(self.npz_path)
        origin = self.generator[0] if self.generator else "the input specs"
        return f"generated from {origin}, seed {self.seed}"

    def _check_npz(self) -> int:
        path = self.npz_path
        assert path is not None
        self._mapped = mapped_npz(path)
        arrays = self._mapped if self._mapped is not None else read_npz(path, "--samples")
        counts = set()
        for spec in self.specs:
            if spec.name not in arrays:
                raise InputError(f"--samples {str(path)!r} has no array {spec.name!r}",
                                 f"it has {sorted(arrays)}; key each input's samples by input name")
            arr = arrays[spec.name]
            want = self._sample_shape(spec)
            if arr.ndim != len(want) or tuple(arr.shape[1:]) != want[1:]:
                raise InputError(f"--samples: array {spec.name!r} has shape {list(arr.shape)}, expected "
                                 f"[N, {', '.join(map(str, want[1:]))}] (samples stacked on axis 0)")
            if not _same_kind(arr.dtype, spec.np_dtype):
                # float64 -> float32 or int32 -> int64 is a cast; integers or bools into a float input are
                # data not prepared for the model (uint8 pixels not normalised), as --inputs refuses them
                raise InputError(f"--samples: array {spec.name!r} is {arr.dtype}, the model takes {spec.dtype}",
                                 f"convert it with .astype(numpy.{spec.dtype}) once it holds what the model takes")
            counts.add(arr.shape[0] // want[0])
        if len(counts) != 1:
            raise InputError(f"--samples {str(path)!r}: inputs hold different numbers of samples")
        return counts.pop()

    @staticmethod
    def _sample_shape(spec: InputSpec) -> tuple[int, ...]:
        return (1, *spec.shape[1:]) if spec.batch_dynamic else spec.shape

    def _generate(self, index: int) -> dict[str, np.ndarray]:
        if self.generator is not None:
            return self.generator[1](sample_seed(self.seed, index))
        fixed = {s.name: self._sample_shape(s) for s in self.specs}
        return make_inputs(self.specs, sample_seed(self.seed, index), shapes=fixed)

    def load(self, indices: list[int] | np.ndarray) -> None:
        self.load_calls += 1
        wanted = [int(i) for i in indices if int(i) not in self.samples]
        if not wanted:
            return
        if self.npz_path is None:
            for i in wanted:
                self.samples[i] = self._generate(i)
            return
        # memory-mapped: only the wanted rows are read; compressed: each member is read whole per load call
        arrays = self._mapped or read_npz(self.npz_path, "--samples", [s.name for s in self.specs])
        for spec in self.specs:
            arr = arrays[spec.name]
            step = self._sample_shape(spec)[0]
            for i in wanted:
                # a copy: a loaded sample is in memory (not paged in from disk during a timed run) and does
                # not keep a whole member read from a compressed file alive
                part = np.array(arr[i * step:(i + 1) * step], dtype=spec.np_dtype, order="C")
                self.samples.setdefault(i, {})[spec.name] = part

    def unload(self, indices: list[int] | np.ndarray) -> None:
        for i in indices:
            self.samples.pop(int(i), None)

    def sample(self, index: int) -> dict[str, np.ndarray]:
        try:
            return self.samples[index]
        except KeyError:
            raise RuntimeError(f"sample {index} was issued but is not loaded") from None

    def batch(self, indices: list[int] | np.ndarray, pad_to: int | None = None) -> dict[str, np.ndarray]:
        """One feed with the samples stacked on axis 0, padded with copies of the last to ``pad_to``."""
        idx = [int(i) for i in indices]
        if pad_to is not None and pad_to > len(idx):
            idx = idx + [idx[-1]] * (pad_to - len(idx))
        if len(idx) == 1:
            return self.sample(idx[0])
        parts = [self.sample(i) for i in idx]
        return {s.name: np.concatenate([p[s.name] for p in parts], axis=0) for s in self.specs}


def _same_kind(got: np.dtype, want: np.dtype) -> bool:
    """Both floating, both integer, or equal: a cast that keeps what the values mean."""
    if got == want:
        return True
    return (np.issubdtype(got, np.floating) and np.issubdtype(want, np.floating)) or \
        (np.issubdtype(got, np.integer) and np.issubdtype(want, np.integer))
