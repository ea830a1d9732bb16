"""LibriSpeech dev-clean for RNN-T: ``<speaker>/<chapter>/<speaker>-<chapter>.trans.txt`` and one audio file per
utterance beside it (``.flac`` as distributed, or ``.wav`` as the reference's sox conversion writes them),
16 kHz mono.

Features are the reference's log filterbank (rnnt.toml ``input_eval``; docs/decisions.md, "Data sets: the
reference layouts on disk"): pre-emphasis 0.97, a 512-point STFT of 20 ms Hann windows every 10 ms (torch.stft,
as the reference), the deterministic dither floor, a Slaney mel filterbank as librosa builds it, natural log,
frames spliced 3 at a time (when the model's feature width is 3 x the mel count), per-feature normalisation
over the utterance, zero-padded or cut to the model's frame count. Silence trimming is not applied.
The transcript is read greedily off the joint lattice the artifact returns for a blank token context
(``validators.task_metrics.lattice_transcript``): one call per utterance, as LoadGen issues samples, where the
reference's decoder calls the prediction network once per emitted symbol, so transcripts are bounded by the
context length. The metric is the reference accuracy_eval.py's word error rate over all utterances.
"""

from __future__ import annotations

import math
import wave
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from modelport.datasets.base import DataSet, Responses, Scored, Status, named_input, quiet, report_every, stack
from modelport.errors import InputError
from modelport.spec import InputSpec
from modelport.validators.task_metrics import edit_distance, lattice_transcript

LABELS = " abcdefghijklmnopqrstuvwxyz'"  # the reference's 28 symbols; the blank is the 29th
RATE = 16000
N_FFT, WINDOW, HOP = 512, 320, 160
PREEMPH, DITHER = 0.97, 1e-5


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, np.float64)
    lin = f / (200.0 / 3)
    logstep = math.log(6.4) / 27.0
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / logstep, lin)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    logstep = math.log(6.4) / 27.0
    return np.where(m >= 15.0, 1000.0 * np.exp(logstep * (m - 15.0)), m * (200.0 / 3))


def mel_filterbank(n_mels: int, rate: int = RATE, n_fft: int = N_FFT) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1): librosa.filters.mel's default (Slaney scale and area normalisation)."""
    fft_freqs = np.linspace(0, rate / 2, n_fft // 2 + 1)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(rate / 2)), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    return (weights * (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]).astype(np.float32)


def features(audio: np.ndarray, n_mels: int, splice: int) -> tuple[np.ndarray, int]:
    """(frames, n_mels * splice) normalised log filterbank features and the valid frame count."""
    import torch

    x = torch.from_numpy(np.asarray(audio, np.float32))
    x = torch.cat([x[:1], x[1:] - PREEMPH * x[:-1]])
    spec = torch.stft(x, N_FFT, HOP, WINDOW, torch.hann_window(WINDOW, periodic=False), center=True,
                      return_complex=True)
    power = spec.abs().pow(2) + DITHER**2
    feats = torch.log(torch.from_numpy(mel_filterbank(n_mels)) @ power + 1e-20)  # (mels, frames)
    if splice > 1:
        shifted = [feats] + [torch.nn.functional.pad(feats[:, n:], (0, n)) for n in range(1, splice)]
        feats = torch.cat(shifted, dim=0)[:, ::splice]
    valid = min(feats.shape[1], math.ceil(math.ceil(len(audio) / HOP) / splice))
    mean = feats[:, :valid].mean(dim=1, keepdim=True)
    std = feats[:, :valid].std(dim=1, keepdim=True) if valid > 1 else torch.zeros_like(mean)
    return ((feats - mean) / (std + 1e-5)).T.numpy(), valid


def read_audio(path: Path) -> np.ndarray:
    if path.suffix == ".wav":
        try:
            with wave.open(str(path)) as w:
                rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
                raw = w.readframes(w.getnframes())
        except (OSError, wave.Error, EOFError) as e:
            raise InputError(f"--dataset librispeech: {path} is not a readable WAV file: {e}") from None
        if width != 2 or channels != 1:
            raise InputError(f"--dataset librispeech: {path} is not 16-bit mono PCM",
                             "convert it as the reference does (sox FILE.flac -r 16000 -b 16 -c 1 FILE.wav)")
        audio = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    else:
        try:
            import soundfile
        except ImportError:
            raise InputError("--dataset librispeech: reading .flac needs soundfile",
                             "pip install 'modelport[datasets]', or convert to .wav with sox") from None
        try:
            audio, rate = soundfile.read(str(path), dtype="float32")
        except RuntimeError as e:
            raise InputError(f"--dataset librispeech: {path} cannot be read: {e}") from None
    if rate != RATE:
        raise InputError(f"--dataset librispeech: {path} is sampled at {rate} Hz, the model takes {RATE}")
    return audio


def utterances(path: Path) -> list[tuple[Path, str]]:
    """(audio file, transcript) per line of every ``*.trans.txt`` under ``path``, sorted by utterance id."""
    found = []
    for trans in sorted(path.rglob("*.trans.txt")):
        for line in trans.read_text().splitlines():
            if not line.strip():
                continue
            uid, _, text = line.partition(" ")
            audio = next((trans.parent / f"{uid}{ext}" for ext in (".flac", ".wav")
                          if (trans.parent / f"{uid}{ext}").is_file()), None)
            if audio is None:
                raise InputError(f"--dataset librispeech: {trans} lists {uid}, but no {uid}.flac or {uid}.wav")
            found.append((audio, text.strip().lower()))
    if not found:
        raise InputError(f"--dataset librispeech={path}: no *.trans.txt files",
                         "point at dev-clean (speaker/chapter folders)")
    return found


def load(path: Path, specs: Sequence[InputSpec], limit: int | None = None, status: Status = quiet) -> DataSet:
    feat = named_input(specs, "librispeech", "features", 3)
    length = named_input(specs, "librispeech", "feature_lengths", 1)
    tokens = named_input(specs, "librispeech", "tokens", 2)
    frames, width = feat.shape[1], feat.shape[2]
    splice = 3 if width % 3 == 0 else 1  # 240 = 80 mels x 3 (the reference); other widths: no splicing
    rows: dict[str, list[np.ndarray]] = {feat.name: [], length.name: [], tokens.name: []}
    texts, cut = [], 0
    found = utterances(path)[:limit]
    for audio_path, text in found:
        report_every(status, "librispeech: utterances", len(texts), len(found))
        f, valid = features(read_audio(audio_path), width // splice, splice)
        cut += valid > frames
        out = np.zeros((1, frames, width), np.float32)
        out[0, : min(frames, len(f))] = f[:frames]
        rows[feat.name].append(out)
        rows[length.name].append(np.array([min(valid, frames)], np.int64))
        rows[tokens.name].append(np.full((1, tokens.shape[1]), len(LABELS), np.int64))  # blank context
        texts.append(" ".join("".join(c for c in text if c in LABELS).split()))
    samples = {s.name: stack(rows[s.name], s.np_dtype) for s in (feat, length, tokens)}
    notes = [f"{cut} utterances longer than the model's {frames} frames were cut"] if cut else []
    return DataSet("librispeech", path, samples, lambda r: score(r, texts), notes)


def score(responses: Responses, texts: list[str]) -> Scored:
    errors = words = 0
    for index, outputs in sorted(responses.items()):
        symbols = lattice_transcript(outputs["logits"], int(np.asarray(outputs["encoder_lengths"]).reshape(-1)[0]))
        hypothesis = "".join(LABELS[s] for s in symbols if s < len(LABELS)).split()
        truth = texts[index].split()
        errors += edit_distance(truth, hypothesis)
        words += len(truth)
    wer = errors / words if words else 0.0
    return Scored(f"Word Error Rate: {wer * 100:.6f}%, accuracy={(1 - wer) * 100:.6f}%",
                  {"wer": wer * 100, "accuracy": (1 - wer) * 100, "words": float(words)})
