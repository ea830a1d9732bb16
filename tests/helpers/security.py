"""Hostile inputs for the security tests: files whose loading would run code, if anything let it.

Every payload's code is ``open(MARKER, 'w')``: a test proves nothing ran by the marker's absence, and proves
the payload is real by loading it once with the trust flag and seeing the marker appear.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn


class Payload:
    """Unpickling this opens ``marker`` for writing (``builtins.open``: no shell, the same on every OS)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


class Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.register_buffer("offset", torch.ones(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) + self.offset


def save_pt2(path: Path) -> Path:
    torch.manual_seed(0)
    program = torch.export.export(Small().eval(), (torch.randn(2, 4),))
    torch.export.save(program, str(path))
    return path


def _rewrite(path: Path, change) -> None:
    """Rewrite the zip at ``path`` member by member; ``change(name, data)`` returns new bytes or None to keep."""
    with zipfile.ZipFile(path) as z:
        members = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, data in members:
            new = change(name, data)
            z.writestr(name, data if new is None else new)


def _torch_save_bytes(obj: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def pt2_with_pickled_weight(path: Path, marker: Path) -> Path:
    """The attack from the issue: a weight entry with ``use_pickle: true`` whose payload runs code."""
    save_pt2(path)

    def change(name: str, data: bytes) -> bytes | None:
        if name.endswith("weights_config.json"):
            config = json.loads(data)
            first = next(iter(config["config"].values()))
            first["use_pickle"] = True
            return json.dumps(config).encode()
        if name.endswith("/data/weights/weight_0"):
            return _torch_save_bytes(Payload(marker))
        return None

    _rewrite(path, change)
    return path


def pt2_with_opaque_constant(path: Path, marker: Path) -> Path:
    """A constant whose file name makes torch load it with plain ``pickle.loads``."""
    save_pt2(path)

    def change(name: str, data: bytes) -> bytes | None:
        if name.endswith("constants_config.json"):
            config = json.loads(data)
            config["config"]["evil"] = {"path_name": "opaque_obj_0", "is_param": False, "use_pickle": True,
                                        "tensor_meta": None}
            return json.dumps(config).encode()
        return None

    _rewrite(path, change)
    with zipfile.ZipFile(path, "a") as z:
        folder = next(n for n in z.namelist() if n.endswith("constants_config.json")).rsplit("/", 1)[0]
        z.writestr(f"{folder}/opaque_obj_0", pickle.dumps(Payload(marker)))
    return path


def pt2_with_evil_sample_inputs(path: Path, marker: Path) -> Path:
    """Sample inputs torch loads weights-only first and, on failure, again with code execution."""
    save_pt2(path)
    _rewrite(path, lambda name, _: _torch_save_bytes(Payload(marker)) if "/sample_inputs/" in name else None)
    return path


def hf_dir_with_remote_code(directory: Path, marker: Path) -> Path:
    """A save_pretrained directory whose config points transformers at the directory's own Python file."""
    transformers = __import__("transformers")
    config = transformers.BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=32)
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(str(directory))
    data = json.loads((directory / "config.json").read_text())
    data["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel"}
    (directory / "config.json").write_text(json.dumps(data))
    (directory / "evil.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n"
        "from transformers import BertConfig, BertModel\n"
        "class EvilConfig(BertConfig):\n    pass\n"
        "class EvilModel(BertModel):\n    config_class = EvilConfig\n")
    return directory


@contextlib.contextmanager
def read_only(path: Path):
    """``path`` made unwritable: chmod for a normal user, the immutable attribute for root (whom chmod does
    not stop); skips the test where neither works."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("running as root on a filesystem without chattr +i: cannot make a directory read-only")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)
