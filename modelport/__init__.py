"""modelport: export PyTorch models, prove the exports are the same model, and measure them."""

__version__ = "0.1.0"
