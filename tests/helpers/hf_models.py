"""Tiny Hugging Face models built from configs with seeded weights and saved with save_pretrained (no download).

``save(name, directory)`` writes the model ``name`` of ``MODELS`` (the name says the architecture and the task
of its class); tests cache the directories in a module-scoped fixture.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

_TEXT = {"vocab_size": 96, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
         "intermediate_size": 48, "max_position_embeddings": 64}


def _bert(head: str, **extra: Any) -> Callable[[], Any]:
    def build() -> Any:
        import transformers

        labels = 2 if head == "BertForQuestionAnswering" else 3  # QA splits its logits into start and end
        config = transformers.BertConfig(**_TEXT, type_vocab_size=2, num_labels=labels, **extra)
        return getattr(transformers, head)(config)
    return build


def _deberta_v2() -> Any:
    import transformers

    # type_vocab_size 0: the embeddings ignore token_type_ids, so the ONNX exporters drop that input
    config = transformers.DebertaV2Config(**_TEXT, type_vocab_size=0, relative_attention=True,
                                          max_relative_positions=32, pos_att_type=["p2c", "c2p"], position_buckets=16)
    return transformers.DebertaV2ForMaskedLM(config)


def _vit() -> Any:
    import transformers

    config = transformers.ViTConfig(image_size=32, patch_size=8, num_channels=3, hidden_size=32, num_hidden_layers=2,
                                    num_attention_heads=2, intermediate_size=48, num_labels=5)
    return transformers.ViTForImageClassification(config)


def _convnext() -> Any:
    import transformers

    config = transformers.ConvNextConfig(image_size=32, num_channels=3, hidden_sizes=[8, 16], depths=[1, 1],
                                         num_stages=2, num_labels=5)
    return transformers.ConvNextForImageClassification(config)


def _segformer() -> Any:
    import transformers

    config = transformers.SegformerConfig(image_size=32, num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1],
                                          hidden_sizes=[8, 16], patch_sizes=[7, 3], strides=[4, 2],
                                          num_attention_heads=[1, 2], mlp_ratios=[2, 2], decoder_hidden_size=16,
                                          num_labels=3)
    return transformers.SegformerForSemanticSegmentation(config)


def _detr() -> Any:
    import transformers

    # a transformers ResNet backbone (no timm, no pretrained download); DETR takes pixel_mask beside the image
    backbone = transformers.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], out_features=["stage2"])
    config = transformers.DetrConfig(use_timm_backbone=False, backbone_config=backbone, use_pretrained_backbone=False,
                                     d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                                     decoder_attention_heads=2, encoder_ffn_dim=16, decoder_ffn_dim=16, num_queries=5,
                                     num_labels=3)
    return transformers.DetrForObjectDetection(config)


def _wav2vec2(head: str) -> Callable[[], Any]:
    def build() -> Any:
        import transformers

        config = transformers.Wav2Vec2Config(
            vocab_size=32, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=48,
            conv_dim=(16, 16, 16), conv_stride=(5, 4, 4), conv_kernel=(10, 4, 4), num_conv_pos_embeddings=16,
            num_conv_pos_embedding_groups=2, num_labels=4, classifier_proj_size=16, do_stable_layer_norm=True,
            feat_extract_norm="layer")
        return getattr(transformers, head)(config)
    return build


def _whisper_audio_classification() -> Any:
    import transformers

    config = transformers.WhisperConfig(vocab_size=64, d_model=32, encoder_layers=2, decoder_layers=1,
                                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=48,
                                        decoder_ffn_dim=48, num_mel_bins=8, max_source_positions=16, num_labels=4,
                                        classifier_proj_size=16, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                                        decoder_start_token_id=3)
    return transformers.WhisperForAudioClassification(config)


def _clip() -> Any:
    import transformers

    text = {"vocab_size": 96, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
            "intermediate_size": 48, "max_position_embeddings": 32, "pad_token_id": 0, "bos_token_id": 1,
            "eos_token_id": 2}
    vision = {"image_size": 32, "patch_size": 8, "hidden_size": 32, "num_hidden_layers": 2,
              "num_attention_heads": 2, "intermediate_size": 48}
    config = transformers.CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)
    return transformers.CLIPModel(config)


#: name -> builder; the name says the architecture and the task its class is for
MODELS: dict[str, Callable[[], Any]] = {
    "bert-fill-mask": _bert("BertForMaskedLM"),
    "bert-question-answering": _bert("BertForQuestionAnswering"),
    "bert-text-classification": _bert("BertForSequenceClassification"),
    "bert-token-classification": _bert("BertForTokenClassification"),
    "bert-multiple-choice": _bert("BertForMultipleChoice"),
    "bert-feature-extraction": _bert("BertModel"),
    "deberta-v2-fill-mask": _deberta_v2,
    "vit-image-classification": _vit,
    "convnext-image-classification": _convnext,
    "segformer-semantic-segmentation": _segformer,
    "detr-object-detection": _detr,
    "wav2vec2-automatic-speech-recognition": _wav2vec2("Wav2Vec2ForCTC"),
    "wav2vec2-audio-classification": _wav2vec2("Wav2Vec2ForSequenceClassification"),
    "whisper-audio-classification": _whisper_audio_classification,
    "clip-zero-shot-image-classification": _clip,
}

#: files a tokenizer would write beside the weights (small stand-ins: their content is not read)
TOKENIZER_FILES = {"tokenizer_config.json": {"model_max_length": 64, "do_lower_case": True},
                   "special_tokens_map.json": {"cls_token": "[CLS]", "sep_token": "[SEP]"}}


def build(name: str, seed: int = 0) -> Any:
    """The model ``name``, its weights drawn from ``seed``, in eval()."""
    torch.manual_seed(seed)
    return MODELS[name]().eval()


def save(name: str, directory: Path, seed: int = 0, tokenizer: bool = False) -> Path:
    """``build(name)`` saved with save_pretrained into ``directory``; with ``tokenizer``, a vocab.txt and
    ``TOKENIZER_FILES`` beside it."""
    build(name, seed).save_pretrained(str(directory))
    if tokenizer:
        (directory / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] +
                                                       [f"w{i}" for i in range(91)]) + "\n")
        for file, content in TOKENIZER_FILES.items():
            (directory / file).write_text(json.dumps(content))
    return directory


def saved_models(root: Path, tokenizer: bool = False) -> Callable[[str], Path]:
    """``get(name)`` -> the directory of ``name`` under ``root``, saved on first use (for module fixtures)."""
    def get(name: str) -> Path:
        path = root / name
        if not path.exists():
            save(name, path, tokenizer=tokenizer)
        return path
    return get
