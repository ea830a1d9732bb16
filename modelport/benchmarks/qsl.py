"""The query sample library: the samples a benchmark issues, held in memory only while LoadGen asks for them.

One sample is one item of batch 1, the MLPerf sample definition (one image, one sequence): every input of
the model with its batch axis set to 1 (inputs without a dynamic batch axis keep their exported shape).
Samples are either generated from the run's input specs, each from its own seed derived from the run seed
and the sample index (so a sample does not depend on which others are loaded), or read from an ``.npz``
whose arrays are keyed by input name and stack the samples along axis 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from modelport.errors import InputError
from modelport.npzfile import read_npz
from modelport.spec import InputSpec, make_inputs


def sample_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, index]).generate_state(1, dtype=np.uint64)[0])


class SampleLibrary:
    """``load(indices)`` puts samples in memory, ``unload(indices)`` deletes them; ``batch(indices)`` stacks
    loaded samples into one feed."""

    def __init__(self, specs: list[InputSpec], total: int, performance_count: int, seed: int = 0,
                 npz_path: str | Path | None = None) -> None:
        self.specs = list(specs)
        self.seed = seed
        # absolute: LoadGen calls load() from the run's own working directory (lg.run_test)
        self.npz_path = Path(npz_path).absolute() if npz_path else None
        self.samples: dict[int, dict[str, np.ndarray]] = {}
        self.load_calls = 0
        if self.npz_path is not None:
            total = self._check_npz()
        if total < 1:
            raise InputError("the sample library needs at least one sample")
        self.total = total
        self.performance_count = max(1, min(performance_count, total))

    @property
    def source(self) -> str:
        return str(self.npz_path) if self.npz_path else f"generated from the input specs, seed {self.seed}"

    def _check_npz(self) -> int:
        path = self.npz_path
        assert path is not None
        arrays = read_npz(path, "--samples")
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
            if not np.can_cast(arr.dtype, spec.np_dtype, casting="same_kind"):
                raise InputError(f"--samples: array {spec.name!r} is {arr.dtype}, the model takes {spec.dtype}")
            counts.add(arr.shape[0] // want[0])
        if len(counts) != 1:
            raise InputError(f"--samples {str(path)!r}: inputs hold different numbers of samples")
        return counts.pop()

    @staticmethod
    def _sample_shape(spec: InputSpec) -> tuple[int, ...]:
        return (1, *spec.shape[1:]) if spec.batch_dynamic else spec.shape

    def _generate(self, index: int) -> dict[str, np.ndarray]:
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
        # each member is read whole once per load call, then sliced
        arrays = read_npz(self.npz_path, "--samples", [s.name for s in self.specs])
        for spec in self.specs:
            arr = arrays[spec.name]
            step = self._sample_shape(spec)[0]
            for i in wanted:
                part = np.ascontiguousarray(arr[i * step:(i + 1) * step], dtype=spec.np_dtype)
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
