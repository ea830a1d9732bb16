"""The MLServer runtime for modelport artifacts: ONNX and TorchScript, loaded through their modelport runner.

MLServer ships no ONNX or TorchScript runtime; its documented extension point is a subclass of
``mlserver.MLModel`` with ``load`` and ``predict``. Everything else (the Open Inference Protocol over REST and
gRPC, health, metadata, workers, metrics) stays MLServer's (docs/decisions.md, "Serving: MLServer as the
server"). The model settings ``server_process`` writes name the artifact kind and its tensors; the model
metadata MLServer publishes comes from the same settings.

This module is imported by the MLServer process, never by modelport itself (mlserver is an optional extra).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver.utils import get_model_uri

from modelport.runners import Runner, RunnerOptions, load_runner


class ArtifactRuntime(MLModel):
    """Serves one artifact; ``parameters.extra`` holds ``kind``, ``input_names``, ``output_names``, ``threads``."""

    async def load(self) -> bool:
        extra: dict[str, Any] = dict(self.settings.parameters.extra or {}) if self.settings.parameters else {}
        path = await get_model_uri(self.settings)
        self._input_names: list[str] = list(extra["input_names"])
        self._output_names: list[str] = list(extra["output_names"])
        options = RunnerOptions(threads=extra.get("threads"))
        self._runner: Runner = load_runner(extra["kind"], path, self._input_names, self._output_names, options)
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        feed = {inp.name: NumpyCodec.decode_input(inp) for inp in payload.inputs}
        missing = [n for n in self._input_names if n not in feed]
        if missing:
            raise ValueError(f"missing input(s) {', '.join(missing)}; the model takes {', '.join(self._input_names)}")
        outs = self._runner.infer(feed)
        # a runtime may name outputs its own way; the run's names are positional (as in benchmarks.backends)
        named: dict[str, np.ndarray] = dict(zip(self._output_names, outs.values(), strict=False))
        return InferenceResponse(model_name=self.name, model_version=self.version, id=payload.id,
                                 outputs=[NumpyCodec.encode_output(n, np.ascontiguousarray(v))
                                          for n, v in named.items()])
