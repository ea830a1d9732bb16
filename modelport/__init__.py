"""modelport: export PyTorch models, prove the exports are the same model, and measure them."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("modelport")  # one place: pyproject.toml
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
