"""GNMT for MLPerf Inference machine translation (WMT16 EN-DE; retired after v0.7): an LSTM encoder (the first
layer bidirectional, residual connections from the third), an LSTM decoder whose first layer feeds a normalised
Bahdanau attention over the encoder states, and a projection onto the shared vocabulary.

The exported graph is the network on a target context, as for RNN-T (docs/decisions.md, "Zoo: GNMT, one graph
on a target context"): ``forward(source, source_lengths, target)`` gives the next-token logits at every target
position (teacher forcing) and the beam or greedy search stays in Python, as in the reference, driving any
runner's ``infer`` through ``greedy_translate``. One sample is one source sentence of up to ``max_len`` tokens.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

PAD, BOS, EOS = 0, 1, 2  # the reference's special token ids; real tokens start at 4


class _Attention(nn.Module):
    """Bahdanau attention with the reference's weight normalisation of the score vector."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.query, self.key = nn.Linear(hidden, hidden, bias=False), nn.Linear(hidden, hidden, bias=False)
        self.v = nn.Parameter(torch.randn(hidden) / hidden**0.5)
        self.scale = nn.Parameter(torch.tensor(1.0 / hidden**0.5))
        self.bias = nn.Parameter(torch.zeros(hidden))

    def forward(self, q: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        v = self.v / self.v.norm() * self.scale
        scores = torch.tanh(self.query(q).unsqueeze(2) + self.key(keys).unsqueeze(1) + self.bias) @ v  # (B, T, S)
        scores = scores.masked_fill(~mask.unsqueeze(1), -1e4)  # finite: a fully padded row stays a number
        return torch.softmax(scores, dim=-1) @ keys


class GNMT(nn.Module):
    def __init__(self, vocab: int = 32317, hidden: int = 1024, layers: int = 4) -> None:
        super().__init__()
        self.embed_source = nn.Embedding(vocab, hidden, padding_idx=PAD)
        self.encoder_bi = nn.LSTM(hidden, hidden // 2, 1, batch_first=True, bidirectional=True)
        self.encoder = nn.ModuleList(nn.LSTM(hidden, hidden, 1, batch_first=True) for _ in range(layers - 1))
        self.embed_target = nn.Embedding(vocab, hidden, padding_idx=PAD)
        self.decoder_first = nn.LSTM(hidden, hidden, 1, batch_first=True)
        self.attention = _Attention(hidden)
        self.decoder = nn.ModuleList(nn.LSTM(2 * hidden, hidden, 1, batch_first=True) for _ in range(layers - 1))
        self.classifier = nn.Linear(hidden, vocab)
        # Seeded weights should predict varied tokens, as a trained model does, or the translation metric compares
        # one repeated token: a wider projection than nn.Linear's default, no bias to favour a few tokens, and
        # LSTM weights three times their default scale.
        nn.init.normal_(self.classifier.weight, std=4.0 / hidden**0.5)
        nn.init.zeros_(self.classifier.bias)
        with torch.no_grad():  # LSTMs at nn.LSTM's default scale barely move their state over a sentence
            for lstm in (m for m in self.modules() if isinstance(m, nn.LSTM)):
                for p in lstm.parameters():
                    p.mul_(3.0)

    def forward(self, source: torch.Tensor, source_lengths: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x, _ = self.encoder_bi(self.embed_source(source))
        for i, lstm in enumerate(self.encoder):
            y, _ = lstm(x)
            x = y + x if i > 0 else y  # residual connections from the third encoder layer, as the reference
        mask = torch.arange(source.shape[1], device=source.device).unsqueeze(0) < source_lengths.unsqueeze(1)
        d, _ = self.decoder_first(self.embed_target(target))
        context = self.attention(d, x, mask)
        for i, lstm in enumerate(self.decoder):
            y, _ = lstm(torch.cat([d, context], dim=-1))
            d = y + d if i > 0 else y
        return self.classifier(d)


def greedy_translate(infer: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]], source: np.ndarray,
                     length: int, max_len: int = 50) -> list[int]:
    """Greedy decoding of one sentence (source (1, S)) with any runner: one ``infer`` per emitted token, the
    target context being BOS plus what was emitted, until EOS or ``max_len`` tokens."""
    emitted: list[int] = []
    feed = {"source": source, "source_lengths": np.array([length], np.int64)}
    while len(emitted) < max_len:
        logits = infer({**feed, "target": np.array([[BOS, *emitted]], np.int64)})["logits"]
        token = int(np.argmax(logits[0, -1]))
        if token == EOS:
            break
        emitted.append(token)
    return emitted


def sentence_samples(n: int, seed: int, max_len: int, vocab: int) -> dict[str, np.ndarray]:
    """Sentences of random length (30% to 100% of ``max_len``), padded with PAD; the target context is BOS and a
    shifted sentence of similar length, as teacher forcing feeds the reference translation."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(max(1, int(max_len * 0.3)), max_len + 1, n)
    source = rng.integers(4, vocab, (n, max_len)).astype(np.int64)
    source[np.arange(max_len)[None, :] >= lengths[:, None]] = PAD
    target = rng.integers(4, vocab, (n, max_len)).astype(np.int64)
    target[:, 0] = BOS
    return {"source": source, "source_lengths": lengths.astype(np.int64), "target": target}
