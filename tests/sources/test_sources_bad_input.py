"""Every unusable source gives one ModelportError line naming the problem and the way out, and writes nothing."""

from __future__ import annotations

import importlib
import warnings
import zipfile

import pytest
import torch
from helpers.sources import write_user_module

from modelport import zoo
from modelport.errors import InputError, UnsafePickleError
from modelport.sources import load_source, parse_model_args, reload_source


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def refused(tmp_path, match: str, error=InputError, **kwargs):
    """load_source(**kwargs) must fail with one line matching ``match`` and leave tmp_path as it was."""
    before = _files(tmp_path)
    source = kwargs.pop("source", None)
    with pytest.raises(error, match=match) as info:
        load_source(source, **kwargs)
    assert "\n" not in info.value.message
    assert info.value.exit_code == 2
    assert _files(tmp_path) == before
    return info.value.message


@pytest.fixture
def user_mod(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    return importlib.import_module(write_user_module(tmp_path))


def test_missing_source_file(tmp_path):
    refused(tmp_path, r"source '.*nope.pt' does not exist", source=str(tmp_path / "nope.pt"))


def test_missing_state_dict_file(tmp_path):
    refused(tmp_path, r"state_dict file '.*w.pt' does not exist", state_dict=str(tmp_path / "w.pt"),
            model_class="modelport.zoo.tiny:TinyCNN")


def test_text_file_is_not_a_model(tmp_path):
    (tmp_path / "notes.pt").write_text("these are not weights\n")
    refused(tmp_path, r"notes.pt' is not a PyTorch model file; expected a torch.save file, a TorchScript archive",
            source=str(tmp_path / "notes.pt"))


def test_empty_file(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    refused(tmp_path, r"empty.pt' is empty", source=str(tmp_path / "empty.pt"))


def test_truncated_archive(tmp_path):
    torch.save(zoo.get("tiny-cnn").build().state_dict(), tmp_path / "full.pt")
    data = (tmp_path / "full.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    refused(tmp_path, r"cut.pt' is a truncated or corrupt zip archive.*re-save or re-download",
            state_dict=str(tmp_path / "cut.pt"), model_class="modelport.zoo.tiny:TinyCNN")
    refused(tmp_path, r"cut.pt' is a truncated or corrupt zip archive", source=str(tmp_path / "cut.pt"))


def test_zip_that_is_not_pytorch(tmp_path):
    with zipfile.ZipFile(tmp_path / "docs.pt", "w") as z:
        z.writestr("docs/readme.txt", "hello")
    refused(tmp_path, r"docs.pt' is a zip archive but not a PyTorch file", source=str(tmp_path / "docs.pt"))


def test_directory_that_is_not_hugging_face(tmp_path):
    (tmp_path / "d").mkdir()
    refused(tmp_path, r"directory '.*d' has no config.json", source=str(tmp_path / "d"))


def test_state_dict_class_mismatch_quotes_torch_on_one_line(tmp_path):
    torch.save(zoo.get("tiny-cnn").build().state_dict(), tmp_path / "w.pt")
    msg = refused(tmp_path, r"state_dict does not fit modelport.zoo.tiny:TinyCNN: size mismatch for fc.weight: "
                            r"copying a param with shape \[10, 32\] from checkpoint, the shape in current model is "
                            r"\[5, 32\]",
                  state_dict=str(tmp_path / "w.pt"), model_class="modelport.zoo.tiny:TinyCNN",
                  model_args={"num_classes": 5})
    assert msg.endswith("check --model-class and --model-args")


def test_state_dict_missing_and_unexpected_keys(tmp_path):
    sd = zoo.get("branchy").build().state_dict()
    sd["extra.weight"] = torch.zeros(1)
    del sd["linear.bias"]
    torch.save(sd, tmp_path / "w.pt")
    refused(tmp_path, r"Missing key\(s\) in state_dict: \"linear.bias\"; Unexpected key\(s\) in state_dict: "
                      r"\"extra.weight\"", state_dict=str(tmp_path / "w.pt"), model_class="modelport.zoo.tiny:Branchy")


def test_state_dict_for_a_different_model(tmp_path):
    torch.save(zoo.get("branchy").build().state_dict(), tmp_path / "w.pt")
    msg = refused(tmp_path, r"does not fit modelport.zoo.tiny:TinyCNN: Missing key\(s\) in state_dict: "
                            r"\"features.0.weight\", .*, \.\.\. \(2 more\); Unexpected key\(s\) in state_dict: "
                            r"\"linear.weight\", \"linear.bias\"",
                  state_dict=str(tmp_path / "w.pt"), model_class="modelport.zoo.tiny:TinyCNN")
    assert msg.count("features.") == 12


def test_state_dict_without_a_class(tmp_path):
    torch.save(zoo.get("branchy").build().state_dict(), tmp_path / "w.pt")
    refused(tmp_path, r"'.*w.pt' is a state_dict \(weights only\).*pass --model-class MODULE:CLASS",
            source=str(tmp_path / "w.pt"))
    refused(tmp_path, r"--state-dict '.*w.pt' needs the class its weights belong to; pass --model-class",
            state_dict=str(tmp_path / "w.pt"))


def test_something_that_is_not_a_state_dict(tmp_path):
    torch.save({"epoch": 3, "lr": 0.1}, tmp_path / "meta.pt")
    refused(tmp_path, r"meta.pt' is not a state_dict: it holds a dict with keys 'epoch', 'lr'",
            state_dict=str(tmp_path / "meta.pt"), model_class="modelport.zoo.tiny:Branchy")


def test_torchscript_given_as_state_dict(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(zoo.get("branchy").build()), str(tmp_path / "m.ts"))
    refused(tmp_path, r"m.ts' is a torchscript model, not a state_dict; pass it as the SOURCE",
            state_dict=str(tmp_path / "m.ts"), model_class="modelport.zoo.tiny:Branchy")


@pytest.mark.parametrize(("spec", "match"), [
    ("modelport.zoo.nothere:Net", r"module 'modelport.zoo.nothere' cannot be imported: No module named "
                                  r"'modelport.zoo.nothere'; install it, add its directory to PYTHONPATH"),
    ("modelport.zoo.tiny:NoSuchNet", r"'modelport.zoo.tiny' has no attribute 'NoSuchNet'; nn.Module classes there: "
                                     r"Branchy, TinyCNN, TinyTransformerBlock"),
    ("{tmp}/absent.py:Net", r"model class file '.*absent.py' does not exist"),
    ("{tmp}/broken.py:Net", r"model class file '.*broken.py' has a syntax error at line 2: "),
    ("{tmp}/raises.py:Net", r"importing model class file '.*raises.py' failed: ImportError: no GPU library here"),
    ("TinyCNN", r"--model-class 'TinyCNN' is not MODULE:CLASS"),
    ("modelport.zoo.tiny:math", r"'modelport.zoo.tiny:math' is a module, not a class"),
])
def test_class_that_cannot_be_imported(tmp_path, spec, match):
    (tmp_path / "broken.py").write_text("import torch\nclass Net(torch.nn.Module)\n    pass\n")
    (tmp_path / "raises.py").write_text("raise ImportError('no GPU library here')\n")
    torch.save(zoo.get("branchy").build().state_dict(), tmp_path / "w.pt")
    refused(tmp_path, match, state_dict=str(tmp_path / "w.pt"), model_class=spec.format(tmp=tmp_path))


def test_constructor_arguments_that_do_not_fit(tmp_path):
    torch.save(zoo.get("branchy").build().state_dict(), tmp_path / "w.pt")
    refused(tmp_path, r"cannot construct modelport.zoo.tiny:Branchy with --model-args \{'width': 3\}: .*"
                      r"unexpected keyword argument 'width'",
            state_dict=str(tmp_path / "w.pt"), model_class="modelport.zoo.tiny:Branchy", model_args={"width": 3})


def test_pickled_model_refused_without_running_its_code(tmp_path, user_mod):
    marker = tmp_path / "marker"
    model = user_mod.Booby()
    model._marker = str(marker)
    torch.save(model, tmp_path / "full.pt")
    msg = refused(tmp_path, r"full.pt' is a whole pickled model", UnsafePickleError, source=str(tmp_path / "full.pt"))
    assert f"(it names {user_mod.__name__}.Booby, torch.nn.modules.linear.Linear)" in msg
    assert "loading it would execute code from the file" in msg
    assert "--state-dict FILE --model-class MODULE:CLASS" in msg and "--trust-pickle" in msg
    assert not marker.exists()
    # The marker proves the test can see code running: trusting the file runs it.
    loaded = load_source(str(tmp_path / "full.pt"), trust_pickle=True)
    assert marker.exists() and isinstance(loaded.module, user_mod.Booby)


def test_pickled_model_refused_when_given_as_state_dict(tmp_path, user_mod):
    torch.save(user_mod.UserNet(), tmp_path / "full.pt")
    msg = refused(tmp_path, r"full.pt' holds pickled Python objects, not only tensors", UnsafePickleError,
                  state_dict=str(tmp_path / "full.pt"), model_class=f"{user_mod.__name__}:UserNet")
    assert f"{user_mod.__name__}.UserNet" in msg


def test_trusted_pickle_that_holds_a_dict(tmp_path, user_mod):
    torch.save({"config": user_mod.UserNet, "weights": {}}, tmp_path / "ckpt.pt")
    refused(tmp_path, r"ckpt.pt' holds a dict \(a state_dict or checkpoint\), not a model; pass --model-class",
            source=str(tmp_path / "ckpt.pt"), trust_pickle=True)


def test_trusted_pickle_whose_class_is_gone(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    name = write_user_module(tmp_path)
    torch.save(importlib.import_module(name).UserNet(), tmp_path / "full.pt")
    (tmp_path / f"{name}.py").unlink()
    monkeypatch.delitem(__import__("sys").modules, name)
    refused(tmp_path, rf"needs code that cannot be imported: No module named '{name}'; make module '{name}' "
                      r"importable", source=str(tmp_path / "full.pt"), trust_pickle=True)


def test_unknown_zoo_name(tmp_path):
    refused(tmp_path, r"unknown zoo model 'resnet5'; known: resnet50", source="zoo:resnet5")


def test_conflicting_options(tmp_path):
    refused(tmp_path, r"give either zoo:NAME or --model-class", source="zoo:branchy", model_class="a:B")
    refused(tmp_path, r"no model source given", source=None)
    refused(tmp_path, r"--model-class needs the weights", model_class="modelport.zoo.tiny:Branchy")


@pytest.mark.parametrize(("text", "match"), [
    ("{num_classes: 5}", r"--model-args is not valid JSON \(Expecting property name enclosed in double quotes"),
    ("[5]", r"--model-args must be a JSON object of keyword arguments, got list"),
])
def test_invalid_model_args(text, match):
    with pytest.raises(InputError, match=match):
        parse_model_args(text)


def test_model_args_parse():
    assert parse_model_args('{"num_classes": 5, "width": 8}') == {"num_classes": 5, "width": 8}
    assert parse_model_args(None) == {} and parse_model_args("  ") == {}


def test_reload_detects_a_changed_or_missing_source(tmp_path):
    torch.save(zoo.get("branchy").build(seed=1).state_dict(), tmp_path / "w.pt")
    record = load_source(None, state_dict=str(tmp_path / "w.pt"), model_class="modelport.zoo.tiny:Branchy").record
    assert record.sha256 and record.state_dict == str((tmp_path / "w.pt").resolve())
    reload_source(record)  # unchanged: fine
    torch.save(zoo.get("branchy").build(seed=2).state_dict(), tmp_path / "w.pt")
    with pytest.raises(InputError, match=r"w.pt' has changed since the run was made \(sha256 differs"):
        reload_source(record)
    (tmp_path / "w.pt").unlink()
    with pytest.raises(InputError, match=r"w.pt' recorded in the manifest no longer exists"):
        reload_source(record)


def test_reload_of_a_pickle_needs_trust_again(tmp_path, user_mod):
    torch.save(user_mod.UserNet(), tmp_path / "full.pt")
    record = load_source(str(tmp_path / "full.pt"), trust_pickle=True).record
    with pytest.raises(UnsafePickleError, match="--trust-pickle"):
        reload_source(record)
    assert isinstance(reload_source(record, trust_pickle=True), user_mod.UserNet)
