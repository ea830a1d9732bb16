"""Generative Hugging Face tasks: a model exported as components under one artifact, driven by greedy decoding.

- text-generation: one graph ``model`` (input_ids, attention_mask[, position_ids] -> logits).
- text-generation-with-past: ``decoder_model`` (the prompt -> logits + present) and
  ``decoder_with_past_model`` (one token + past -> logits + present), as Optimum names them.
- text2text-generation(-with-past), automatic-speech-recognition(-with-past) on encoder-decoders:
  ``encoder_model``, ``decoder_model`` and (with past) ``decoder_with_past_model``.

``describe`` gives the components with their input specs, output names and realistic example inputs (the past
comes from running the eager model on a prompt, so it has a non-zero length); ``plan`` is what the greedy loop
(``hf_greedy``) needs to drive the exported files without the eager model (docs/decisions.md, "Generative
models: components and a flat past").
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from modelport.errors import InputError
from modelport.manifest import SourceRecord
from modelport.sources import hf
from modelport.sources.base import LoadedModel, finish, sha256_path
from modelport.sources.hf_past import (
    CAUSAL_ENTRIES,
    SEQ2SEQ_ENTRIES,
    CausalStep,
    EncoderStep,
    Seq2SeqStep,
    past_names,
    present_names,
)
from modelport.spec import InputSpec

#: example sizes: never 1 on a dynamic axis (docs/decisions.md, "Dynamic axes: example size 2")
BATCH, PROMPT, DECODED = 2, 6, 3
_AUTO = {"text-generation": "AutoModelForCausalLM", "text-generation-with-past": "AutoModelForCausalLM",
         "text2text-generation": "AutoModelForSeq2SeqLM", "text2text-generation-with-past": "AutoModelForSeq2SeqLM",
         "automatic-speech-recognition": "AutoModelForSpeechSeq2Seq",
         "automatic-speech-recognition-with-past": "AutoModelForSpeechSeq2Seq"}


@dataclass
class ComponentSource:
    """One graph of a generative model, before export."""

    name: str  # decoder_model, decoder_with_past_model, encoder_model, model
    module: nn.Module
    inputs: list[InputSpec]
    output_names: list[str]
    example: dict[str, np.ndarray]  # realistic inputs: token ids in the vocabulary, a past of non-zero length
    output_axes: dict[str, dict[int, str]] = field(default_factory=dict)


def family(model: nn.Module) -> str:
    if not getattr(model.config, "is_encoder_decoder", False):
        return "causal"
    return "speech" if "input_features" in inspect.signature(model.forward).parameters else "seq2seq"


def _layers(model: nn.Module) -> int:
    c = model.config
    for key in ("num_hidden_layers", "n_layer", "decoder_layers", "num_decoder_layers", "num_layers"):
        value = getattr(c, key, None)
        if c.is_encoder_decoder and key in ("num_hidden_layers", "n_layer"):
            continue
        if isinstance(value, int) and value > 0:
            return value
    raise InputError(f"cannot tell how many decoder layers {type(model).__name__} has from its config")


def _ids(value: Any) -> list[int]:
    if value is None:
        return []
    return [int(v) for v in (value if isinstance(value, (list, tuple)) else [value])]


def plan(model: nn.Module, task: str) -> dict[str, Any]:
    """What the greedy loop needs, as JSON: the family, past or not, layers and the special token ids."""
    gc = model.generation_config
    eos = _ids(gc.eos_token_id if gc.eos_token_id is not None else model.config.eos_token_id)
    pad = gc.pad_token_id if gc.pad_token_id is not None else model.config.pad_token_id
    start = gc.decoder_start_token_id if gc.decoder_start_token_id is not None else \
        getattr(model.config, "decoder_start_token_id", None)
    fam = family(model)
    params = inspect.signature(model.forward).parameters
    return {"task": task, "family": fam, "with_past": task.endswith("-with-past"), "layers": _layers(model),
            "vocab": int(model.config.vocab_size), "eos": eos,
            "pad": int(pad) if pad is not None else (eos[0] if eos else 0),
            "start": int(_ids(start)[0]) if _ids(start) else None,
            "position_ids": fam == "causal" and "position_ids" in params, "encoder_mask": fam == "seq2seq"}


def prompt_inputs(model: nn.Module, batch: int, length: int, seed: int) -> dict[str, np.ndarray]:
    """Seeded prompts: token ids in the vocabulary with a full mask, or log-mel features of the configured size."""
    rng = np.random.default_rng(seed)
    if family(model) == "speech":
        c = model.config
        frames = 2 * int(c.max_source_positions)  # the encoder's two stride-2 convolutions halve it
        return {"input_features": rng.standard_normal((batch, int(c.num_mel_bins), frames)).astype(np.float32)}
    ids = rng.integers(0, int(model.config.vocab_size), (batch, length), dtype=np.int64)
    return {"input_ids": ids, "attention_mask": np.ones((batch, length), dtype=np.int64)}


def pad_last_row(prompt: dict[str, np.ndarray], plan: dict[str, Any], pad: int = 2) -> dict[str, np.ndarray]:
    """The prompt with its last row ``pad`` tokens shorter: padded on the left for a decoder (as ``generate``
    expects), on the right for an encoder; speech features are returned as they are."""
    if "attention_mask" not in prompt or prompt["attention_mask"].shape[0] < 2:
        return prompt
    out = {k: v.copy() for k, v in prompt.items()}
    cols = slice(0, pad) if plan["family"] == "causal" else slice(-pad, None)
    out["attention_mask"][-1, cols] = 0
    out["input_ids"][-1, cols] = plan["pad"]
    return out


def _spec(name: str, value: np.ndarray, axes: dict[int, str], high: float = 1.0, low: float = 0.0) -> InputSpec:
    return InputSpec(name, tuple(value.shape), str(value.dtype), low, high, axes)


def _run(module: nn.Module, feed: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    with torch.inference_mode():
        return tuple(t.numpy() for t in module(*(torch.from_numpy(v) for v in feed.values())))


def _causal(model: nn.Module, p: dict[str, Any], seed: int, batch: int, length: int) -> list[ComponentSource]:
    prompt = prompt_inputs(model, batch, length, seed)
    ids, mask = prompt["input_ids"], prompt["attention_mask"]
    feed: dict[str, np.ndarray] = {"input_ids": ids, "attention_mask": mask}
    seq = {0: "batch", 1: "sequence"}
    specs = [_spec("input_ids", ids, seq, p["vocab"]), _spec("attention_mask", mask, seq, 2)]
    if p["position_ids"]:
        feed["position_ids"] = np.broadcast_to(np.arange(length), ids.shape).copy()
        specs.append(_spec("position_ids", feed["position_ids"], seq, length))
    presents = present_names(p["layers"], CAUSAL_ENTRIES)
    if not p["with_past"]:
        module = CausalStep(model, past_in=False, present_out=False, position_ids=p["position_ids"])
        return [ComponentSource("model", module, specs, ["logits"], feed, {"logits": dict(seq)})]
    first = CausalStep(model, past_in=False, present_out=True, position_ids=p["position_ids"])
    total = {0: "batch", 2: "total_sequence"}
    axes = {"logits": dict(seq), **{n: dict(total) for n in presents}}
    out = _run(first, feed)
    # one new token after the prompt's past: input_ids (batch, 1), the mask over past + 1
    step = {"input_ids": out[0][:, -1:].argmax(-1).astype(np.int64),
            "attention_mask": np.ones((batch, length + 1), dtype=np.int64)}
    one = {0: "batch"}
    sspecs = [_spec("input_ids", step["input_ids"], one, p["vocab"]),
              _spec("attention_mask", step["attention_mask"], {0: "batch", 1: "total_sequence"}, 2)]
    if p["position_ids"]:
        step["position_ids"] = np.full((batch, 1), length, dtype=np.int64)
        sspecs.append(_spec("position_ids", step["position_ids"], one, length + 1))
    for name, value in zip(past_names(p["layers"], CAUSAL_ENTRIES), out[1:], strict=True):
        step[name] = value
        sspecs.append(_spec(name, value, {0: "batch", 2: "past_sequence"}, 1.0, -1.0))
    second = CausalStep(model, past_in=True, present_out=True, position_ids=p["position_ids"])
    return [ComponentSource("decoder_model", first, specs, ["logits", *presents], feed, axes),
            ComponentSource("decoder_with_past_model", second, sspecs, ["logits", *presents], step,
                            {"logits": {0: "batch"}, **{n: dict(total) for n in presents}})]


def _encoder_decoder(model: nn.Module, p: dict[str, Any], seed: int, batch: int,
                     length: int) -> list[ComponentSource]:
    speech = p["family"] == "speech"
    prompt = prompt_inputs(model, batch, length, seed)
    enc = EncoderStep(model, speech)
    src = {0: "batch", 1: "encoder_sequence"}
    if speech:
        especs = [_spec("input_features", prompt["input_features"], {0: "batch"}, 1.0, -1.0)]
    else:
        especs = [_spec(n, v, src, p["vocab"] if n == "input_ids" else 2) for n, v in prompt.items()]
    hidden = _run(enc, prompt)[0]
    hid_axes = {0: "batch", 1: "encoder_sequence"}
    components = [ComponentSource("encoder_model", enc, especs, ["last_hidden_state"], dict(prompt),
                                  {"last_hidden_state": hid_axes})]
    start = p["start"] if p["start"] is not None else 0
    dec = {"decoder_input_ids": np.full((batch, DECODED), start, dtype=np.int64)}
    dspecs = [_spec("decoder_input_ids", dec["decoder_input_ids"], {0: "batch", 1: "decoder_sequence"}, p["vocab"])]
    if p["encoder_mask"]:
        dec["encoder_attention_mask"] = prompt["attention_mask"]
        dspecs.append(_spec("encoder_attention_mask", prompt["attention_mask"], src, 2))
    dec["encoder_hidden_states"] = hidden
    dspecs.append(_spec("encoder_hidden_states", hidden, hid_axes, 1.0, -1.0))
    first = Seq2SeqStep(model, past_in=False, encoder_mask=p["encoder_mask"])
    presents = present_names(p["layers"], SEQ2SEQ_ENTRIES)
    self_axes, cross_axes = {0: "batch", 2: "decoder_total_sequence"}, {0: "batch", 2: "encoder_sequence"}
    axes = {"logits": {0: "batch", 1: "decoder_sequence"},
            **{n: dict(cross_axes if ".encoder." in n else self_axes) for n in presents}}
    components.append(ComponentSource("decoder_model", first, dspecs, ["logits", *presents], dec, axes))
    if not p["with_past"]:
        return components
    out = _run(first, dec)
    step = {"decoder_input_ids": out[0][:, -1:].argmax(-1).astype(np.int64)}
    sspecs = [_spec("decoder_input_ids", step["decoder_input_ids"], {0: "batch"}, p["vocab"])]
    for name in ("encoder_attention_mask", "encoder_hidden_states"):
        if name in dec:
            step[name] = dec[name]
            sspecs.append(next(s for s in dspecs if s.name == name))
    for name, value in zip(past_names(p["layers"], SEQ2SEQ_ENTRIES), out[1:], strict=True):
        step[name] = value
        past_axes = {0: "batch", 2: "encoder_sequence" if ".encoder." in name else "past_decoder_sequence"}
        sspecs.append(_spec(name, value, past_axes, 1.0, -1.0))
    self_presents = [n for n in presents if ".decoder." in n]
    second = Seq2SeqStep(model, past_in=True, encoder_mask=p["encoder_mask"])
    components.append(ComponentSource("decoder_with_past_model", second, sspecs, ["logits", *self_presents], step,
                                      {"logits": {0: "batch"}, **{n: dict(self_axes) for n in self_presents}}))
    return components


def describe(model: nn.Module, task: str, seed: int = 0, batch: int = BATCH,
             length: int = PROMPT) -> tuple[dict[str, Any], list[ComponentSource]]:
    """The generation plan and the components of ``model`` for ``task``, with realistic example inputs
    (``batch`` prompts of ``length`` tokens; the past of the with-past decoder is that long)."""
    p = plan(model, task)
    expected = {"causal": ("text-generation",), "seq2seq": ("text2text-generation",),
                "speech": ("automatic-speech-recognition",)}[p["family"]]
    if task.removesuffix("-with-past") not in expected:
        raise InputError(f"task {task!r} does not fit {type(model).__name__} (a {p['family']} model)",
                         f"use --task {expected[0]} or {expected[0]}-with-past")
    torch.manual_seed(seed)
    build = _causal if p["family"] == "causal" else _encoder_decoder
    comps = build(model, p, seed, batch, length)
    for c in comps:
        c.module.eval()
    return p, comps


def read(path: Path, task: str, trust_remote_code: bool) -> tuple[nn.Module, str]:
    """The model of ``task``'s Auto class, in eval(); its special token ids checked against its vocabulary."""
    model, class_name = hf.read_model(path, _AUTO[task], trust_remote_code)
    model.eval()
    _check_token_ids(model, path)
    return model, class_name


def _check_token_ids(model: nn.Module, path: Path) -> None:
    """A bos/eos/pad/decoder-start id past the vocabulary (a config copied from a larger model) would make
    generation index out of range deep inside transformers: name it here instead."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    vocab = head.weight.shape[0] if head is not None else getattr(model.config, "vocab_size", None)
    if not vocab:
        return
    configs = [model.config, getattr(model, "generation_config", None)]
    for key in ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id"):
        for config in configs:
            value = getattr(config, key, None)
            ids = value if isinstance(value, (list, tuple)) else [value]
            bad = [i for i in ids if isinstance(i, int) and not 0 <= i < vocab]
            if bad:
                raise InputError(f"{key} {bad[0]} in {str(path)!r} is outside the model's vocabulary of {vocab} "
                                 "tokens, so generation cannot run",
                                 f"set {key} in config.json / generation_config.json to an id below {vocab}")


def load(spec: str, path: Path, task: str, trust_remote_code: bool = False) -> LoadedModel:
    """A generative task: the LoadedModel's ``components`` carry the graphs; ``module`` is the whole model."""
    if task not in _AUTO:
        raise InputError(f"task {task!r} is not generative", f"use one of {', '.join(_AUTO)}")
    model, class_name = read(path, task, trust_remote_code)
    p, comps = describe(model, task)
    record = SourceRecord(kind="hf", spec=spec, path=str(path), sha256=sha256_path(path), model_class=class_name,
                          trusted_remote_code=trust_remote_code, task=task)
    loaded = finish(model, list(comps[0].inputs), list(comps[0].output_names), record)
    loaded.components = comps
    loaded.generation = p
    return loaded


def rebuild(record: SourceRecord, path: Path, trust_remote_code: bool = False) -> nn.Module:
    """The whole eager model again (the reference of every component and of ``generate``)."""
    task = record.task
    if task not in _AUTO:
        raise InputError(f"the manifest's task {task!r} is not generative", "re-run modelport convert")
    return read(path, task, trust_remote_code)[0]
