"""Deployment formats: ONNX export of the registered networks (``docs/onnx.md``)."""
from .onnx import export_onnx  # noqa: F401
