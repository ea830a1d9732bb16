"""What a Hugging Face model takes, read from its forward signature and config: input names, dtypes, value
ranges, example shapes and dynamic axes per modality (text, image, audio, multimodal), and the one wrapper that
calls the model by keyword and returns its tensor outputs as a tuple.

The rule (docs/decisions.md "## Hugging Face inputs: from the forward signature"): the model's main inputs
(``input_ids``, ``pixel_values``, ``input_values``, ``input_features``) that its forward takes, their usual
companions (``attention_mask``, ``token_type_ids``; ``pixel_mask``) when the forward takes them, and every
parameter without a default. Optional inputs transformers derives itself (``position_ids``, ``head_mask``,
``inputs_embeds``) stay out, as in optimum's export configs, so a user feeds what a tokenizer or processor gives.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from modelport.errors import InputError
from modelport.spec import InputSpec

EXAMPLE_BATCH, EXAMPLE_SEQ, NUM_CHOICES = 2, 16, 3
#: wav2vec2-style models hear 16 kHz audio; one second is an utterance's order of magnitude
AUDIO_RATE, AUDIO_SECONDS = 16_000, 1.0
_MAIN = ("input_ids", "pixel_values", "input_values", "input_features")
_COMPANIONS = {"input_ids": ("attention_mask", "token_type_ids"), "pixel_values": ("pixel_mask",)}
_SKIP = {"self", "return_dict", "kwargs", "args"}


def _sub(config: Any, part: str) -> Any:
    """The text or vision part of a multimodal config (CLIP's text_config), else the config itself."""
    return getattr(config, part, None) or config


def _int(value: Any, default: int) -> int:
    if isinstance(value, (list, tuple)):
        value = value[0]
    if isinstance(value, dict):  # image processors' {"height": .., "width": ..}
        value = value.get("height", default)
    return int(value) if value else default


def _text(name: str, config: Any, task: str) -> InputSpec:
    text = _sub(config, "text_config")
    seq = min(EXAMPLE_SEQ, _int(getattr(text, "max_position_embeddings", None), EXAMPLE_SEQ))
    if task == "multiple-choice":
        shape, axes = (EXAMPLE_BATCH, NUM_CHOICES, seq), {0: "batch", 1: "choices", 2: "sequence"}
    else:
        shape, axes = (EXAMPLE_BATCH, seq), {0: "batch", 1: "sequence"}
    if name == "input_ids":
        return InputSpec(name, shape, "int64", 0, int(text.vocab_size), axes)
    if name == "attention_mask":
        return InputSpec(name, shape, "int64", 0, 2, axes, pattern="padding-mask")
    if name == "token_type_ids":  # type_vocab_size 0 (deberta-v2): all zeros, and the graph does not use it
        return InputSpec(name, shape, "int64", 0, max(1, int(getattr(text, "type_vocab_size", 1) or 0)), axes)
    # position_ids, when a model requires them
    return InputSpec(name, shape, "int64", 0, seq, axes)


def _image(name: str, config: Any) -> InputSpec:
    vision = _sub(config, "vision_config")
    size = _int(getattr(vision, "image_size", None), 224)
    if name == "pixel_mask":  # every pixel real: no padding of a batch of equal-size images
        return InputSpec(name, (EXAMPLE_BATCH, size, size), "int64", 1, 2, {0: "batch"})
    channels = _int(getattr(vision, "num_channels", None), 3)
    return InputSpec(name, (EXAMPLE_BATCH, channels, size, size), "float32", -1.0, 1.0, {0: "batch"})


def _audio(name: str, config: Any) -> InputSpec:
    if name == "input_values":  # raw waveform, normalised as wav2vec2's feature extractor does
        samples = int(AUDIO_RATE * AUDIO_SECONDS)
        return InputSpec(name, (EXAMPLE_BATCH, samples), "float32", -1.0, 1.0, {0: "batch", 1: "samples"})
    mels = getattr(config, "num_mel_bins", None)
    positions = getattr(config, "max_source_positions", None)
    if mels and positions:  # whisper: log-mel frames, always padded to the full window (2 frames a position)
        return InputSpec(name, (EXAMPLE_BATCH, int(mels), 2 * int(positions)), "float32", -1.0, 1.0, {0: "batch"})
    features = getattr(config, "input_feat_per_channel", None)
    if features:  # speech_to_text: (frames, features) filter banks
        channels = int(getattr(config, "input_channels", 1) or 1)
        return InputSpec(name, (EXAMPLE_BATCH, 64, int(features) * channels), "float32", -1.0, 1.0,
                         {0: "batch", 1: "frames"})
    raise InputError(f"{type(config).__name__} takes input_features of a layout modelport does not know",
                     "pass --input input_features:SHAPE:float32")


def spec_for(name: str, config: Any, task: str) -> InputSpec | None:
    """The spec of input ``name`` for this config and task; None for a name modelport cannot generate."""
    if name in ("input_ids", "attention_mask", "token_type_ids", "position_ids"):
        return _text(name, config, task)
    if name in ("pixel_values", "pixel_mask"):
        return _image(name, config)
    if name in ("input_values", "input_features"):
        return _audio(name, config)
    return None


def input_names(model: nn.Module) -> list[str]:
    """The inputs to feed, in the forward signature's order (see the module docstring for the rule)."""
    params = inspect.signature(model.forward).parameters
    kinds = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    required = {n for n, p in params.items() if p.default is inspect.Parameter.empty and p.kind not in kinds}
    wanted = {n for n in _MAIN if n in params}
    wanted |= {c for n in wanted for c in _COMPANIONS.get(n, ()) if c in params}
    return [n for n in params if (n in wanted or n in required) and n not in _SKIP]


def input_specs(model: nn.Module, task: str) -> list[InputSpec]:
    """Specs for every input ``input_names`` picks; a required input modelport cannot generate is refused."""
    names = input_names(model)
    if not names:
        raise InputError(f"the Hugging Face model {type(model).__name__} takes none of {', '.join(_MAIN)}",
                         "wrap it in your own nn.Module and use --state-dict/--model-class")
    specs = []
    for name in names:
        spec = spec_for(name, model.config, task)
        if spec is None:
            raise InputError(f"the Hugging Face model {type(model).__name__} requires an input {name!r} that "
                             "modelport cannot generate", f"pass --input {name}:SHAPE[:DTYPE[:LOW,HIGH]]")
        specs.append(spec)
    return specs


def tensors(out: Any) -> tuple[torch.Tensor, ...]:
    """The tensor fields of a transformers ModelOutput, in field order (None fields are absent from it)."""
    return tuple(v for v in out.values() if isinstance(v, torch.Tensor))


class KeywordCall(nn.Module):
    """Calls a transformers model with its inputs by keyword and returns a tuple of tensors.

    Built per input list by ``keyword_call``, whose subclass declares the input names as forward's signature:
    torch.export binds dynamic shapes and the exporters name inputs by it.
    """

    def __init__(self, model: nn.Module, names: list[str]) -> None:
        super().__init__()
        self.model = model
        self.names = tuple(names)

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tensors(self.model(**dict(zip(self.names, args, strict=True)), return_dict=True))


_CLASSES: dict[tuple[str, ...], type[KeywordCall]] = {}


def keyword_call(model: nn.Module, names: list[str]) -> KeywordCall:
    """A ``KeywordCall`` of ``model`` whose ``forward`` signature is ``(self, <names>)``."""
    key = tuple(names)
    if key not in _CLASSES:
        def forward(self: KeywordCall, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
            return KeywordCall.forward(self, *args)

        positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
        forward.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter("self", positional)] +
            [inspect.Parameter(n, positional, annotation=torch.Tensor) for n in names])
        _CLASSES[key] = type(f"KeywordCall_{len(_CLASSES)}", (KeywordCall,), {"forward": forward})
    return _CLASSES[key](model, names)
