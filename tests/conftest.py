"""Shared fixtures. LoadGen: `lg` is the module under test, `lg_run` runs a spec against it."""

from __future__ import annotations

import pytest
from helpers.loadgen import OURS, UNDER_TEST, load_module, run_lg, run_subprocess


@pytest.fixture(scope="session")
def lg():
    return load_module(UNDER_TEST)


@pytest.fixture
def lg_run(tmp_path):
    """Run a spec against the module under test: ours in-process (it must survive many StartTests),
    anything else (the official one, when pointed at it) in a fresh subprocess."""
    counter = [0]

    def run(spec, timeout: float = 60.0):
        counter[0] += 1
        outdir = tmp_path / f"run{counter[0]}"
        if UNDER_TEST == OURS:
            return run_lg(load_module(UNDER_TEST), spec, outdir)
        return run_subprocess(UNDER_TEST, spec, outdir, timeout=timeout)

    return run
