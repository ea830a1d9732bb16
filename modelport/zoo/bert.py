"""A BERT encoder with a SQuAD-style question-answering head, written with torch.nn only.

The attention is spelled out (matmul + softmax) rather than ``scaled_dot_product_attention`` so the model
exports at every opset the TorchScript-based exporter supports. Parameter names follow the Hugging Face
``BertForQuestionAnswering`` layout closely enough to read, not to load.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from modelport.zoo.entry import scale_for_median_top1


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int = 30522
    hidden: int = 256
    layers: int = 4
    heads: int = 4
    intermediate: int = 1024
    max_positions: int = 512
    type_vocab: int = 2
    seq_len: int = 128  # the example sequence length

    @classmethod
    def named(cls, name: str) -> BertConfig:
        try:
            return _CONFIGS[name]
        except KeyError:
            raise ValueError(f"unknown BERT config {name!r}; known: {', '.join(_CONFIGS)}") from None


_CONFIGS = {
    "small": BertConfig(),
    "tiny": BertConfig(vocab_size=1000, hidden=64, layers=2, heads=2, intermediate=128, max_positions=128,
                       seq_len=32),
    # BERT-Large as used by MLPerf Inference (SQuAD v1.1, max_seq_len 384).
    "large": BertConfig(hidden=1024, layers=24, heads=16, intermediate=4096, seq_len=384),
}


def _exporting_onnx() -> bool:
    # Scripting cannot compile torch.onnx's check; a scripted model keeps the fused form.
    if not torch.jit.is_scripting():
        return torch.onnx.is_in_onnx_export()
    return False


class SelfAttention(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.heads = cfg.heads
        self.head_dim = cfg.hidden // cfg.heads
        self.query = nn.Linear(cfg.hidden, cfg.hidden)
        self.key = nn.Linear(cfg.hidden, cfg.hidden)
        self.value = nn.Linear(cfg.hidden, cfg.hidden)
        self.out = nn.Linear(cfg.hidden, cfg.hidden)
        self.scale = 1.0 / math.sqrt(self.head_dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        return x.view(b, s, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        q, k, v = self._split(self.query(x)), self._split(self.key(x)), self._split(self.value(x))
        if _exporting_onnx():
            # ONNX has no fused attention below opset 23: the spelled-out form exports at every opset and is
            # the pattern onnxruntime's transformer optimizer fuses (decisions: "Zoo: BERT attention").
            scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale + mask_bias
            ctx = torch.matmul(torch.softmax(scores, dim=-1), v)
        else:
            # One fused kernel in eager, TorchScript, .pt2 and AOTInductor (flash attention on CPU).
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask_bias, scale=self.scale)
        b, _, s, _ = ctx.shape
        return self.out(ctx.transpose(1, 2).reshape(b, s, self.heads * self.head_dim))


class EncoderLayer(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.attention = SelfAttention(cfg)
        self.attention_norm = nn.LayerNorm(cfg.hidden, eps=1e-12)
        self.intermediate = nn.Linear(cfg.hidden, cfg.intermediate)
        self.act = nn.GELU()
        self.output = nn.Linear(cfg.intermediate, cfg.hidden)
        self.output_norm = nn.LayerNorm(cfg.hidden, eps=1e-12)

    def forward(self, x: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        x = self.attention_norm(x + self.attention(x, mask_bias))
        return self.output_norm(x + self.output(self.act(self.intermediate(x))))


class BertForQuestionAnswering(nn.Module):
    def __init__(self, config: str | BertConfig = "small") -> None:
        super().__init__()
        cfg = BertConfig.named(config) if isinstance(config, str) else config
        self.config = cfg
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden)
        self.position_embeddings = nn.Embedding(cfg.max_positions, cfg.hidden)
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab, cfg.hidden)
        self.embedding_norm = nn.LayerNorm(cfg.hidden, eps=1e-12)
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.layers))
        self.qa_outputs = nn.Linear(cfg.hidden, 2)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        seq = input_ids.shape[1]
        positions = torch.arange(seq, device=input_ids.device).unsqueeze(0)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions) \
            + self.token_type_embeddings(token_type_ids)
        x = self.embedding_norm(x)
        # Additive mask: 0 where attended, a large finite negative where masked (finite keeps rows that are
        # fully masked free of NaN).
        mask_bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0
        for layer in self.layers:
            x = layer(x, mask_bias)
        logits = self.qa_outputs(x)
        start, end = logits[..., 0], logits[..., 1]
        return start, end


#: the vocabulary's special tokens, as bert-base-uncased numbers them ([PAD] 0, [CLS] 101, [SEP] 102)
PAD, CLS, SEP = 0, 101, 102


def qa_samples(n: int, seq_len: int, vocab_size: int, seed: int) -> dict[str, np.ndarray]:
    """``n`` seeded SQuAD-shaped samples: ``[CLS] question [SEP] context [SEP]`` then padding, with the
    attention mask over the real tokens and token type 1 on the context, as BERT's tokenizer lays out a question
    and its paragraph. Lengths are uniform in [seq_len/2, seq_len], questions a quarter at most; word ids follow
    a Zipf law over the ids after the special tokens (word frequencies do). Uniform ids, mask bits and token
    types, the input specs' default, look like no tokenised text."""
    rng = np.random.default_rng(seed)
    ids = np.full((n, seq_len), PAD, np.int64)
    mask, types = np.zeros((n, seq_len), np.int64), np.zeros((n, seq_len), np.int64)
    first_word = SEP + 1
    for i in range(n):
        length = int(rng.integers(max(4, seq_len // 2), seq_len + 1))
        question = int(rng.integers(1, max(2, seq_len // 4)))
        words = first_word + (rng.zipf(1.3, length) - 1) % (vocab_size - first_word)
        ids[i, :length] = words
        ids[i, 0], ids[i, question + 1], ids[i, length - 1] = CLS, SEP, SEP
        mask[i, :length] = 1
        types[i, question + 2:length] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def calibrate_qa_head(model: BertForQuestionAnswering, feed: dict[str, np.ndarray],
                      top1_probability: float = 0.8, padding_below: float = 4.0) -> None:
    """Give the seeded QA head a trained one's peaked start/end logits on ``feed`` (seeded samples, never the
    gate's; docs/decisions.md, "Zoo: seeded classifier and QA heads scored like trained ones"):

    - the start and end rows lie in the span of the real tokens' centred final hidden states of half the
      samples (random coefficients from the zoo's seed), as a head trained from zero does;
    - along the direction from the real tokens' mean hidden state to the padding's, they put padding
      ``padding_below`` standard deviations below the real tokens, as a trained head scores the padding
      (never an answer) low: otherwise the padding, nearly alike, wins the argmax by hair-thin margins;
    - they are scaled so that the median softmax top-1 probability over positions, on the other half, is
      ``top1_probability``.

    Seeded as initialised (std 0.02), the logits spread 0.17 and the best position led the next by 0.05."""
    hidden: list[torch.Tensor] = []
    hook = model.layers[-1].register_forward_hook(lambda _m, _i, out: hidden.append(out))
    inputs = [torch.from_numpy(feed[k]) for k in ("input_ids", "attention_mask", "token_type_ids")]
    with torch.no_grad():
        model.eval()(*inputs)
        hook.remove()
        real = inputs[1].bool()
        half = len(real) // 2
        tokens, padding = hidden[0][:half][real[:half]], hidden[0][:half][~real[:half]]
        weight = torch.randn(2, len(tokens)) @ (tokens - tokens.mean(0))
        if len(padding):
            away = padding.mean(0) - tokens.mean(0)
            away = away / away.norm()
            weight -= (weight @ away)[:, None] * away  # the span's own padding component, replaced below
            spread = (tokens @ weight.T).std(0)
            shift = padding_below * spread / float((padding.mean(0) - tokens.mean(0)) @ away)
            weight -= shift[:, None] * away
        held_out = hidden[0][half:] @ weight.T  # (samples, positions, 2)

        high = scale_for_median_top1(held_out, top1_probability)
        model.qa_outputs.weight.copy_(weight * high)
        model.qa_outputs.bias.zero_()
