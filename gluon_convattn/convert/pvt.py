"""whai362/PVT (v1, ``classification/pvt.py``) checkpoints -> :mod:`gluon_convattn.model_zoo.pvt`.

The released files are ``{'model': ...}`` (DeiT's training script), unwrapped by
:func:`core.load_checkpoint`. Our blocks keep upstream's attribute names (``patch_embed1.proj``,
``pos_embed1``, ``block3.1.attn.sr``, ``cls_token``, ``head``, ...), so the mapping is one to
one: only LayerNorm's ``weight``/``bias`` become ``gamma``/``beta``, which :func:`core.rename`
does, and its strict checks reject any key or shape that does not fit (a checkpoint trained at
another ``img_size`` has other position-embedding shapes: build the model with that size).
"""
from .core import register_converter, rename

__all__ = ['convert_pvt']


@register_converter('PVT')
def convert_pvt(state_dict, target_shapes, model_name):
    """Map a PVT v1 state dict (numpy arrays) onto our parameter names; strict."""
    return rename(state_dict, target_shapes)
