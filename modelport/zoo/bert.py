"""A BERT encoder with a SQuAD-style question-answering head, written with torch.nn only.

The attention is spelled out (matmul + softmax) rather than ``scaled_dot_product_attention`` so the model
exports at every opset the TorchScript-based exporter supports. Parameter names follow the Hugging Face
``BertForQuestionAnswering`` layout closely enough to read, not to load.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


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
