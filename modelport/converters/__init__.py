"""Converters: export a loaded PyTorch model (TorchScript, ONNX, .pt2) and check every export.

Public entry point: ``convert(source, ConvertOptions(...)) -> ConvertResult`` in ``modelport.converters.pipeline``.
Loading a model source lives one layer down, in ``modelport.sources``.
"""
