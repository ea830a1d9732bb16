"""Generative Hugging Face models as graphs of plain tensors: past key values flattened in and out.

transformers 5 keeps the KV cache in ``DynamicCache`` / ``EncoderDecoderCache`` objects, which no exporter
carries across a graph boundary. Each wrapper here takes the past as a flat tuple of tensors in Optimum's
order and names (``past_key_values.N.key``, ``past_key_values.N.value``; encoder-decoders
``past_key_values.N.decoder.key`` ... ``past_key_values.N.encoder.value``), rebuilds the cache object inside
``forward``, and returns the updated cache flattened again (``present.N...``) after the logits
(docs/decisions.md, "Generative models: components and a flat past").
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

#: the per-layer entries of a decoder-only cache, and of an encoder-decoder's self- and cross-attention caches
CAUSAL_ENTRIES = ("key", "value")
SEQ2SEQ_ENTRIES = ("decoder.key", "decoder.value", "encoder.key", "encoder.value")


def past_names(layers: int, entries: tuple[str, ...], prefix: str = "past_key_values") -> list[str]:
    return [f"{prefix}.{i}.{e}" for i in range(layers) for e in entries]


def present_names(layers: int, entries: tuple[str, ...]) -> list[str]:
    return past_names(layers, entries, "present")


def _dynamic_cache(flat: tuple[torch.Tensor, ...]) -> Any:
    from transformers import DynamicCache  # noqa: PLC0415 - optional dependency, imported with the model

    return DynamicCache([(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)])


def cache_kwarg(model: nn.Module) -> str:
    """transformers 5.24 renamed ``past_key_values`` to ``cache`` (the old name still works, with a warning)."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _out_cache(out: Any) -> Any:
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


def _layer_tensors(cache: Any) -> list[torch.Tensor]:
    out: list[torch.Tensor] = []
    for layer in cache.layers:
        out += [layer.keys, layer.values]
    return out


class CausalStep(nn.Module):
    """A decoder-only model: ``(input_ids, attention_mask[, position_ids], *past) -> (logits, *present)``.

    ``past_in`` adds the flat past inputs; ``present_out`` adds the flat present outputs (a decoder without
    past still returns them when it starts a generation that continues with the past)."""

    def __init__(self, model: nn.Module, past_in: bool, present_out: bool, position_ids: bool) -> None:
        super().__init__()
        self.model = model
        self.past_in = past_in
        self.present_out = present_out
        self.position_ids = position_ids

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                *rest: torch.Tensor) -> tuple[torch.Tensor, ...]:
        kwargs: dict[str, Any] = {}
        if self.position_ids:
            kwargs["position_ids"], rest = rest[0], rest[1:]
        if self.past_in:
            kwargs[cache_kwarg(self.model)] = _dynamic_cache(rest)
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=self.present_out,
                         return_dict=True, **kwargs)
        if not self.present_out:
            return (out.logits,)
        return (out.logits, *_layer_tensors(_out_cache(out)))


class EncoderStep(nn.Module):
    """The encoder of an encoder-decoder: ``(input_ids, attention_mask) | (input_features,) -> hidden states``."""

    def __init__(self, model: nn.Module, speech: bool) -> None:
        super().__init__()
        self.encoder = model.get_encoder()
        self.speech = speech

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor]:
        if self.speech:
            return (self.encoder(input_features=inputs[0], return_dict=True).last_hidden_state,)
        return (self.encoder(input_ids=inputs[0], attention_mask=inputs[1], return_dict=True).last_hidden_state,)


class Seq2SeqStep(nn.Module):
    """The decoder of an encoder-decoder, on the encoder's hidden states.

    Inputs: ``decoder_input_ids``, ``encoder_attention_mask`` (when the model takes one),
    ``encoder_hidden_states``, then with ``past_in`` the flat past (self- and cross-attention per layer).
    Outputs: ``logits``, then the present: self- and cross-attention entries without past (the cross entries
    are computed once, here), only the self-attention entries with past (the cross entries do not change).
    """

    def __init__(self, model: nn.Module, past_in: bool, encoder_mask: bool) -> None:
        super().__init__()
        self.model = model
        self.past_in = past_in
        self.encoder_mask = encoder_mask

    def forward(self, decoder_input_ids: torch.Tensor, *rest: torch.Tensor) -> tuple[torch.Tensor, ...]:
        from transformers import DynamicCache, EncoderDecoderCache  # noqa: PLC0415 - optional dependency

        kwargs: dict[str, Any] = {}
        if self.encoder_mask:
            kwargs["attention_mask"], rest = rest[0], rest[1:]
        hidden, past = rest[0], rest[1:]
        if self.past_in:
            self_kv = [t for i, t in enumerate(past) if i % 4 < 2]
            cross_kv = [t for i, t in enumerate(past) if i % 4 >= 2]
            cache = EncoderDecoderCache(_dynamic_cache(tuple(self_kv)), _dynamic_cache(tuple(cross_kv)))
        else:
            cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        kwargs[cache_kwarg(self.model)] = cache
        out = self.model(decoder_input_ids=decoder_input_ids, encoder_outputs=(hidden,), use_cache=True,
                         return_dict=True, **kwargs)
        self_t = _layer_tensors(_out_cache(out).self_attention_cache)
        if self.past_in:
            return (out.logits, *self_t)
        cross_t = _layer_tensors(_out_cache(out).cross_attention_cache)
        flat: list[torch.Tensor] = []
        for i in range(0, len(self_t), 2):
            flat += [self_t[i], self_t[i + 1], cross_t[i], cross_t[i + 1]]
        return (out.logits, *flat)
