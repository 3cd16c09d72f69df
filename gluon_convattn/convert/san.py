"""hszhao/SAN checkpoints -> :mod:`gluon_convattn.model_zoo.san`.

The released files are ``{'state_dict': ...}`` saved from ``DataParallel`` (``module.``
prefixes, removed by :func:`core.load_checkpoint`). Our blocks keep upstream's attribute names
(``conv_in``, ``layer2.3.sam.conv_w.5``, ``fc``, ...), so the mapping is one to one: only
BatchNorm's ``weight``/``bias`` become ``gamma``/``beta``, which :func:`core.rename` does, and
its strict checks reject any key or shape that does not fit.
"""
from .core import register_converter, rename

__all__ = ['convert_san']


@register_converter('SAN')
def convert_san(state_dict, target_shapes, model_name):
    """Map a SAN state dict (numpy arrays) onto our parameter names; strict."""
    return rename(state_dict, target_shapes)
