"""Converters: load a PyTorch model (``sources``), export it (TorchScript, ONNX, .pt2), check every export.

Public entry point: ``convert(source, ConvertOptions(...)) -> ConvertResult`` in ``modelport.converters.pipeline``.
This package ``__init__`` imports nothing heavy so that ``modelport.converters.sources`` can be imported alone.
"""
