"""LeapLabTHU/ACmix checkpoints -> :mod:`gluon_convattn.model_zoo.acmix`.

ResNet files are plain state dicts or ``{'state_dict': ...}``, the released Swin-T/S files
``{'model': ...}``; :func:`core.load_checkpoint` unwraps both and strips ``module.``. Our
blocks keep upstream's attribute names, so weights map one to one (BatchNorm and LayerNorm
``weight``/``bias`` become ``gamma``/``beta``).

Swin checkpoints also hold two buffers that are not weights, ``attn.relative_position_index``
and ``attn_mask``: our network computes them in its graph. They are checked against the values
their shapes imply (standard Swin index for the window; shifted-window mask for the grid) and
then dropped, so a file whose buffers were altered is refused instead of silently ignored.
"""
import hashlib

import numpy as np

from .core import ConversionError, register_converter, rename

__all__ = ['convert_acmix', 'swin_relative_position_index', 'swin_attention_mask',
           'expected_swin_buffer', 'buffer_digest']

_INDEX_SUFFIX = 'relative_position_index'
_MASK_SUFFIX = 'attn_mask'
_MASK_VALUE = -100.0


def swin_relative_position_index(window):
    """(window**2, window**2) Swin index of the relative offset of token i from token j."""
    rows, cols = np.divmod(np.arange(window * window), window)
    d_row = rows[:, None] - rows[None, :] + window - 1
    d_col = cols[:, None] - cols[None, :] + window - 1
    return d_row * (2 * window - 1) + d_col


def swin_attention_mask(height, width, window, shift):
    """(nW, window**2, window**2) shifted-window mask: 0 within a region, -100 across."""
    def regions(size):
        index = np.arange(size)
        return (index >= size - window).astype(int) + (index >= size - shift)
    labels = regions(height)[:, None] * 3 + regions(width)[None, :]
    labels = labels.reshape(height // window, window, width // window, window)
    labels = labels.transpose(0, 2, 1, 3).reshape(-1, window * window)
    return np.where(labels[:, None, :] != labels[:, :, None], _MASK_VALUE, 0.0)


def _side(count, what, key):
    side = int(round(np.sqrt(count)))
    if side * side != count:
        raise ConversionError('buffer %r: %s %d is not a square' % (key, what, count))
    return side


def expected_swin_buffer(key, shape):
    """The value a standard Swin buffer named ``key`` has for its ``shape``: the relative
    position index of a window of ``sqrt(N)`` tokens a side, or the shifted-window mask of a
    square grid of ``sqrt(nW)`` such windows (shift ``window // 2``)."""
    shape = tuple(shape)
    if key.endswith(_INDEX_SUFFIX):
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ConversionError('buffer %r has shape %s, expected (N, N)' % (key, shape))
        return swin_relative_position_index(_side(shape[0], 'token count', key))
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ConversionError('buffer %r has shape %s, expected (nW, N, N)' % (key, shape))
    window = _side(shape[1], 'token count', key)
    side = window * _side(shape[0], 'window count', key)
    return swin_attention_mask(side, side, window, window // 2)


def buffer_digest(value):
    """sha256 of a buffer's values (integers as int64, others as float64): how the golden
    fixtures record upstream's buffers."""
    value = np.asarray(value)
    canonical = value.astype(np.int64 if value.dtype.kind in 'iu' else np.float64)
    return hashlib.sha256(np.ascontiguousarray(canonical).tobytes()).hexdigest()


def _check_buffer(key, value):
    value = np.asarray(value)
    if not np.array_equal(value, expected_swin_buffer(key, value.shape)):
        raise ConversionError('buffer %r differs from the standard Swin %s for its shape %s; '
                              'the checkpoint does not come from SwinTransformer_acmix'
                              % (key, key.rsplit('.', 1)[-1], value.shape))


@register_converter('ACmix')
def convert_acmix(state_dict, target_shapes, model_name):
    """Map an ACmix state dict (numpy arrays) onto our parameter names; strict."""
    weights = {}
    for key, value in state_dict.items():
        if key.endswith((_INDEX_SUFFIX, _MASK_SUFFIX)) and model_name.startswith('acmix_swin'):
            _check_buffer(key, value)
        else:
            weights[key] = value
    return rename(weights, target_shapes)
