"""Tiny generative Hugging Face models (2 layers, hidden 32, vocab ~100), seeded, saved with save_pretrained.

Nothing is downloaded: each model is built from a config in-process. Special token ids are set inside the
small vocabularies so that generation can really stop early on an end-of-sequence token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

VOCAB = 96


def _configs() -> dict[str, tuple[str, Any]]:
    import transformers as tf

    # initialisers above the default spread the logits of a random model, so greedy tokens vary
    decoder = {"vocab_size": VOCAB, "bos_token_id": 1, "eos_token_id": 2, "initializer_range": 0.3}
    enc_dec = {"vocab_size": VOCAB, "d_model": 32, "encoder_layers": 2, "decoder_layers": 2,
               "encoder_attention_heads": 2, "decoder_attention_heads": 2, "encoder_ffn_dim": 64,
               "decoder_ffn_dim": 64, "init_std": 0.3}
    return {
        "gpt2": ("GPT2LMHeadModel", tf.GPT2Config(n_positions=64, n_embd=32, n_layer=2, n_head=2, **decoder)),
        "llama": ("LlamaForCausalLM", tf.LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                                     num_attention_heads=4, num_key_value_heads=2,
                                                     max_position_embeddings=64, pad_token_id=0, **decoder)),
        "t5": ("T5ForConditionalGeneration", tf.T5Config(vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=64, num_layers=2,
                                                         num_decoder_layers=2, num_heads=4, initializer_factor=2.0,
                                                         pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)),
        "bart": ("BartForConditionalGeneration", tf.BartConfig(max_position_embeddings=64, pad_token_id=1,
                                                               bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
                                                               **enc_dec)),
        "whisper": ("WhisperForConditionalGeneration", tf.WhisperConfig(
            num_mel_bins=8, max_source_positions=16, max_target_positions=32, pad_token_id=0, bos_token_id=1,
            eos_token_id=2, decoder_start_token_id=3, suppress_tokens=None, begin_suppress_tokens=None, **enc_dec)),
    }


ARCHITECTURES = ("gpt2", "llama", "t5", "bart", "whisper")


def build(arch: str, seed: int = 0) -> torch.nn.Module:
    import transformers as tf

    cls_name, config = _configs()[arch]
    config.architectures = [cls_name]
    torch.manual_seed(seed)
    return getattr(tf, cls_name)(config).eval()


def save(arch: str, dest: Path, seed: int = 0) -> Path:
    """``build(arch)`` saved with save_pretrained into ``dest`` (created); returns ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    build(arch, seed).save_pretrained(str(dest))
    return dest


_CONVERTED: dict[tuple[str, str, tuple[str, ...]], tuple[Path, dict[str, Any]]] = {}


def converted(arch: str, task: str, targets: tuple[str, ...]) -> tuple[Path, dict[str, Any]]:
    """``modelport convert`` of the saved ``arch`` for ``task`` to ``targets``, run once per test session and
    shared by the converter, validator and bench tests (their run directories live until the session ends).
    Returns (run directory, manifest)."""
    import atexit
    import json
    import shutil
    import tempfile

    key = (arch, task, targets)
    if key not in _CONVERTED:
        root = Path(tempfile.mkdtemp(prefix="modelport-hfgen-"))
        atexit.register(shutil.rmtree, root, True)
        src = save(arch, root / "src")
        from modelport.cli import main

        args = ["convert", str(src), "--task", task, "--out", str(root / "run"), "--quiet"]
        for t in targets:
            args += ["--to", t]
        try:
            main(args)
        except SystemExit as e:
            if e.code:
                raise AssertionError(f"modelport {' '.join(args)} exited {e.code}") from None
        _CONVERTED[key] = (root / "run", json.loads((root / "run" / "manifest.json").read_text()))
    return _CONVERTED[key]
