"""validate_run / validate_artifacts on real run directories: passing zoo exports, and exports that are
subtly or grossly wrong, each caught with a message that names the artifact, output, statistic and tolerance."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.validate import export_onnx, export_torchscript, make_run, perturb_onnx

from modelport import zoo
from modelport.converters.options import ConvertOptions
from modelport.converters.pipeline import convert
from modelport.errors import InputError
from modelport.manifest import load_manifest
from modelport.validators import REPORT_NAME, ValidationOptions, validate_artifacts, validate_run


def _convert(tmp: Path, name: str, targets: tuple[str, ...] = ("all",), method: str = "auto") -> Path:
    out = tmp / name
    convert(f"zoo:{name}", ConvertOptions(targets=targets, method=method, validate=False, out=out))
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """One convert run per tiny zoo model, every target (branchy: scripted TorchScript; its data-dependent branch
    cannot be captured by the ONNX exporters or torch.export)."""
    tmp = tmp_path_factory.mktemp("runs")
    out = {name: _convert(tmp, name) for name in ("tiny-cnn", "tiny-transformer", "bert-small")}
    out["branchy"] = _convert(tmp, "branchy", ("torchscript",), "script")
    return out


@pytest.fixture
def copy_run(runs, tmp_path):
    def copy(name: str) -> Path:
        dst = tmp_path / name
        shutil.copytree(runs[name], dst)
        return dst
    return copy


@pytest.mark.parametrize("name", ["tiny-cnn", "tiny-transformer", "bert-small", "branchy"])
def test_zoo_exports_pass_and_the_report_records_how(runs, name):
    report = validate_run(runs[name])
    assert report.passed, report.failure_message()
    manifest = load_manifest(runs[name])
    assert [a.id for a in report.artifacts] == [a.id for a in manifest.artifacts]
    saved = json.loads((runs[name] / REPORT_NAME).read_text())
    assert saved["passed"] is True
    assert saved["versions"]["torch"] and saved["versions"]["onnxruntime"]
    assert saved["settings"]["seed"] == manifest.seed
    assert {s["seed"] for s in saved["input_sets"]} >= {0, 1}
    for out in manifest.output_names:
        assert saved["settings"]["tolerances"][out]["atol"] == 1e-5
    # dynamic batch is exercised at three sizes: the example's, 1, and a larger one
    assert saved["batch_sizes"] == [2, 1, 5]
    assert saved["reference"]["deterministic"] is True
    for art in saved["artifacts"]:
        assert {s["input_set"] for s in art["input_sets"]} >= {"example", "negated", "batch-1", "batch-5"}
        if art["kind"] == "onnx":
            assert {c["name"]: c["passed"] for c in art["checks"]}["onnx_checker"] is True
        for s in art["input_sets"]:
            for o in s["outputs"]:
                assert o["max_abs"] is not None and o["cosine"] > 0.9999 and o["mismatched"] == 0


def test_perturbed_onnx_initializer_fails_naming_the_output(copy_run):
    run = copy_run("bert-small")
    hidden = zoo.get("bert-small").build().config.hidden
    onnx_id = next(a.id for a in load_manifest(run).artifacts if a.target == "onnx")
    # column 1 of the QA head feeds only end_logits (one element: LayerNorm output sums to ~0 over a column)
    perturb_onnx(run, onnx_id, shape=(hidden, 2), index=(0, 1), delta=1e-3)
    report = validate_run(run)
    assert not report.passed
    bad = {(f.artifact, f.output) for f in report.failures if f.kind == "values"}
    assert bad == {(onnx_id, "end_logits")}
    msg = report.failure_message()
    assert msg.startswith(f"artifact '{onnx_id}' output 'end_logits' on input set 'example' (batch 2): max abs error")
    assert "> atol 1e-05" in msg and "rtol 1e-05" in msg and "elements exceed both" in msg
    others = [a for a in report.artifacts if a.id != onnx_id]
    assert others and all(a.passed for a in others)


def test_per_output_tolerances(copy_run):
    run = copy_run("bert-small")
    hidden = zoo.get("bert-small").build().config.hidden
    onnx_id = next(a.id for a in load_manifest(run).artifacts if a.target == "onnx")
    perturb_onnx(run, onnx_id, shape=(hidden, 2), index=(0, 1), delta=1e-3)
    only = ValidationOptions(artifact_ids=[onnx_id])
    assert validate_run(run, options=ValidationOptions(atol={"end_logits": 0.1}, artifact_ids=[onnx_id])).passed
    report = validate_run(run, options=ValidationOptions(atol={"start_logits": 0.1}, artifact_ids=[onnx_id]))
    assert not report.passed and {f.output for f in report.failures} == {"end_logits"}
    assert validate_run(run, options=ValidationOptions(atol={"": 0.1}, artifact_ids=[onnx_id])).passed
    report = validate_run(run, options=only)
    comp = report.artifacts[0].input_sets[0].outputs[1]
    assert comp.name == "end_logits" and comp.required_atol > 1e-5
    assert "passes with --atol end_logits:" in comp.describe_failure()
    with pytest.raises(InputError, match="names output 'logits'"):
        validate_run(run, options=ValidationOptions(atol={"logits": 0.1}))


def test_agreement_gate_passes_a_near_copy_and_fails_a_damaged_classifier(copy_run):
    run = copy_run("tiny-cnn")
    onnx_id = next(a.id for a in load_manifest(run).artifacts if a.target == "onnx")
    gate = dict(min_agreement=0.99, samples=100, artifact_ids=[onnx_id])
    report = validate_run(run, options=ValidationOptions(**gate, topk=2))
    [agreement] = report.artifacts[0].agreement
    assert report.passed and agreement.agreement == 1.0 and agreement.samples == 100 and agreement.k == 2
    # On random images the seeded tiny CNN predicts one class (3) for every sample; the report says so.
    assert agreement.distinct_predictions == 1
    assert any("same class of 'logits' for every agreement sample" in w for w in report.warnings)

    perturb_onnx(run, onnx_id, "fc.bias", index=(3,), delta=-2e-3)  # lossy, but the predictions hold
    report = validate_run(run, options=ValidationOptions(**gate, atol={"": 1e-2}))
    assert report.passed, report.failure_message()
    assert report.artifacts[0].agreement[0].agreement >= 0.99
    assert not validate_run(run, options=ValidationOptions(**gate)).passed  # values alone would fail it

    perturb_onnx(run, onnx_id, "fc.bias", index=(3,), delta=-0.3)  # class 3 loses against the others
    report = validate_run(run, options=ValidationOptions(**gate, atol={"": 1.0}))
    assert not report.passed
    [fail] = report.failures
    assert fail.kind == "agreement" and fail.output == "logits" and fail.artifact == onnx_id
    assert "top-1 agreement with the reference is" in fail.message and "below --min-agreement 0.99" in fail.message
    assert report.artifacts[0].agreement[0].agreement < 0.99


def test_agreement_gate_needs_classification_outputs(runs):
    with pytest.raises(InputError, match="classification-like outputs"):
        validate_run(runs["tiny-transformer"], options=ValidationOptions(min_agreement=0.99))
    # naming the output makes it one
    report = validate_run(runs["tiny-transformer"], options=ValidationOptions(min_agreement=0.99, samples=8,
                                                                                class_outputs=["y"]))
    assert report.passed and report.artifacts[0].agreement[0].samples == 8 * 16  # one row per token


def test_traced_branchy_fails_on_the_negated_set_and_scripted_passes(tmp_path):
    traced = make_run(tmp_path / "trace", "branchy", targets=("torchscript",), method="trace")
    assert traced.artifacts[0].method == "trace"
    report = validate_run(tmp_path / "trace")
    assert not report.passed
    sets = {s.input_set: s.passed for s in report.artifacts[0].input_sets}
    assert sets["example"] is True and sets["negated"] is False
    first = report.failures[0]
    assert first.input_set == "negated" and first.output == "y"
    assert "--method script" in report.failure_message()
    make_run(tmp_path / "script", "branchy", targets=("torchscript",), method="script")
    assert validate_run(tmp_path / "script").passed


def test_static_onnx_in_a_dynamic_run_fails_at_other_batch_sizes(tmp_path):
    run = tmp_path / "static"
    manifest = make_run(run, "tiny-cnn", targets=("onnx",))
    entry = zoo.get("tiny-cnn")
    export_onnx(entry.build(), entry.input_specs(), ["logits"], run / "model.onnx", dynamic=False)
    perturb_onnx(run, manifest.artifacts[0].id, "fc.bias", delta=0.0)  # only re-records the hash
    report = validate_run(run)
    checks = {c.name: c for c in report.artifacts[0].checks}
    assert not checks["dynamic_axes"].passed and "input 'input' axis 0 (batch) is static (2)" in \
        checks["dynamic_axes"].detail
    runs_failed = {f.input_set for f in report.failures if f.kind == "run"}
    assert runs_failed == {"batch-1", "batch-5"}
    assert any("batch axis is not really dynamic" in f.message for f in report.failures)


def test_user_inputs_from_npz_are_an_extra_set(runs, tmp_path):
    specs = zoo.get("bert-small").input_specs()
    arrays = {s.name: np.ones((3, 20), np.int64) for s in specs}
    np.savez(tmp_path / "in.npz", **arrays)
    report = validate_run(runs["bert-small"], options=ValidationOptions(inputs_file=str(tmp_path / "in.npz")))
    assert report.passed
    user = [s for s in report.input_sets if s["name"] == "user"]
    assert user and user[0]["shapes"]["input_ids"] == [3, 20] and user[0]["source"] == "npz"
    np.savez(tmp_path / "bad.npz", **{**arrays, "input_ids": arrays["input_ids"].astype(np.float32)})
    with pytest.raises(InputError, match="'input_ids' has dtype float32"):
        validate_run(runs["bert-small"], options=ValidationOptions(inputs_file=str(tmp_path / "bad.npz")))


def test_missing_or_modified_artifact_is_an_input_error(copy_run):
    run = copy_run("tiny-cnn")
    manifest = load_manifest(run)
    onnx_art = next(a for a in manifest.artifacts if a.target == "onnx")
    perturb_onnx(run, onnx_art.id, "fc.bias", delta=1e-3, rehash=False)
    with pytest.raises(InputError, match=f"artifact '{onnx_art.id}'.*does not match its recorded sha256"):
        validate_run(run)
    (run / onnx_art.path).unlink()
    with pytest.raises(InputError, match="is missing from the run directory"):
        validate_run(run)
    assert not (run / REPORT_NAME).exists() or json.loads((run / REPORT_NAME).read_text())  # never half-written


def test_unloadable_artifact_file_is_an_input_error(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    entry = zoo.get("tiny-cnn")
    with pytest.raises(InputError, match="cannot load .*broken.onnx' as onnx"):
        validate_artifacts(entry.build(), entry.input_specs(), ["logits"], [("onnx", str(bad), "broken")])


def test_artifact_with_other_input_names_fails_the_names_check(tmp_path):
    entry = zoo.get("tiny-cnn")
    module, specs = entry.build(), entry.input_specs()
    renamed = [specs[0].__class__("images", specs[0].shape, dynamic_axes={0: "batch"})]
    export_onnx(module, renamed, ["logits"], tmp_path / "m.onnx")
    report = validate_artifacts(module, specs, ["logits"], [("onnx", str(tmp_path / "m.onnx"), "m")])
    assert not report.passed
    assert "the artifact's inputs are ['images'], the model's ['input']" in report.failure_message()
    assert report.artifacts[0].input_sets == []


class Noisy(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.rand_like(x) * 1e-3


def test_nondeterministic_reference_is_reported(tmp_path):
    specs = zoo.get("branchy").input_specs()
    export_torchscript(torch.nn.Identity(), specs, tmp_path / "id.pt", "script")
    report = validate_artifacts(Noisy(), specs, ["y"], [("torchscript", str(tmp_path / "id.pt"), "identity")],
                                ValidationOptions(atol={"": 1e-2}))
    assert not report.passed and report.reference["deterministic"] is False
    assert report.failures[0].kind == "reference" and "not deterministic" in report.failure_message()


def test_validating_one_artifact_keeps_the_other_records(copy_run):
    run = copy_run("tiny-cnn")
    ids = [a.id for a in load_manifest(run).artifacts]
    assert validate_run(run).passed
    onnx_id = next(i for i in ids if i.startswith("onnx"))
    import onnx

    path = run / load_manifest(run).artifact(onnx_id).path
    conv = next(i.name for i in onnx.load(str(path)).graph.initializer if len(i.dims) == 4)
    perturb_onnx(run, onnx_id, initializer=conv, delta=0.5)
    assert not validate_run(run, options=ValidationOptions(artifact_ids=[onnx_id])).passed
    data = json.loads((run / REPORT_NAME).read_text())
    assert [a["id"] for a in data["artifacts"]] == ids  # the others carried, in the manifest's order
    assert list(data["carried"]["artifacts"]) == [i for i in ids if i != onnx_id]
    assert not data["passed"] and {f["artifact"] for f in data["failures"]} == {onnx_id}
    # validating another one now carries the failing record, and says so
    other = next(i for i in ids if i != onnx_id)
    report = validate_run(run, options=ValidationOptions(artifact_ids=[other]))
    assert report.passed and any("earlier failing record of " + onnx_id in w for w in report.warnings)
    data = json.loads((run / REPORT_NAME).read_text())
    assert not data["passed"] and onnx_id in data["carried"]["artifacts"]


@pytest.mark.parametrize(("key", "value"), [("quality", "0.5; rm -rf /"), ("atol", [1]), ("class_outputs", "logits")])
def test_a_tampered_recorded_setting_is_one_line_not_a_crash(copy_run, key, value):
    run = copy_run("tiny-cnn")
    data = json.loads((run / "manifest.json").read_text())
    data["settings"][key] = value
    (run / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match=f"manifest.json is corrupt: settings.{key}"):
        validate_run(run)
