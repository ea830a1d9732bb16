"""A generative model whose special token ids lie past its vocabulary is refused in one line, before export."""

from __future__ import annotations

import pytest
from helpers.convert import run_cli

transformers = pytest.importorskip("transformers")


def test_an_eos_id_outside_the_vocabulary_is_one_line_naming_it(tmp_path, capsys):
    import torch

    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=64, n_positions=32)  # ids 50256
    transformers.GPT2LMHeadModel(config).save_pretrained(tmp_path / "gpt2")
    code, _, err = run_cli(capsys, "convert", tmp_path / "gpt2", "--task", "text-generation-with-past", "--to",
                           "onnx", "--out", tmp_path / "run")
    assert code == 2 and "outside the model's vocabulary of 64 tokens" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()
