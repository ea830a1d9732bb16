"""The task table: names users know from Optimum, inferred from config.architectures, refused with the list of
what the architecture supports."""

from __future__ import annotations

import pytest

from modelport.errors import InputError

transformers = pytest.importorskip("transformers")
hf_tasks = pytest.importorskip("modelport.sources.hf_tasks")

_ISSUE_TASKS = {
    "feature-extraction", "fill-mask", "text-classification", "token-classification", "question-answering",
    "multiple-choice", "text-generation", "text-generation-with-past", "text2text-generation",
    "text2text-generation-with-past", "image-classification", "semantic-segmentation", "object-detection",
    "audio-classification", "automatic-speech-recognition", "automatic-speech-recognition-with-past",
    "zero-shot-image-classification", "sentence-similarity"}


def _config(name: str, architectures: list[str] | None):
    config = getattr(transformers, name)()
    config.architectures = architectures
    return config


def test_every_task_of_the_issue_is_known_and_generative_ones_are_marked():
    assert set(hf_tasks.TASKS) == _ISSUE_TASKS
    assert hf_tasks.GENERATIVE < _ISSUE_TASKS
    assert "text-generation-with-past" in hf_tasks.GENERATIVE and "fill-mask" not in hf_tasks.GENERATIVE


@pytest.mark.parametrize(("config", "arch", "task", "auto", "generative"), [
    ("BertConfig", ["BertForQuestionAnswering"], "question-answering", "AutoModelForQuestionAnswering", False),
    ("BertConfig", ["BertForMaskedLM"], "fill-mask", "AutoModelForMaskedLM", False),
    ("BertConfig", ["BertModel"], "feature-extraction", "AutoModel", False),
    ("BertConfig", None, "feature-extraction", "AutoModel", False),  # a bare AutoModel save
    ("CLIPConfig", ["CLIPModel"], "zero-shot-image-classification", "AutoModelForZeroShotImageClassification",
     False),
    ("Wav2Vec2Config", ["Wav2Vec2ForCTC"], "automatic-speech-recognition", "AutoModelForCTC", False),
    ("Wav2Vec2Config", ["Wav2Vec2ForSequenceClassification"], "audio-classification",
     "AutoModelForAudioClassification", False),
    ("WhisperConfig", ["WhisperForConditionalGeneration"], "automatic-speech-recognition-with-past",
     "AutoModelForSpeechSeq2Seq", True),
    ("GPT2Config", ["GPT2LMHeadModel"], "text-generation-with-past", "AutoModelForCausalLM", True),
    ("T5Config", ["T5ForConditionalGeneration"], "text2text-generation-with-past", "AutoModelForSeq2SeqLM", True),
    # also bart's masked-LM class in transformers' tables; Optimum, like us, exports it as text2text
    ("BartConfig", ["BartForConditionalGeneration"], "text2text-generation-with-past", "AutoModelForSeq2SeqLM", True),
    ("ViTConfig", ["ViTForImageClassification"], "image-classification", "AutoModelForImageClassification", False),
])
def test_task_is_inferred_from_the_saved_class(config, arch, task, auto, generative):
    c = _config(config, arch)
    assert hf_tasks.resolve_task(c, None) == task
    assert hf_tasks.auto_class(task, c) == auto
    assert hf_tasks.is_generative(task, c) is generative


def test_whisper_speech_recognition_is_generative_and_wav2vec2_is_one_graph():
    assert hf_tasks.auto_class("automatic-speech-recognition") == "AutoModelForSpeechSeq2Seq"
    assert hf_tasks.is_generative("automatic-speech-recognition", _config("WhisperConfig", None))
    assert not hf_tasks.is_generative("automatic-speech-recognition", _config("Wav2Vec2Config", None))


def test_a_task_the_architecture_lacks_is_one_line_listing_the_supported_ones():
    c = _config("Wav2Vec2Config", ["Wav2Vec2ForCTC"])
    with pytest.raises(InputError) as e:
        hf_tasks.resolve_task(c, "fill-mask")
    assert str(e.value).startswith("task 'fill-mask' is not supported for wav2vec2 (supported for wav2vec2: "
                                   "feature-extraction, sentence-similarity, audio-classification, "
                                   "automatic-speech-recognition)")
    with pytest.raises(InputError, match=r"unknown task 'translation' \(supported for bert: feature-extraction, "):
        hf_tasks.resolve_task(_config("BertConfig", None), "translation")


def test_a_class_that_names_no_task_asks_for_one():
    with pytest.raises(InputError, match=r"cannot tell the task of BertForPreTraining \(supported for bert: .*"
                                         r"question-answering.*\); pass --task"):
        hf_tasks.resolve_task(_config("BertConfig", ["BertForPreTraining"]), None)
    assert hf_tasks.resolve_task(_config("BertConfig", ["BertForPreTraining"]), "fill-mask") == "fill-mask"
