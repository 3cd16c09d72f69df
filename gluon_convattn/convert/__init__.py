"""Upstream checkpoints -> Gluon ``.params`` (PyTorch is imported only to read ``.pth`` files)."""
from .core import (ConversionError, check_complete, convert_checkpoint, convert_state_dict,
                   put, register_converter, rename, save_params, strip_prefix)
from .reader import load_checkpoint
