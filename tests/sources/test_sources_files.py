"""Every file-based source kind loads to a module whose outputs equal the original module's."""

from __future__ import annotations

import importlib
import json
import warnings

import pytest
import torch
from helpers.sources import assert_same_outputs, run, write_user_module

from modelport import zoo
from modelport.sources import (
    METADATA_FILE,
    detect_kind,
    load_source,
    metadata_json,
    reload_source,
)
from modelport.sources.base import TRAINING_WARNING
from modelport.spec import InputSpec, make_inputs

USER_INPUT = [InputSpec("x", (2, 8), "float32", -1.0, 1.0, {0: "batch"})]


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    name = write_user_module(tmp_path)
    return importlib.import_module(name), tmp_path / f"{name}.py"


def _trained(module: torch.nn.Module) -> torch.nn.Module:
    """Give BatchNorm non-trivial running statistics, so a load that drops buffers is caught."""
    module.train()
    with torch.no_grad():
        for _ in range(3):
            module(torch.randn(16, 8))
    return module.eval()


@pytest.mark.parametrize("name", ["tiny-cnn", "tiny-transformer", "branchy"])
def test_state_dict_with_zoo_class(tmp_path, name):
    entry = zoo.get(name)
    original = entry.build(seed=5)
    torch.save(original.state_dict(), tmp_path / "w.pt")
    assert detect_kind(tmp_path / "w.pt") == "state_dict"
    loaded = load_source(None, state_dict=str(tmp_path / "w.pt"), model_class=entry.model_class)
    assert loaded.record.kind == "state_dict" and loaded.record.model_class == entry.model_class
    assert loaded.inputs == entry.input_specs() and loaded.output_names == list(entry.output_names)
    assert loaded.warnings == []
    assert_same_outputs(loaded.module, original, loaded.inputs)


def test_state_dict_from_a_file_path_class_with_args(tmp_path, user_module):
    mod, path = user_module
    original = _trained(mod.UserNet(features=8, classes=5))
    torch.save(original.state_dict(), tmp_path / "w.pt")
    loaded = load_source(str(tmp_path / "w.pt"), model_class=f"{path}:UserNet", model_args={"classes": 5})
    assert loaded.record.model_class == f"{path.resolve()}:UserNet"
    assert loaded.record.model_args == {"classes": 5}
    assert loaded.record.state_dict == str((tmp_path / "w.pt").resolve())
    assert loaded.inputs == []  # a user class carries no input metadata: the CLI asks for --input
    assert_same_outputs(loaded.module, original, USER_INPUT)
    assert_same_outputs(reload_source(loaded.record), original, USER_INPUT)


def test_state_dict_from_a_module_class(tmp_path, user_module):
    mod, _ = user_module
    original = _trained(mod.UserNet())
    torch.save(original.state_dict(), tmp_path / "w.pt")
    loaded = load_source(None, state_dict=str(tmp_path / "w.pt"), model_class=f"{mod.__name__}:UserNet")
    assert_same_outputs(loaded.module, original, USER_INPUT)


@pytest.mark.parametrize("key", ["state_dict", "model_state_dict"])
def test_checkpoint_dict_says_which_key_it_used(tmp_path, key):
    original = zoo.get("branchy").build(seed=2)
    torch.save({"epoch": 7, key: original.state_dict(), "optimizer": {"lr": 0.1}}, tmp_path / "ckpt.pt")
    loaded = load_source(None, state_dict=str(tmp_path / "ckpt.pt"), model_class="modelport.zoo.tiny:Branchy")
    assert any(repr(key) in w and "checkpoint" in w for w in loaded.warnings)
    assert_same_outputs(loaded.module, original, loaded.inputs)


def test_dataparallel_prefix_is_stripped_with_a_warning(tmp_path):
    original = zoo.get("tiny-cnn").build(seed=1)
    torch.save(torch.nn.DataParallel(original).state_dict(), tmp_path / "dp.pt")
    loaded = load_source(None, state_dict=str(tmp_path / "dp.pt"), model_class="modelport.zoo.tiny:TinyCNN")
    assert any("'module.'" in w for w in loaded.warnings)
    assert_same_outputs(loaded.module, original, loaded.inputs)


def test_zoo_name_with_state_dict_loads_the_weights_into_the_zoo_model(tmp_path):
    original = zoo.get("tiny-cnn").build(seed=9)
    torch.save(original.state_dict(), tmp_path / "w.pt")
    loaded = load_source("zoo:tiny-cnn", state_dict=str(tmp_path / "w.pt"))
    assert loaded.record.kind == "state_dict" and loaded.record.spec == "zoo:tiny-cnn"
    assert_same_outputs(loaded.module, original, loaded.inputs)
    assert not torch.equal(run(loaded.module, loaded.inputs)[0],
                           run(zoo.get("tiny-cnn").build(seed=0), loaded.inputs)[0])


def test_safetensors_state_dict(tmp_path):
    safetensors = pytest.importorskip("safetensors.torch")
    original = zoo.get("tiny-transformer").build(seed=4)
    safetensors.save_file(original.state_dict(), str(tmp_path / "w.safetensors"))
    assert detect_kind(tmp_path / "w.safetensors") == "state_dict"
    loaded = load_source(None, state_dict=str(tmp_path / "w.safetensors"),
                         model_class="modelport.zoo.tiny:TinyTransformerBlock")
    assert_same_outputs(loaded.module, original, loaded.inputs)


def test_trusted_pickle_loads_and_unwraps_dataparallel(tmp_path, user_module):
    mod, _ = user_module
    original = _trained(mod.UserNet())
    torch.save(torch.nn.DataParallel(original), tmp_path / "full.pt")
    assert detect_kind(tmp_path / "full.pt") == "pickle"
    loaded = load_source(str(tmp_path / "full.pt"), trust_pickle=True)
    assert isinstance(loaded.module, mod.UserNet)
    assert loaded.record.kind == "pickle" and loaded.record.trusted_pickle
    assert loaded.record.model_class == f"{mod.__name__}:UserNet"
    assert any("DataParallel" in w for w in loaded.warnings)
    assert_same_outputs(loaded.module, original, USER_INPUT)
    assert_same_outputs(reload_source(loaded.record, trust_pickle=True), original, USER_INPUT)


def test_legacy_torch_save_format(tmp_path, user_module):
    mod, _ = user_module
    original = _trained(mod.UserNet())
    torch.save(original.state_dict(), tmp_path / "old_sd.pt", _use_new_zipfile_serialization=False)
    torch.save(original, tmp_path / "old_full.pt", _use_new_zipfile_serialization=False)
    assert detect_kind(tmp_path / "old_sd.pt") == "state_dict"
    assert detect_kind(tmp_path / "old_full.pt") == "pickle"
    loaded = load_source(None, state_dict=str(tmp_path / "old_sd.pt"), model_class=f"{mod.__name__}:UserNet")
    assert_same_outputs(loaded.module, original, USER_INPUT)


def _script(module, path, extra: dict[str, str] | None = None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(module), str(path), _extra_files=extra or {})


@pytest.mark.parametrize("with_metadata", [True, False])
def test_torchscript_with_and_without_metadata(tmp_path, with_metadata):
    entry = zoo.get("tiny-cnn")
    original = entry.build(seed=3)
    specs = entry.input_specs()
    extra = {METADATA_FILE: metadata_json(specs, ["logits"])} if with_metadata else None
    _script(original, tmp_path / "m.ts", extra)
    assert detect_kind(tmp_path / "m.ts") == "torchscript"
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # the loader keeps torch's deprecation notice quiet
        loaded = load_source(str(tmp_path / "m.ts"))
    assert loaded.record.kind == "torchscript" and loaded.record.sha256
    assert loaded.inputs == (specs if with_metadata else [])
    assert loaded.output_names == (["logits"] if with_metadata else [])
    assert_same_outputs(loaded.module, original, specs)
    assert_same_outputs(reload_source(loaded.record), original, specs)


def test_torchscript_with_damaged_metadata_loads_with_a_warning(tmp_path):
    original = zoo.get("branchy").build()
    _script(original, tmp_path / "m.pt", {METADATA_FILE: "{not json"})
    loaded = load_source(str(tmp_path / "m.pt"))
    assert loaded.inputs == [] and any(METADATA_FILE in w for w in loaded.warnings)


def _export(module, specs, path, dynamic=True, extra=None):
    example = tuple(torch.from_numpy(a) for a in make_inputs(specs, 0).values())
    shapes = None
    if dynamic:
        batch = torch.export.Dim("batch", min=1, max=64)
        shapes = tuple({0: batch} for _ in specs)  # positional: spec names need not match forward()'s
    program = torch.export.export(module, example, dynamic_shapes=shapes)
    torch.export.save(program, str(path), extra_files=extra)
    return program


def test_pt2_derives_input_specs_with_a_dynamic_batch(tmp_path):
    entry = zoo.get("tiny-cnn")
    original = entry.build(seed=6)
    _export(original, [InputSpec("x", (3, 3, 32, 32))], tmp_path / "m.pt2")
    assert detect_kind(tmp_path / "m.pt2") == "pt2"
    loaded = load_source(str(tmp_path / "m.pt2"))
    assert loaded.record.kind == "pt2" and not loaded.record.was_training
    [spec] = loaded.inputs
    assert spec.name == "x" and spec.dtype == "float32"
    assert spec.shape == (3, 3, 32, 32)  # the example batch, as saved with the program
    assert spec.dynamic_axes == {0: "batch"}
    loaded.module.eval()  # harmless on a loaded program, whose own eval() would raise
    assert not loaded.module.training
    for batch in (1, 5):
        out_loaded = run(loaded.module, [spec], batch=batch)[0]
        torch.testing.assert_close(out_loaded, run(original, [spec], batch=batch)[0], rtol=0, atol=0)
    assert_same_outputs(reload_source(loaded.record), original, [spec])


def test_pt2_static_and_multi_input_specs(tmp_path):
    entry = zoo.get("bert-small")
    original = entry.build(seed=0)
    specs = entry.input_specs()
    _export(original, specs, tmp_path / "bert.model", dynamic=False)  # any file name: kind comes from contents
    loaded = load_source(str(tmp_path / "bert.model"))
    assert [s.name for s in loaded.inputs] == [s.name for s in specs]
    assert [s.shape for s in loaded.inputs] == [s.shape for s in specs]
    assert all(s.dtype == "int64" and s.dynamic_axes == {} for s in loaded.inputs)
    assert_same_outputs(loaded.module, original, specs)


@pytest.mark.parametrize(("dim", "expected"), [(torch.export.Dim.DYNAMIC, 2),
                                             (torch.export.Dim("b", min=4, max=64), 4)])
def test_pt2_dynamic_axis_without_example_uses_its_range_never_one(tmp_path, dim, expected):
    original = torch.nn.Linear(8, 4).eval()
    program = torch.export.export(original, (torch.rand(5, 8),), dynamic_shapes={"input": {0: dim}})
    program.example_inputs = None  # some writers drop them; the size must then come from the range
    torch.export.save(program, str(tmp_path / "m.pt2"))
    loaded = load_source(str(tmp_path / "m.pt2"))
    [spec] = loaded.inputs
    assert spec.name == "input" and spec.dynamic_axes == {0: "batch"} and spec.shape == (expected, 8)
    assert_same_outputs(loaded.module, original, [spec])


def test_pt2_metadata_extra_file_wins(tmp_path):
    entry = zoo.get("tiny-cnn")
    specs = entry.input_specs()
    _export(entry.build(), specs, tmp_path / "m.pt2", extra={METADATA_FILE: metadata_json(specs, ["logits"])})
    loaded = load_source(str(tmp_path / "m.pt2"))
    assert loaded.inputs == specs and loaded.output_names == ["logits"]


def test_training_mode_is_detected_and_switched_off(tmp_path, user_module):
    mod, _ = user_module
    original = _trained(mod.UserNet())
    model = mod.UserNet()
    model.load_state_dict(original.state_dict())
    model.body[3].train()  # one submodule left in training mode is enough to make exports differ
    torch.save(model, tmp_path / "full.pt")
    loaded = load_source(str(tmp_path / "full.pt"), trust_pickle=True)
    assert loaded.record.was_training and TRAINING_WARNING in loaded.warnings
    assert not any(m.training for m in loaded.module.modules())
    assert_same_outputs(loaded.module, original, USER_INPUT)  # dropout off: deterministic, equal to eval()


def test_pt2_exported_in_training_mode_is_switched_to_inference(tmp_path, user_module):
    mod, _ = user_module
    original = _trained(mod.UserNet())
    original.train()
    program = torch.export.export(original, (torch.rand(4, 8),))
    torch.export.save(program, str(tmp_path / "train.pt2"))
    original.eval()
    loaded = load_source(str(tmp_path / "train.pt2"))
    assert loaded.record.was_training and TRAINING_WARNING in loaded.warnings
    specs = [InputSpec("x", (4, 8), "float32", -1.0, 1.0)]
    for x, y in zip(run(loaded.module, specs), run(original, specs), strict=True):
        torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-6)


def test_sha256_of_a_directory_covers_names_and_contents(tmp_path):
    from modelport.sources.base import sha256_path

    d = tmp_path / "d"
    d.mkdir()
    (d / "a").write_text("1")
    (d / "b").write_text("2")
    h = sha256_path(d)
    (d / "b").write_text("3")
    assert sha256_path(d) != h
    (d / "b").write_text("2")
    assert sha256_path(d) == h
    (d / "b").rename(d / "c")
    assert sha256_path(d) != h
    assert json.dumps(h)  # a plain hex string, manifest-ready


def test_class_file_can_import_its_neighbours(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "blocks.py").write_text("from torch import nn\n\ndef block(n):\n    return nn.Linear(n, n)\n")
    (tmp_path / "pkg" / "net.py").write_text(
        "from torch import nn\nfrom blocks import block\n\n\nclass Net(nn.Module):\n"
        "    def __init__(self, n=8):\n        super().__init__()\n        self.a = block(n)\n\n"
        "    def forward(self, x):\n        return self.a(x).relu()\n")
    spec = f"{tmp_path / 'pkg' / 'net.py'}:Net"
    from modelport.sources.classes import import_model_class

    original = import_model_class(spec)()
    torch.save(original.state_dict(), tmp_path / "w.pt")
    loaded = load_source(None, state_dict=str(tmp_path / "w.pt"), model_class=spec)
    assert_same_outputs(loaded.module, original, USER_INPUT)


def test_safetensors_with_a_dataparallel_prefix(tmp_path):
    safetensors = pytest.importorskip("safetensors.torch")
    original = zoo.get("branchy").build(seed=8)
    safetensors.save_file(torch.nn.DataParallel(original).state_dict(), str(tmp_path / "w.safetensors"))
    loaded = load_source(str(tmp_path / "w.safetensors"), model_class="modelport.zoo.tiny:Branchy")
    assert any("'module.'" in w for w in loaded.warnings)
    assert_same_outputs(loaded.module, original, loaded.inputs)


def test_checkpoint_with_python_objects_needs_trust(tmp_path):
    import argparse

    from modelport.errors import UnsafePickleError

    original = zoo.get("branchy").build(seed=4)
    torch.save({"args": argparse.Namespace(lr=0.1), "state_dict": original.state_dict()}, tmp_path / "ckpt.pt")
    options = {"state_dict": str(tmp_path / "ckpt.pt"), "model_class": "modelport.zoo.tiny:Branchy"}
    with pytest.raises(UnsafePickleError, match=r"holds pickled Python objects, not only tensors \(it names "
                                                r"argparse.Namespace\).*--trust-pickle"):
        load_source(None, **options)
    loaded = load_source(None, trust_pickle=True, **options)
    assert loaded.record.trusted_pickle and any("'state_dict' entry" in w for w in loaded.warnings)
    assert_same_outputs(loaded.module, original, loaded.inputs)
    with pytest.raises(UnsafePickleError):
        reload_source(loaded.record)  # a manifest is no consent to run the file's code
    assert_same_outputs(reload_source(loaded.record, trust_pickle=True), original, loaded.inputs)
