"""``modelport submission``: bench each run directory's artifact with the official LoadGen and the compliance
tests, then write the MLPerf submission tree (docs/decisions.md, "Submission: the tree and --dry-run").

The plan is checked before any run (each run an MLPerf zoo model, the scenarios its division and suite
require, the artifact present, the output free); the tree is written by ``submission_tree`` into a staging
folder beside ``--out`` and renamed into place, so a failure leaves no half-written tree.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from modelport import zoo
from modelport.benchmarks.audit import COMPLIANCE_TESTS
from modelport.benchmarks.options import BenchOptions
from modelport.benchmarks.scenarios import SCENARIOS
from modelport.benchmarks.settings import Profile, get_profile, mlperf_model_name, performance_samples
from modelport.errors import InputError
from modelport.fsutil import atomic_path
from modelport.manifest import Artifact, RunManifest, load_manifest
from modelport.spec import make_inputs
from modelport.zoo.mlperf import MLPERF

DIVISIONS = ("open", "closed", "network")
SYSTEM_TYPES = ("edge", "datacenter")
#: the submission's benchmark folder per MLPerf model (closed names the 99% accuracy target)
BENCHMARK_NAMES = {"bert": "bert-99", "3d-unet": "3d-unet-99", "dlrm": "dlrm-v2-99"}
#: the benchmarks TEST04 applies to (the checker's models_TEST04; compliance/TEST04/README.md exempts those
#: whose cost varies with the sample: bert, dlrm-v2, 3d-unet, rnnt); TEST01 applies to every one of ours
TEST04_BENCHMARKS = ("resnet50",)


def compliance_tests(benchmark: str) -> list[str]:
    """The compliance tests MLPerf requires of ``benchmark`` (a folder name, e.g. resnet50, bert-99)."""
    return [t for t in COMPLIANCE_TESTS if t != "TEST04" or benchmark in TEST04_BENCHMARKS]


#: a folder name that stays one folder on every system MLPerf's checker runs on
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.\- ]{1,100}")


@dataclass(frozen=True)
class SubmissionMeta:
    submitter: str
    system: str
    division: str
    system_type: str
    dry_run: bool
    system_json: dict[str, Any] = field(default_factory=dict)  # --system-json overrides

    def __post_init__(self) -> None:
        # both become folder and file names under --out: a separator or a dot-dot would write outside it
        for flag, value in (("--submitter", self.submitter), ("--system", self.system)):
            if not _SAFE_NAME.fullmatch(value) or set(value) <= {"."}:
                raise InputError(f"{flag} {value!r} is not a plain name: it becomes a folder of the tree",
                                 "use letters, digits, '.', '_', '-' and spaces, without '/' or '..'")


@dataclass
class PlannedRun:
    run_dir: Path
    manifest: RunManifest
    artifact: Artifact
    benchmark: str  # the submission's folder name, e.g. resnet50, bert-99
    scenarios: list[str]


def benchmark_name(manifest: RunManifest, run_dir: Path) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """The MLPerf benchmark of a run and its required (datacenter, edge) scenarios; refused for other models."""
    entry = zoo.entry_for_source(manifest.source.spec) if manifest.source.kind == "zoo" else None
    keywords = getattr(entry, "mlperf", None)
    if keywords is None:
        raise InputError(f"{run_dir}: {manifest.source.spec} is not an MLPerf benchmark model",
                         "submit a zoo model with MLPerf keywords (modelport zoo)")
    key = next(k for k, v in MLPERF.items() if v is keywords)
    return BENCHMARK_NAMES.get(key, key), keywords.datacenter_scenarios, keywords.edge_scenarios


def plan_run(run_dir: Path, meta: SubmissionMeta, artifact_id: str | None, scenarios: list[str] | None) -> PlannedRun:
    """One run directory checked: its benchmark, the artifact submitted and the scenarios to run.

    Closed and network submissions must run every scenario the suite requires for the benchmark; open ones
    run those by default, or the ``--scenario`` subset given."""
    manifest = load_manifest(run_dir)
    name, datacenter, edge = benchmark_name(manifest, run_dir)
    required = list(datacenter if meta.system_type == "datacenter" else edge)
    if not required:
        raise InputError(f"{name} has no {meta.system_type} scenarios in MLPerf", "choose the other --system-type")
    wanted = [s for s in SCENARIOS if s in (scenarios or required)]
    missing = [s for s in required if s not in wanted]
    if meta.division != "open" and missing:
        raise InputError(f"a {meta.division} {meta.system_type} submission of {name} needs "
                         f"{', '.join(required)}: missing {', '.join(missing)}",
                         "drop --scenario, or submit to the open division")
    if not manifest.artifacts:
        raise InputError(f"{run_dir} has no artifact to submit", "convert the model first")
    artifact = manifest.artifact(artifact_id) if artifact_id else manifest.artifacts[0]
    return PlannedRun(run_dir, manifest, artifact, name, wanted)


def check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"--out {str(out)!r} exists and is not empty", "choose a new folder")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise InputError(f"--out {str(out)!r}: folder {str(parent)!r} does not exist")


def read_system_json(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"--system-json {path!r} cannot be read: {e}") from None
    if not isinstance(data, dict):
        raise InputError(f"--system-json {path!r} is not a JSON object")
    return data


def submission_profile(dry_run: bool) -> Profile:
    """--dry-run: a few hundred ms per run (enough for SingleStream early stopping) over 64 generated samples,
    with MLPerf's seeds, which cost nothing (docs/decisions.md, "Submission: the official checker"); else
    MLPerf's 600 s."""
    if not dry_run:
        return get_profile("submission", None, None, None, None, None, None)
    return replace(get_profile("tiny", 400, 64, None, 64, 16, 2), mlperf_seeds=True)


def bench_options(run: PlannedRun, dry_run: bool, threads: int | None, mlperf_repo: str | None = None) -> BenchOptions:
    """The bench of one run: official LoadGen, the compliance tests its benchmark requires (verified by MLPerf's
    own scripts when ``mlperf_repo`` is a checkout), only the artifact's cells."""
    return BenchOptions(scenarios=run.scenarios, profile=submission_profile(dry_run), artifact_ids=[run.artifact.id],
                        threads=threads, repeat=1, loadgen="official", compliance=compliance_tests(run.benchmark),
                        mlperf_repo=mlperf_repo, eager_cells=False)


#: --dry-run samples file: at most this many bytes (full-size models keep 64 generated samples above it)
DRY_RUN_SAMPLE_BYTES = 256 * 2**20


def with_dry_run_samples(run: PlannedRun, options: BenchOptions) -> BenchOptions:
    """--dry-run: as many samples as the benchmark's performance sample count (1024 for resnet50, 10833 for
    bert), drawn in one seeded call into ``RUN_DIR/datasets/dry-run.npz`` (drawing them one seed per sample
    at every LoadGen run tripled the dry run's time), so the tree passes the checker's sample-count check
    (docs/decisions.md, "Submission: the official checker")."""
    entry = zoo.entry_for_source(run.manifest.source.spec)
    model = mlperf_model_name(entry.name if entry else None)
    specs = run.manifest.inputs
    if model is None or not all(s.batch_dynamic for s in specs):
        return options
    count = performance_samples(model)
    sample_bytes = sum(int(np.prod(s.shape[1:], dtype=np.int64)) * s.np_dtype.itemsize for s in specs)
    if count * sample_bytes > DRY_RUN_SAMPLE_BYTES:
        return options
    target = run.run_dir / "datasets" / "dry-run.npz"
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp, open(tmp, "wb") as f:
        np.savez(f, **make_inputs(specs, run.manifest.seed, batch=count))
    return replace(options, samples_file=str(target), profile=replace(options.profile, total_samples=count))


def staged(out: Path) -> Path:
    """A staging folder beside ``out``, renamed onto it by ``publish``."""
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.resolve().parent))


def publish(stage: Path, out: Path) -> None:
    if out.exists():
        out.rmdir()  # check_out made sure it is empty
    stage.rename(out)


def discard(stage: Path) -> None:
    shutil.rmtree(stage, ignore_errors=True)


def match_datasets(runs: list[PlannedRun], texts: tuple[str, ...]) -> dict[Path, str]:
    """run directory -> the ``--dataset NAME=PATH`` its benchmark is scored on (docs/decisions.md, "Data sets:
    the reference layouts on disk"); a data set no run's benchmark uses is refused."""
    from modelport.datasets import FOR_MODEL, parse_dataset

    chosen: dict[Path, str] = {}
    for text in texts:
        name, _ = parse_dataset(text)
        matched = [r for r in runs if FOR_MODEL.get(_keywords(r).model) == name]
        if not matched:
            have = ", ".join(sorted({r.benchmark for r in runs}))
            raise InputError(f"--dataset {name}: no submitted benchmark is scored on it (submitting {have})",
                             "imagenet: resnet50, squad: bert, kits19: 3d-unet, librispeech: rnnt, criteo: dlrm")
        chosen.update({r.run_dir: text for r in matched})
    return chosen


def _keywords(run: PlannedRun) -> Any:
    entry = zoo.entry_for_source(run.manifest.source.spec)
    return entry.mlperf if entry else None
