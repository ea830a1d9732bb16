"""Greedy decoding over a generative model's components, and the eager ``generate`` it must reproduce.

``greedy`` drives components through ``run(component, feed) -> outputs`` (any runner: ONNX Runtime,
TorchScript, .pt2, or the eager wrappers), following the plan from ``hf_generative.plan``. It applies the rule
``generate(do_sample=False, num_beams=1)`` applies with every logits processor switched off: the argmax of the
last position's logits, rows that produced an end-of-sequence token continue with the pad token, and
decoding stops when every row has finished (docs/decisions.md, "Generative models: greedy tokens must be
equal").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

RunFn = Callable[[str, dict[str, np.ndarray]], list[np.ndarray]]
#: every processor generate() could add from a model's generation_config, switched off: the rule is argmax
GREEDY_KWARGS: dict[str, Any] = {
    "do_sample": False, "num_beams": 1, "repetition_penalty": 1.0, "no_repeat_ngram_size": 0,
    "forced_bos_token_id": None, "forced_eos_token_id": None, "suppress_tokens": None,
    "begin_suppress_tokens": None, "bad_words_ids": None, "min_new_tokens": 0,
    "encoder_no_repeat_ngram_size": 0, "length_penalty": 1.0, "renormalize_logits": False,
}


@dataclass
class Generated:
    tokens: np.ndarray  # (batch, new tokens)
    first_token_s: float = 0.0  # time to the first new token
    step_s: list[float] = field(default_factory=list)  # time of every later token


class _Tokens:
    """The tokens chosen so far, with finished rows padded as generate() pads them."""

    def __init__(self, plan: dict[str, Any], batch: int) -> None:
        self.eos = set(plan["eos"])
        self.pad = plan["pad"]
        self.done = np.zeros(batch, dtype=bool)
        self.chosen: list[np.ndarray] = []

    def take(self, logits: np.ndarray) -> np.ndarray:
        nxt = logits[:, -1, :].argmax(-1).astype(np.int64)
        nxt = np.where(self.done, self.pad, nxt)
        self.done |= np.isin(nxt, list(self.eos))
        self.chosen.append(nxt)
        return nxt[:, None]

    @property
    def finished(self) -> bool:
        return bool(self.done.all())

    def array(self, batch: int) -> np.ndarray:
        return np.stack(self.chosen, axis=1) if self.chosen else np.zeros((batch, 0), dtype=np.int64)


def _past(names: list[str], values: list[np.ndarray], prefix: str = "present") -> dict[str, np.ndarray]:
    return {n.replace(prefix, "past_key_values", 1): v for n, v in zip(names, values, strict=True)}


def greedy(plan: dict[str, Any], run: RunFn, outputs: dict[str, list[str]], prompt: dict[str, np.ndarray],
           new_tokens: int, on_first: Callable[[np.ndarray], None] | None = None) -> Generated:
    """Up to ``new_tokens`` greedy tokens per prompt row; ``outputs`` names each component's outputs.
    ``on_first`` gets the first token of every row as soon as it is chosen (a benchmark's first-token time)."""
    batch = next(iter(prompt.values())).shape[0]
    tokens = _Tokens(plan, batch)
    times: list[float] = []
    step = _causal_steps if plan["family"] == "causal" else _seq2seq_steps
    t0 = time.perf_counter()
    for logits in step(plan, run, outputs, prompt, tokens):
        chosen = tokens.take(logits)
        if on_first is not None and not times:
            on_first(chosen[:, 0])
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        if tokens.finished or len(times) == new_tokens:
            break
    return Generated(tokens.array(batch), times[0] if times else 0.0, times[1:])


def _causal_steps(plan: dict[str, Any], run: RunFn, outputs: dict[str, list[str]], prompt: dict[str, np.ndarray],
                  tokens: _Tokens) -> Any:
    ids, mask = prompt["input_ids"], prompt["attention_mask"]
    name = "decoder_model" if plan["with_past"] else "model"
    feed = {"input_ids": ids, "attention_mask": mask}
    if plan["position_ids"]:
        feed["position_ids"] = _positions(mask)
    out = run(name, feed)
    yield out[0]
    while True:
        nxt = tokens.chosen[-1][:, None]
        mask = np.concatenate([mask, np.ones_like(nxt)], axis=1)
        if plan["with_past"]:
            feed = {"input_ids": nxt, "attention_mask": mask}
            if plan["position_ids"]:
                feed["position_ids"] = _positions(mask)[:, -1:]
            feed.update(_past(outputs[name][1:], out[1:]))
            name = "decoder_with_past_model"
        else:
            ids = np.concatenate([ids, nxt], axis=1)
            feed = {"input_ids": ids, "attention_mask": mask}
            if plan["position_ids"]:
                feed["position_ids"] = _positions(mask)
        out = run(name, feed)
        yield out[0]


def _positions(mask: np.ndarray) -> np.ndarray:
    """generate()'s position ids: the running count of attended tokens (left padding starts at 0)."""
    pos = np.cumsum(mask, axis=1) - 1
    return np.where(mask == 0, 1, pos).astype(np.int64)


def _seq2seq_steps(plan: dict[str, Any], run: RunFn, outputs: dict[str, list[str]], prompt: dict[str, np.ndarray],
                   tokens: _Tokens) -> Any:
    hidden = run("encoder_model", dict(prompt))[0]
    batch = hidden.shape[0]
    enc: dict[str, np.ndarray] = {"encoder_hidden_states": hidden}
    if plan["encoder_mask"]:
        enc["encoder_attention_mask"] = prompt["attention_mask"]
    dec = np.full((batch, 1), plan["start"] or 0, dtype=np.int64)
    out = run("decoder_model", {"decoder_input_ids": dec, **enc})
    yield out[0]
    past = _past(outputs["decoder_model"][1:], out[1:])
    while True:
        nxt = tokens.chosen[-1][:, None]
        if plan["with_past"]:
            out = run("decoder_with_past_model", {"decoder_input_ids": nxt, **enc, **past})
            past.update(_past(outputs["decoder_with_past_model"][1:], out[1:]))
        else:
            dec = np.concatenate([dec, nxt], axis=1)
            out = run("decoder_model", {"decoder_input_ids": dec, **enc})
        yield out[0]


def eager_generate(model: nn.Module, plan: dict[str, Any], prompt: dict[str, np.ndarray],
                   new_tokens: int) -> np.ndarray:
    """The new tokens of transformers' ``generate`` (greedy, every logits processor off), (batch, <= N)."""
    from transformers import GenerationMixin  # noqa: PLC0415 - optional dependency

    kwargs = {k: torch.from_numpy(v) for k, v in prompt.items()}
    gen = dict(GREEDY_KWARGS, max_new_tokens=new_tokens, eos_token_id=plan["eos"] or None,
               pad_token_id=plan["pad"], use_cache=True)
    if plan["family"] != "causal":
        batch = next(iter(prompt.values())).shape[0]
        kwargs["decoder_input_ids"] = torch.full((batch, 1), plan["start"] or 0, dtype=torch.long)
    with torch.inference_mode():
        # GenerationMixin.generate itself: Whisper's override adds language/task tokens and timestamp rules;
        # both sides follow one rule, a fixed decoder start (docs/decisions.md, "Generative models: greedy tokens ...")
        out = GenerationMixin.generate(model, **kwargs, **gen)
    start = prompt["input_ids"].shape[1] if plan["family"] == "causal" else 1
    return out[:, start:].numpy().astype(np.int64)
