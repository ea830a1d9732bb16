"""The task names users know from Optimum and transformers, which transformers Auto class builds each, which
tasks an architecture supports, and which task a ``save_pretrained`` directory means when none is given.

What an architecture supports is read from transformers' own Auto mappings (model_type -> class name), so a
new transformers release brings its new architectures with it (docs/decisions.md "## Hugging Face tasks: the
Optimum names, transformers' Auto mappings").
"""

from __future__ import annotations

from typing import Any

from modelport.errors import InputError

#: task -> (transformers Auto class, name of its ``*_MAPPING_NAMES`` table in transformers.models.auto)
_AUTO: dict[str, tuple[str, str]] = {
    "feature-extraction": ("AutoModel", "MODEL_MAPPING_NAMES"),
    "sentence-similarity": ("AutoModel", "MODEL_MAPPING_NAMES"),
    "fill-mask": ("AutoModelForMaskedLM", "MODEL_FOR_MASKED_LM_MAPPING_NAMES"),
    "text-classification": ("AutoModelForSequenceClassification", "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES"),
    "token-classification": ("AutoModelForTokenClassification", "MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES"),
    "question-answering": ("AutoModelForQuestionAnswering", "MODEL_FOR_QUESTION_ANSWERING_MAPPING_NAMES"),
    "multiple-choice": ("AutoModelForMultipleChoice", "MODEL_FOR_MULTIPLE_CHOICE_MAPPING_NAMES"),
    "text-generation": ("AutoModelForCausalLM", "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES"),
    "text-generation-with-past": ("AutoModelForCausalLM", "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES"),
    "text2text-generation": ("AutoModelForSeq2SeqLM", "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES"),
    "text2text-generation-with-past": ("AutoModelForSeq2SeqLM", "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES"),
    "image-classification": ("AutoModelForImageClassification", "MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES"),
    "semantic-segmentation": ("AutoModelForSemanticSegmentation", "MODEL_FOR_SEMANTIC_SEGMENTATION_MAPPING_NAMES"),
    "object-detection": ("AutoModelForObjectDetection", "MODEL_FOR_OBJECT_DETECTION_MAPPING_NAMES"),
    "audio-classification": ("AutoModelForAudioClassification", "MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES"),
    "automatic-speech-recognition": ("AutoModelForSpeechSeq2Seq", "MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES"),
    "automatic-speech-recognition-with-past": ("AutoModelForSpeechSeq2Seq", "MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES"),
    "zero-shot-image-classification": ("AutoModelForZeroShotImageClassification",
                                       "MODEL_FOR_ZERO_SHOT_IMAGE_CLASSIFICATION_MAPPING_NAMES"),
}
#: speech recognition by a CTC head (wav2vec2, hubert, ...) is one graph, not generation
_CTC = ("AutoModelForCTC", "MODEL_FOR_CTC_MAPPING_NAMES")

#: every task name of issue 12, in the order help and error messages list them
TASKS: tuple[str, ...] = tuple(_AUTO)

#: tasks whose export is several components driven by a generation loop (modelport.sources.hf_generative);
#: automatic-speech-recognition is generative only for encoder-decoders: see ``is_generative``
GENERATIVE: frozenset[str] = frozenset({
    "text-generation", "text-generation-with-past", "text2text-generation", "text2text-generation-with-past",
    "automatic-speech-recognition", "automatic-speech-recognition-with-past"})

# Inference order when a class appears in several mappings: the specific head first, the bare model last
# (CLIPModel is both the zero-shot model and a base model; it is zero-shot). Generative tasks infer their
# -with-past form, as optimum-cli does. Sequence-to-sequence comes before fill-mask: transformers lists
# BartForConditionalGeneration (and its kin) as bart's masked-LM class too, and such a save is a text2text model.
_INFER_ORDER = ("zero-shot-image-classification", "question-answering", "multiple-choice", "token-classification",
                "text-classification", "text2text-generation-with-past", "fill-mask", "image-classification",
                "semantic-segmentation", "object-detection", "audio-classification",
                "automatic-speech-recognition-with-past", "text-generation-with-past", "feature-extraction")


def _mapping(table: str) -> dict[str, Any]:
    from transformers.models.auto import modeling_auto  # noqa: PLC0415 - optional dependency, loaded on use

    return dict(getattr(modeling_auto, table, {}))


def _model_type(config: Any) -> str:
    return str(getattr(config, "model_type", "") or "")


def is_ctc(config: Any) -> bool:
    """Whether the architecture recognises speech with a CTC head (one graph) rather than an encoder-decoder."""
    kind = _model_type(config)
    return kind in _mapping(_CTC[1]) and kind not in _mapping(_AUTO["automatic-speech-recognition"][1])


def is_generative(task: str, config: Any) -> bool:
    """Whether ``task`` on this architecture is exported as generation components (hf_generative)."""
    return task in GENERATIVE and not (task == "automatic-speech-recognition" and is_ctc(config))


def _entry(task: str, config: Any = None) -> tuple[str, str]:
    if task == "automatic-speech-recognition" and config is not None and is_ctc(config):
        return _CTC
    return _AUTO[task]


def auto_class(task: str, config: Any = None) -> str:
    """The transformers Auto class name that builds ``task`` (with ``config``: AutoModelForCTC for CTC speech)."""
    if task not in _AUTO:
        raise InputError(f"unknown task {task!r}", f"use one of: {', '.join(TASKS)}")
    return _entry(task, config)[0]


def supported_tasks(config: Any) -> list[str]:
    """The tasks transformers has a class for, for this config's model_type, in ``TASKS`` order."""
    kind = _model_type(config)
    remote = _remote_classes(config)
    return [t for t in TASKS if kind in _mapping(_entry(t, config)[1]) or _entry(t, config)[0] in remote]


def _remote_classes(config: Any) -> set[str]:
    """The Auto classes a directory's own code provides (config.json auto_map; used with --trust-remote-code)."""
    auto_map = getattr(config, "auto_map", None)
    return set(auto_map) if isinstance(auto_map, dict) else set()


def infer_task(config: Any) -> str | None:
    """The task ``config.architectures[0]`` is the class of; feature-extraction for a bare AutoModel save."""
    kind = _model_type(config)
    arch = (getattr(config, "architectures", None) or [None])[0]
    if arch is None:
        return "feature-extraction" if kind in _mapping("MODEL_MAPPING_NAMES") else None
    for task in _INFER_ORDER:
        if arch in _as_list(_mapping(_entry(task, config)[1]).get(kind)):
            return task
    if arch in _as_list(_mapping(_CTC[1]).get(kind)):
        return "automatic-speech-recognition"
    remote = _remote_classes(config)
    return next((t for t in _INFER_ORDER if _entry(t, config)[0] in remote), None)


def _as_list(names: Any) -> list[Any]:
    return list(names) if isinstance(names, (list, tuple)) else [names]


def resolve_task(config: Any, requested: str | None) -> str:
    """The task to export: ``requested`` if this architecture supports it, else the one inferred from config.

    An unknown task, one the architecture has no class for, or a directory whose class names no task is one
    InputError that lists the tasks this architecture supports.
    """
    kind = _model_type(config) or "?"
    supported = supported_tasks(config)
    listing = f"supported for {kind}: {', '.join(supported) or 'none'}"
    if requested is not None:
        if requested not in _AUTO:
            raise InputError(f"unknown task {requested!r} ({listing})", f"pass --task one of: {', '.join(supported)}")
        if requested not in supported:
            raise InputError(f"task {requested!r} is not supported for {kind} ({listing})",
                             f"pass --task one of: {', '.join(supported)}")
        return requested
    task = infer_task(config)
    if task is None:
        arch = (getattr(config, "architectures", None) or ["?"])[0]
        raise InputError(f"cannot tell the task of {arch} ({listing})", "pass --task")
    return task
