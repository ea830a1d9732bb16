"""Built-in models, built from code with seeded weights (nothing is downloaded).

``get("resnet50").build(seed=0)`` gives an ``nn.Module`` in ``eval()``; ``.input_specs()`` its example
inputs (names, shapes, dtypes, value ranges, dynamic axes); ``.output_names`` its outputs.

A ``ZooEntry`` is also the one place that holds what the rest of modelport assumes about a zoo model unless
the user says otherwise: its task (which outputs are logits), its fp32 tolerance, and its sample definition
(the input specs: one sample is one item along axis 0). Validators, the convert gate and the benchmarks read
these fields through ``entry_for_source``; nothing keeps a copy of them.
"""

from __future__ import annotations

from typing import Any

from modelport.errors import InputError
from modelport.spec import InputSpec
from modelport.zoo.entry import MLPerfKeywords, ZooEntry, import_class, seeded_init
from modelport.zoo.families import ENTRIES as FAMILY_ENTRIES
from modelport.zoo.mlperf import MLPERF

__all__ = ["MLPERF", "ZOO", "MLPerfKeywords", "ZooEntry", "entry_for_source", "get", "import_class", "names",
           "seeded_init"]


def _image(args: dict[str, Any], size: int) -> list[InputSpec]:
    # Normalised image pixels: roughly mean 0, std 1 after ImageNet normalisation.
    return [InputSpec("input", (2, 3, size, size), "float32", -2.0, 2.0, {0: "batch"})]


def _natural_images(size: int) -> Any:
    def samples(args: dict[str, Any], n: int, seed: int) -> dict[str, Any]:
        from modelport.zoo.resnet import natural_images

        return {"input": natural_images(n, size, seed)}
    return samples


def _calibrate_resnet(size: int, images: int) -> Any:
    def calibrate(model: Any, args: dict[str, Any]) -> None:
        import torch

        from modelport.zoo.resnet import natural_images

        # a seed of its own: the gate draws seed+1000+i, int8 calibration a SeedSequence value, the QSL uniform
        # values (docs/decisions.md, "Zoo: seeded classifier and QA heads scored like trained ones")
        model.calibrate_seeded(torch.from_numpy(natural_images(images, size, _CALIBRATION_SEED)))
    return calibrate


_CALIBRATION_SEED = 1234


def _qa_samples(args: dict[str, Any], n: int, seed: int) -> dict[str, Any]:
    from modelport.zoo.bert import BertConfig, qa_samples

    cfg = BertConfig.named(args["config"])
    return qa_samples(n, cfg.seq_len, cfg.vocab_size, seed)


def _calibrate_bert(model: Any, args: dict[str, Any]) -> None:
    from modelport.zoo.bert import calibrate_qa_head

    # BERT-Large: 4 samples, since 32 sequences of 384 tokens through 24 layers take minutes on a CPU
    calibrate_qa_head(model, _qa_samples(args, 4 if model.config.layers > 12 else 32, _CALIBRATION_SEED))


def _bert_inputs(args: dict[str, Any]) -> list[InputSpec]:
    from modelport.zoo.bert import BertConfig

    cfg = BertConfig.named(args["config"])
    axes = {0: "batch", 1: "sequence"}
    return [
        InputSpec("input_ids", (2, cfg.seq_len), "int64", 0, cfg.vocab_size, axes),
        InputSpec("attention_mask", (2, cfg.seq_len), "int64", 0, 2, axes),
        InputSpec("token_type_ids", (2, cfg.seq_len), "int64", 0, cfg.type_vocab, axes),
    ]


_ENTRIES = [
    ZooEntry("resnet50", "ResNet-50 v1.5 (torchvision layout), 224x224 ImageNet classifier, 25.6 M parameters",
             "modelport.zoo.resnet:ResNet50", lambda a: _image(a, 224), ("logits",), "classification",
             # Seeded logits reach ~500 on uniform validation inputs (45 on its image samples); onnxruntime's fused
             # conv+bn differs from eager by about 5e-7 relative there.
             atol=1e-3, mlperf=MLPERF["resnet50"], metric="classification", sample="one 224x224 RGB image",
             samples_fn=_natural_images(224), known_working=("torchscript", "onnx-opset7-25", "pt2"),
             calibrate=_calibrate_resnet(224, 16)),
    ZooEntry("resnet50-small", "ResNet-50 v1.5 architecture with one bottleneck per stage, 64x64, 100 classes",
             "modelport.zoo.resnet:ResNet50", lambda a: _image(a, 64), ("logits",), "classification",
             {"num_classes": 100, "layers": (1, 1, 1, 1)}, atol=1e-3, mlperf=MLPERF["resnet50"],
             metric="classification", sample="one 64x64 RGB image", samples_fn=_natural_images(64),
             known_working=("torchscript", "onnx-opset17"), calibrate=_calibrate_resnet(64, 32)),
    ZooEntry("bert", "BERT encoder + SQuAD QA head; small config (4 layers, 256 hidden, seq 128); "
             "--model-args '{\"config\": \"large\"}' for BERT-Large (seq 384)",
             "modelport.zoo.bert:BertForQuestionAnswering", _bert_inputs, ("start_logits", "end_logits"),
             # atol: BERT-Large's 24 layers put up to 3.4e-4 between its artifacts' logits and eager's
             # (docs/decisions.md, "Zoo: BERT-Large's tolerance"); the default config stays within 1e-5
             "question-answering", {"config": "small"}, atol=1e-3, mlperf=MLPERF["bert"],
             metric="question-answering",
             sample="one tokenised question + context (128 tokens; BERT-Large: 384)", samples_fn=_qa_samples,
             known_working=("torchscript", "onnx-opset13-25", "pt2"), calibrate=_calibrate_bert),
    ZooEntry("bert-small", "BERT QA, tiny config (2 layers, 64 hidden, seq 32) for tests",
             "modelport.zoo.bert:BertForQuestionAnswering", _bert_inputs, ("start_logits", "end_logits"),
             "question-answering", {"config": "tiny"}, mlperf=MLPERF["bert"], metric="question-answering",
             sample="one 32-token sequence", samples_fn=_qa_samples, known_working=("torchscript", "onnx-opset17"),
             calibrate=_calibrate_bert),
    ZooEntry("tiny-cnn", "two conv blocks + linear, 32x32 images, 10 classes",
             "modelport.zoo.tiny:TinyCNN", lambda a: _image(a, 32), ("logits",), "classification"),
    ZooEntry("tiny-transformer", "one pre-norm transformer block (attention + GELU MLP), dim 64",
             "modelport.zoo.tiny:TinyTransformerBlock",
             lambda a: [InputSpec("x", (2, 16, a.get("dim", 64)), "float32", -1.0, 1.0,
                                  {0: "batch", 1: "sequence"})],
             ("y",), "features"),
    ZooEntry("branchy", "a linear layer and a data-dependent branch (if x.sum() > 0); traps torch.jit.trace",
             "modelport.zoo.tiny:Branchy",
             lambda a: [InputSpec("x", (2, a.get("features", 8)), "float32", 0.0, 1.0, {0: "batch"})],
             ("y",), "features"),
]
ZOO: dict[str, ZooEntry] = {e.name: e for e in [*_ENTRIES, *FAMILY_ENTRIES]}


def names() -> list[str]:
    return list(ZOO)


def entry_for_source(source_spec: str | None) -> ZooEntry | None:
    """The entry of a ``zoo:NAME`` source (its task, tolerance and samples apply); None for any other source."""
    if not source_spec or not source_spec.startswith("zoo:"):
        return None
    return get(source_spec.removeprefix("zoo:"))


def get(name: str) -> ZooEntry:
    """The entry called ``name``; an unknown name is an ``InputError`` listing the known ones."""
    try:
        return ZOO[name]
    except KeyError:
        raise InputError(f"unknown zoo model {name!r}", f"known: {', '.join(ZOO)}") from None
