"""Shared by the fan-out tests: Ray is required where CI runs (CI=true), else its tests skip."""

from __future__ import annotations

import os

import pytest


def require_ray() -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("ray is not installed, and CI=true needs it: pip install -e '.[test]'")
        pytest.skip("ray is not installed (pip install 'modelport[ray]')")
