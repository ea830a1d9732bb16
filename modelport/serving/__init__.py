"""Serving a converted artifact behind a real inference server (``modelport serve``).

modelport writes no server and no wire protocol (docs/decisions.md, "Serving: MLServer as the server"):
``model_info`` describes an artifact in Open Inference Protocol terms (tensor names, datatypes, shapes, read
from the manifest and one run of the artifact's runner); ``mlserver_runtime`` is the small MLServer runtime
that loads the artifact through its modelport runner; ``server_process`` writes an MLServer model repository
and starts, polls and stops the server as a process group; ``triton_repo`` writes the same artifact as a
Triton model repository (``config.pbtxt``) for a Triton server elsewhere.
"""
