"""DLRM for MLPerf Inference (Criteo 1TB, multi-hot): a bottom MLP over 13 dense features, 26 embedding bags
over the categorical features, pairwise dot-product interaction, and a top MLP to a click probability.

Sparse input: (B, 26, L) int64 raw category ids, hashed into each table with ``id % rows`` inside the graph (the
reference's ``max_ind_range`` hashing); each bag of L ids is summed by ``nn.EmbeddingBag``. Tables are small by
default; ``{"tables": "mlperf"}`` gives the MLPerf sizes (about 204 M rows: about 100 GB of fp32 weights).
One row is one user-item pair; an MLPerf sample groups 100 to 700 of them.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

#: Criteo 1TB table sizes with max_ind_range 40 M, as MLPerf's DLRM uses them
MLPERF_TABLES = (39884406, 39043, 17289, 7420, 20263, 3, 7120, 1543, 63, 38532951, 2953546, 403346, 10, 2208,
                 11938, 155, 4, 976, 14, 39979771, 25641295, 39664984, 585935, 12972, 108, 36)
DENSE = 13


def _mlp(sizes: tuple[int, ...], sigmoid_last: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        layers.append(nn.Sigmoid() if sigmoid_last and i == len(sizes) - 2 else nn.ReLU())
    return nn.Sequential(*layers)


class DLRM(nn.Module):
    def __init__(self, tables: str | tuple[int, ...] = "small", dim: int = 128,
                 bottom: tuple[int, ...] = (512, 256), top: tuple[int, ...] = (1024, 1024, 512, 256)) -> None:
        super().__init__()
        if isinstance(tables, str):
            if tables not in ("small", "mlperf"):
                raise ValueError(f"unknown DLRM tables {tables!r}; known: small, mlperf, or a list of sizes")
            # small: the MLPerf tables capped at 100k rows (every hashing path still runs)
            tables = MLPERF_TABLES if tables == "mlperf" else tuple(min(t, 100_000) for t in MLPERF_TABLES)
        self.register_buffer("rows", torch.tensor(tables, dtype=torch.int64), persistent=False)
        self.bags = nn.ModuleList(nn.EmbeddingBag(int(n), dim, mode="sum") for n in tables)
        self.bottom = _mlp((DENSE, *bottom, dim))
        n = len(tables) + 1
        self.top = _mlp((dim + n * (n - 1) // 2, *top, 1), sigmoid_last=True)
        self.register_buffer("pairs", torch.triu_indices(n, n, offset=1), persistent=False)
        for bag in self.bags:
            nn.init.uniform_(bag.weight, -(bag.num_embeddings ** -0.5), bag.num_embeddings ** -0.5)

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        x = self.bottom(dense)
        ids = sparse % self.rows.view(1, -1, 1)
        emb = [bag(ids[:, i]) for i, bag in enumerate(self.bags)]
        feats = torch.stack([x, *emb], dim=1)  # (B, 27, dim)
        inter = torch.bmm(feats, feats.transpose(1, 2))[:, self.pairs[0], self.pairs[1]]
        return self.top(torch.cat([x, inter], dim=1))


def dlrm_samples(n: int, seed: int, bag: int, id_range: int) -> dict[str, np.ndarray]:
    """``n`` user-item pairs like Criteo's: log-normal dense counters (log1p-transformed, as the reference
    preprocesses them) and Zipf-distributed category ids (a few ids are most of the traffic)."""
    rng = np.random.default_rng(seed)
    dense = np.log1p(rng.lognormal(1.0, 1.5, (n, DENSE))).astype(np.float32)
    sparse = np.minimum(rng.zipf(1.2, (n, len(MLPERF_TABLES), bag)) - 1, id_range - 1).astype(np.int64)
    return {"dense": dense, "sparse": sparse}
