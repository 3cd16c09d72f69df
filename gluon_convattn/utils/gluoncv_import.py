"""Import GluonCV where PyTorch 2 is installed beside it.

GluonCV 0.10.5 refuses to import (RuntimeError) when it finds ``torch`` outside ``>=1.4,<2.0``,
although its MXNet half does not use torch. The test extras install torch 2 for the weight
converters, so GluonCV is imported with ``torch`` hidden; torch itself stays importable.
"""
import importlib
import sys

__all__ = ['import_gluoncv']

_HIDDEN = object()


def import_gluoncv():
    """Return the ``gluoncv`` module (its MXNet parts), whatever torch version is installed."""
    if 'gluoncv' in sys.modules:
        return sys.modules['gluoncv']
    saved = sys.modules.get('torch', _HIDDEN)
    sys.modules['torch'] = None      # makes ``import torch`` raise ImportError inside gluoncv
    try:
        return importlib.import_module('gluoncv')
    finally:
        if saved is _HIDDEN:
            del sys.modules['torch']
        else:
            sys.modules['torch'] = saved
