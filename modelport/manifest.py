"""The run directory's ``manifest.json``: what was converted, from what, how, and with which versions.

Every later command (``validate RUN_DIR``, ``bench RUN_DIR``) starts from it. Paths inside are relative to
the run directory, so a run directory can be moved or copied as a whole.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from modelport.environment import package_versions
from modelport.errors import InputError
from modelport.fsutil import sha256_file, write_json_atomic
from modelport.spec import InputSpec

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1
# Artifact ids name folders (LoadGen logs, benchmarks): letters, digits, '.', '_', '-'; no separators, no "..".
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


@dataclass
class ArtifactFile:
    path: str  # relative to the run directory
    sha256: str
    size_bytes: int

    @classmethod
    def of(cls, run_dir: Path, rel: str) -> ArtifactFile:
        p = run_dir / rel
        return cls(rel, sha256_file(p), p.stat().st_size)


@dataclass
class Component:
    """One graph of a multi-component artifact (a generative model's encoder, decoder, decoder with past)."""

    name: str  # decoder_model, decoder_with_past_model, encoder_model, model
    path: str  # relative to the run directory; also listed in the artifact's files
    inputs: list[str]  # the names the file takes, in order (an input the exporter dropped is not listed)
    outputs: list[str]
    dynamic_axes: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class Artifact:
    id: str  # unique in the run, e.g. "onnx-opset13", "torchscript", "pt2"
    target: str  # torchscript | onnx | pt2 | aoti
    path: str  # the main file, relative to the run directory
    files: list[ArtifactFile]  # the main file first, then external data files
    export_time_s: float
    opset: int | None = None
    exporter: str | None = None  # onnx: torchscript | dynamo
    ir_version: int | None = None
    method: str | None = None  # torchscript: script | trace
    simplified: bool = False
    dynamic_axes: dict[str, dict[str, str]] = field(default_factory=dict)  # input/output name -> {axis: symbol}
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    components: list[Component] = field(default_factory=list)  # empty: a single-graph artifact

    @property
    def size_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["size_bytes"] = self.size_bytes
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Artifact:
        d = dict(d)
        d.pop("size_bytes", None)
        d["files"] = [ArtifactFile(**f) for f in d.get("files", [])]
        d["components"] = [Component(**c) for c in d.get("components", [])]
        return cls(**d)


@dataclass
class SourceRecord:
    kind: str  # zoo | state_dict | pickle | torchscript | pt2 | hf
    spec: str  # what the user typed, e.g. "zoo:resnet50" or a path
    path: str | None = None  # absolute path of the source file/directory, if any
    sha256: str | None = None  # of the file (for a directory: of its sorted files)
    model_class: str | None = None  # "module:Class" or "path/to/file.py:Class"
    model_args: dict[str, Any] = field(default_factory=dict)
    state_dict: str | None = None  # for kind == state_dict: the weights file
    was_training: bool = False  # the model arrived in train() mode and was switched to eval()
    trusted_pickle: bool = False
    trusted_remote_code: bool = False  # a Hugging Face directory's own Python code ran (--trust-remote-code)
    task: str | None = None  # hf: the task exported (--task or inferred), e.g. "question-answering"
    files: list[str] = field(default_factory=list)  # hf: tokenizer/processor files copied into the run directory


@dataclass
class RunManifest:
    source: SourceRecord
    inputs: list[InputSpec]
    output_names: list[str]
    seed: int = 0
    artifacts: list[Artifact] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    versions: dict[str, str | None] = field(default_factory=package_versions)
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    timings: dict[str, float] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def artifact(self, artifact_id: str) -> Artifact:
        for a in self.artifacts:
            if a.id == artifact_id:
                return a
        raise InputError(f"run has no artifact {artifact_id!r}", f"it has: {', '.join(a.id for a in self.artifacts)}")

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "created": self.created,
            "source": asdict(self.source),
            "seed": self.seed,
            "inputs": [s.to_json() for s in self.inputs],
            "output_names": list(self.output_names),
            "artifacts": [a.to_json() for a in self.artifacts],
            "settings": self.settings,
            "warnings": self.warnings,
            "timings": self.timings,
            "versions": self.versions,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RunManifest:
        return cls(
            source=SourceRecord(**d["source"]),
            inputs=[InputSpec.from_json(s) for s in d["inputs"]],
            output_names=list(d["output_names"]),
            seed=d.get("seed", 0),
            artifacts=[Artifact.from_json(a) for a in d.get("artifacts", [])],
            settings=d.get("settings", {}),
            warnings=d.get("warnings", []),
            versions=d.get("versions", {}),
            created=d.get("created", ""),
            timings=d.get("timings", {}),
            schema_version=d.get("schema_version", SCHEMA_VERSION),
        )

    def save(self, run_dir: str | Path) -> Path:
        path = Path(run_dir) / MANIFEST_NAME
        write_json_atomic(path, self.to_json())
        return path


def load_manifest(run_dir: str | Path) -> RunManifest:
    """Read ``RUN_DIR/manifest.json``; a missing or corrupt manifest is an ``InputError``."""
    path = Path(run_dir) / MANIFEST_NAME
    if not Path(run_dir).is_dir():
        raise InputError(f"run directory {str(run_dir)!r} does not exist", "create one with modelport convert")
    if not path.is_file():
        raise InputError(f"{str(run_dir)!r} is not a modelport run directory (no {MANIFEST_NAME})",
                         "create one with modelport convert")
    try:
        manifest = RunManifest.from_json(json.loads(path.read_text()))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise InputError(f"{path} is corrupt: {e}") from None
    check_contained(run_dir, manifest)
    return manifest


def inside(run_dir: str | Path, rel: str) -> Path:
    """``run_dir/rel`` if it stays inside the run directory once symlinks are resolved, else ``ValueError``."""
    if not isinstance(rel, str) or not rel or "\x00" in rel or os.path.isabs(rel):
        raise ValueError("not a relative path")
    root = Path(run_dir).resolve()
    target = (root / rel).resolve()
    if target != root and root not in target.parents:
        raise ValueError("outside the run directory")
    return target


def check_contained(run_dir: str | Path, manifest: RunManifest) -> None:
    """Every artifact id is a safe folder name, unique, and every path resolves inside the run directory.

    A manifest is data anyone can edit: an id of ``../../victim`` or a path of ``/etc/passwd`` must never
    make a later command read, write or delete outside the directory the user named.
    """
    seen: set[str] = set()
    for a in manifest.artifacts:
        if not isinstance(a.id, str) or not _SAFE_ID.fullmatch(a.id) or ".." in a.id:
            raise InputError(f"manifest.json: artifact id {a.id!r} is not a plain name (letters, digits, '.', '_', "
                             "'-')", "re-run modelport convert")
        if a.id in seen:
            raise InputError(f"manifest.json: artifact id {a.id!r} appears twice", "re-run modelport convert")
        seen.add(a.id)
        for rel in [a.path, *(f.path for f in a.files), *(c.path for c in a.components)]:
            try:
                inside(run_dir, rel)
            except (ValueError, TypeError) as e:
                raise InputError(f"manifest.json: artifact {a.id!r} names the path {rel!r}, {e}",
                                 "every artifact file must lie inside the run directory; re-run modelport convert") \
                    from None


def verify_artifact_files(run_dir: str | Path, artifact: Artifact) -> None:
    """Every file of the artifact exists and still has its recorded sha256."""
    for f in artifact.files:
        p = inside(run_dir, f.path)
        if not p.is_file():
            raise InputError(f"artifact {artifact.id!r}: file {f.path!r} is missing from the run directory",
                             "re-run modelport convert")
        if sha256_file(p) != f.sha256:
            raise InputError(f"artifact {artifact.id!r}: file {f.path!r} does not match its recorded sha256 "
                             "(modified or corrupt)", "re-run modelport convert")
