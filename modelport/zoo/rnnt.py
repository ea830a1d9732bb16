"""RNN-T for MLPerf Inference speech-to-text (LibriSpeech): LSTM encoder with time-stacking, LSTM prediction
network, joint network; 29 output symbols (28 characters, blank last).

The exported graph is the three networks on a token context (docs/decisions.md, "Zoo: RNN-T greedy decoding
in Python"): ``forward(features, feature_lengths, tokens)`` gives the joint logits for every (encoder frame,
context position) and the encoder lengths. The greedy decoder stays in Python, as in the reference:
``greedy_decode`` drives any runner's ``infer``, feeding the context it has emitted so far.
One sample is up to 15 s of audio: 80 log-mel features at 10 ms, stacked 3 at a time (240 x up to 500 frames).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn


class RNNT(nn.Module):
    def __init__(self, features: int = 240, hidden: int = 1024, pre_layers: int = 2, post_layers: int = 3,
                 pred_hidden: int = 320, pred_layers: int = 2, joint: int = 512, vocab: int = 29,
                 stack: int = 2) -> None:
        super().__init__()
        self.stack, self.vocab = stack, vocab
        self.pre = nn.LSTM(features, hidden, pre_layers, batch_first=True)
        self.post = nn.LSTM(hidden * stack, hidden, post_layers, batch_first=True)
        self.embed = nn.Embedding(vocab, pred_hidden)  # the blank (vocab - 1) doubles as start-of-sequence
        self.pred = nn.LSTM(pred_hidden, pred_hidden, pred_layers, batch_first=True)
        self.joint_enc = nn.Linear(hidden, joint)
        self.joint_pred = nn.Linear(pred_hidden, joint)
        self.joint_out = nn.Linear(joint, vocab)
        nn.init.normal_(self.joint_out.weight, std=4.0 / joint**0.5)
        self._calibrate_blank(features)

    def _calibrate_blank(self, features: int) -> None:
        """Like a trained RNN-T, seeded weights should emit some symbols and many blanks, or a greedy transcript is
        empty (or fills the whole context) and the speech metric checks nothing. The blank's bias is set by
        bisection on one seeded speech-like batch so that the lattice transcripts fill about half the context.
        (A quantile of the blank margin over all cells does not do it: the start column's prediction output is
        one constant, and it came out blank at every frame, so every transcript was empty.)"""
        frames, context = 12 * self.stack, 8
        batch = speech_samples(4, 1234, frames, features)
        with torch.no_grad():
            logits, lengths = self(torch.from_numpy(batch["features"]), torch.full((4,), frames),
                                   torch.from_numpy(batch["tokens"][:, :context] % (self.vocab - 1)))
        lattices, lengths = logits.numpy(), lengths.tolist()
        low, high = -100.0, 100.0
        for _ in range(40):
            mid = (low + high) / 2
            filled = np.mean([len(lattice_transcript(lat, n, mid)) for lat, n in zip(lattices, lengths, strict=True)])
            low, high = (mid, high) if filled > context / 2 else (low, mid)
        with torch.no_grad():
            self.joint_out.bias[self.vocab - 1] += (low + high) / 2

    def forward(self, features: torch.Tensor, feature_lengths: torch.Tensor,
                tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, _ = self.pre(features)
        b, t, h = x.shape
        t2 = t // self.stack
        x = x[:, : t2 * self.stack].reshape(b, t2, h * self.stack)  # time reduction: stack adjacent frames
        enc, _ = self.post(x)
        start = torch.full_like(tokens[:, :1], self.vocab - 1)
        pred, _ = self.pred(self.embed(torch.cat([start, tokens], dim=1)))
        joint = torch.relu(self.joint_enc(enc).unsqueeze(2) + self.joint_pred(pred).unsqueeze(1))
        return self.joint_out(joint), torch.div(feature_lengths, self.stack, rounding_mode="floor")


def lattice_transcript(lattice: np.ndarray, frames: int, blank_shift: float = 0.0) -> list[int]:
    """Greedy RNN-T decoding read off one joint lattice (T, U+1, V), blank last: at (t, u) emit the argmax and
    move to u+1, or on blank (or at the end of the context) move to t+1. ``blank_shift`` is added to the blank's
    logit (the seeded model's calibration searches it)."""
    blank, t, u, out = lattice.shape[-1] - 1, 0, 0, []
    while t < min(frames, lattice.shape[0]):
        best = int(np.argmax(lattice[t, u, :blank]))  # on a tie np.argmax picks the symbol, as here
        sym = blank if lattice[t, u, blank] + blank_shift > lattice[t, u, best] else best
        if sym == blank or u == lattice.shape[1] - 1:
            t += 1
        else:
            out.append(sym)
            u += 1
    return out


def greedy_decode(infer: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]], features: np.ndarray,
                  length: int, blank: int, max_symbols: int = 30, max_tokens: int = 64) -> list[int]:
    """The reference's greedy RNN-T decoding of one utterance (features (1, T, F)): at each encoder frame, emit
    the joint's argmax until it is blank (at most ``max_symbols`` per frame), feeding back what was emitted.
    One ``infer`` call per emitted symbol, plus one; ``max_tokens`` bounds the transcript."""
    emitted: list[int] = []
    feed = {"features": features, "feature_lengths": np.array([length], np.int64)}

    def joint() -> tuple[np.ndarray, int]:
        ctx = np.array([emitted or [blank]], np.int64)  # a 1-token dummy context before the first symbol
        out = infer({**feed, "tokens": ctx})
        return out["logits"][0], int(out["encoder_lengths"][0])

    logits, frames = joint()
    for t in range(min(frames, logits.shape[0])):
        for _ in range(max_symbols):
            sym = int(np.argmax(logits[t, len(emitted)]))
            if sym == blank or len(emitted) >= max_tokens:
                break
            emitted.append(sym)
            logits, _ = joint()
    return emitted


def speech_samples(n: int, seed: int, frames: int, features: int) -> dict[str, np.ndarray]:
    """Utterances of random length (30% to 100% of ``frames``), zero-padded, with log-mel-like features
    (roughly standardised, smooth over time as speech features are)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(max(1, int(frames * 0.3)), frames + 1, n)
    raw = rng.standard_normal((n, frames, features)).astype(np.float32)
    smooth = (raw + np.roll(raw, 1, axis=1) + np.roll(raw, 2, axis=1)) / np.sqrt(3)
    mask = np.arange(frames)[None, :, None] < lengths[:, None, None]
    tokens = rng.integers(0, 28, (n, 8)).astype(np.int64)
    return {"features": (smooth * mask).astype(np.float32), "feature_lengths": lengths.astype(np.int64),
            "tokens": tokens}
