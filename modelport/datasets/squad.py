"""SQuAD v1.1 dev for BERT: ``dev-v1.1.json`` and the model's WordPiece ``vocab.txt`` in one folder, as MLPerf's
BERT reference reads them.

Features follow the reference's create_squad_data.py (docs/decisions.md, "Data sets: the reference layouts on
disk"): ``[CLS] question [SEP] context window [SEP]`` padded to the model's sequence length, the question cut to
64 tokens, context windows every 128 tokens (both scaled to a third of shorter sequences), each token scored
only in the window where it has the most context. Tokenisation is the `tokenizers` library's BERT WordPiece
(lower case, punctuation split, accents stripped), whose character offsets give the answer text. Post-processing
is the reference's: the 20 best starts and ends, spans of at most 30 tokens inside the context, the best
start + end logit over every window of a question; the metric is evaluate-v1.1.py's exact match and F1.
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelport.datasets.base import DataSet, Responses, Scored, Status, named_input, quiet, required_file
from modelport.errors import InputError
from modelport.spec import InputSpec

N_BEST = 20
MAX_ANSWER_TOKENS = 30


@dataclass
class Feature:
    question: int  # index into the questions
    token_chars: list[tuple[int, int] | None]  # per position: the context characters, None outside the context
    max_context: list[bool]  # per position: this window gives the token its most context


@dataclass
class Question:
    text: str
    context: str
    answers: list[str]


def read_questions(path: Path) -> list[Question]:
    try:
        data = json.loads(path.read_text())["data"]
        return [Question(qa["question"], p["context"], [a["text"] for a in qa["answers"]])
                for article in data for p in article["paragraphs"] for qa in p["qas"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"--dataset squad: {path} is not SQuAD v1.1 JSON ({type(e).__name__}: {e})") from None


def _tokenizer(vocab: Path, vocab_limit: int):  # noqa: ANN202 - tokenizers is imported here only
    try:
        from tokenizers import BertWordPieceTokenizer
    except ImportError:
        raise InputError("--dataset squad needs the tokenizers package",
                         "pip install 'modelport[datasets]'") from None
    tok = BertWordPieceTokenizer(str(vocab), lowercase=True)
    size = tok.get_vocab_size()
    if size > vocab_limit:
        raise InputError(f"--dataset squad: {vocab} has {size} tokens but the model embeds {vocab_limit}",
                         "use the vocabulary the model was trained with")
    return tok


def load(path: Path, specs: Sequence[InputSpec], limit: int | None = None, status: Status = quiet) -> DataSet:
    ids_spec = named_input(specs, "squad", "input_ids", 2)
    named_input(specs, "squad", "attention_mask", 2)
    named_input(specs, "squad", "token_type_ids", 2)
    dev = required_file(path, "dev-v1.1.json", "squad")
    tok = _tokenizer(required_file(path, "vocab.txt", "squad"), int(ids_spec.high))
    questions = read_questions(dev)[:limit]
    seq = ids_spec.shape[1]
    special = [tok.token_to_id(t) for t in ("[CLS]", "[SEP]")]
    if None in special:
        raise InputError(f"--dataset squad: {path / 'vocab.txt'} has no [CLS] or [SEP] token")
    rows: dict[str, list[np.ndarray]] = {"input_ids": [], "attention_mask": [], "token_type_ids": []}
    features: list[Feature] = []
    for qi, q in enumerate(questions):
        q_ids = tok.encode(q.text, add_special_tokens=False).ids[: min(64, seq // 3)]
        ctx = tok.encode(q.context, add_special_tokens=False)
        for start, length in windows(len(ctx.ids), seq - len(q_ids) - 3, min(128, seq // 3)):
            ids = [special[0], *q_ids, special[1], *ctx.ids[start:start + length], special[1]]
            first = len(q_ids) + 2  # position of the window's first context token
            chars: list[tuple[int, int] | None] = [None] * seq
            best = [False] * seq
            for k in range(length):
                chars[first + k] = ctx.offsets[start + k]
                best[first + k] = is_max_context(len(ctx.ids), seq - len(q_ids) - 3, min(128, seq // 3),
                                                 start, start + k)
            pad = seq - len(ids)
            rows["input_ids"].append(np.array([ids + [0] * pad], np.int64))
            rows["attention_mask"].append(np.array([[1] * len(ids) + [0] * pad], np.int64))
            rows["token_type_ids"].append(np.array([[0] * first + [1] * (length + 1) + [0] * pad], np.int64))
            features.append(Feature(qi, chars, best))
    samples = {name: np.concatenate(r, axis=0) for name, r in rows.items()}
    return DataSet("squad", path, samples, lambda r: score(r, features, questions))


def windows(n_tokens: int, max_len: int, stride: int) -> list[tuple[int, int]]:
    """(start, length) of each context window, as the reference's doc-stride loop makes them."""
    if max_len < 1:
        raise InputError("--dataset squad: the model's sequence is too short for a question and its context")
    out, start = [], 0
    while True:
        length = min(n_tokens - start, max_len)
        out.append((start, length))
        if start + length >= n_tokens:
            return out
        start += min(length, stride)


def is_max_context(n_tokens: int, max_len: int, stride: int, window_start: int, position: int) -> bool:
    """Whether ``window_start``'s window gives the token at ``position`` its most context (the reference's
    score: min(tokens left, tokens right) + 0.01 x window length; ties go to the earlier window)."""
    best_score, best_start = -1.0, None
    for start, length in windows(n_tokens, max_len, stride):
        if not start <= position < start + length:
            continue
        s = min(position - start, start + length - 1 - position) + 0.01 * length
        if s > best_score:
            best_score, best_start = s, start
    return best_start == window_start


def _best_span(start: np.ndarray, end: np.ndarray, f: Feature) -> tuple[float, int, int] | None:
    best = None
    for s in np.argsort(-start)[:N_BEST]:
        for e in np.argsort(-end)[:N_BEST]:
            if f.token_chars[s] is None or f.token_chars[e] is None or not f.max_context[s]:
                continue
            if e < s or e - s + 1 > MAX_ANSWER_TOKENS:
                continue
            cand = (float(start[s] + end[e]), int(s), int(e))
            best = cand if best is None or cand[0] > best[0] else best
    return best


def score(responses: Responses, features: list[Feature], questions: list[Question]) -> Scored:
    best: dict[int, tuple[float, str]] = {}
    for index, outputs in responses.items():
        f = features[index]
        span = _best_span(outputs["start_logits"].reshape(-1), outputs["end_logits"].reshape(-1), f)
        if span is None:
            continue
        q = questions[f.question]
        a, b = f.token_chars[span[1]], f.token_chars[span[2]]
        assert a is not None and b is not None
        if f.question not in best or span[0] > best[f.question][0]:
            best[f.question] = (span[0], q.context[a[0]:b[1]])
    asked = sorted({features[i].question for i in responses})
    em = sum(max(exact_match(best.get(q, (0, ""))[1], g) for g in questions[q].answers) for q in asked)
    f1 = sum(max(f1_score(best.get(q, (0, ""))[1], g) for g in questions[q].answers) for q in asked)
    n = max(len(asked), 1)
    values = {"exact_match": 100.0 * em / n, "f1": 100.0 * f1 / n}
    # evaluate-v1.1.py prints json.dumps of these; fixed decimals keep an exponent out of the checker's pattern
    em_text, f1_text = f"{values['exact_match']:.6f}", f"{values['f1']:.6f}"
    return Scored(f'{{"exact_match": {em_text}, "f1": {f1_text}}}', values)


def normalize_answer(s: str) -> str:
    """evaluate-v1.1.py's normalisation: lower case, no punctuation, no articles, single spaces."""
    s = "".join(ch for ch in s.lower() if ch not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", s).split())


def exact_match(prediction: str, truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(truth))


def f1_score(prediction: str, truth: str) -> float:
    p, t = normalize_answer(prediction).split(), normalize_answer(truth).split()
    same = sum((Counter(p) & Counter(t)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(t)
    return 2 * precision * recall / (precision + recall)
