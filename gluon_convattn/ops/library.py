"""Calling the CPU library's CPU-only operators (``kernels/cpu/*.cc``: the layer norm of
:mod:`.norm`, the batched matrix product of :mod:`.matmul`) from a CustomOp.

Their entry points are ``NAME_float`` and ``NAME_double`` in the library
:mod:`.cpu_kernels` loads; where it is not loaded, the CustomOp was created for another device
than the CPU, or its dtype is another, :func:`function` returns None and the CustomOp computes
MXNet's own operator.
"""
import ctypes

import mxnet as mx
import numpy as np

from . import custom
from .cpu_kernels import pointer

__all__ = ['available', 'function', 'argument', 'gradient_targets', 'on_cpu']

_SUFFIX = {'float32': 'float', 'float64': 'double'}


def _symbol(name):
    symbol = getattr(custom.get_launcher('cpu'), 'symbol', None)
    return symbol(name) if symbol is not None else None


def available(name):
    """Whether the loaded CPU library has operator ``name``."""
    return _symbol(name + '_float') is not None


def on_cpu(F, x):
    """Whether a graph or array ``x`` may run the CPU library: a symbol (the graph is built
    for whatever runs it), or an NDArray on the CPU."""
    return F is not mx.nd or x.context.device_type == 'cpu'


def function(name, device_type, dtype):
    """The library's ``name`` for arrays of ``dtype`` (a numpy dtype, or MXNet's type code as
    ``CustomOpProp.create_operator`` receives it) on ``device_type`` ('cpu' or 'gpu'), or None;
    a CustomOp looks its functions up once, when MXNet creates it, not on every call."""
    if isinstance(dtype, int):
        dtype = mx.ndarray.ndarray._DTYPE_MX_TO_NP[dtype]
    dtype = np.dtype(dtype).name
    if device_type != 'cpu' or dtype not in _SUFFIX:
        return None
    return _symbol('%s_%s' % (name, _SUFFIX[dtype]))


def argument(array):
    """A pointer argument: the data of a CPU NDArray in plain layout, or NULL for None."""
    return ctypes.c_void_p(None if array is None else pointer(array))


def gradient_targets(op, req, grads):
    """What the library writes for each gradient, by its ``req``: the array ('write',
    'inplace'), None ('null'), or a new array that ``finish()`` adds in ('add').
    Returns ``(targets, finish)``."""
    targets, late = [], []
    for r, grad in zip(req, grads):
        if r == 'null':
            targets.append(None)
        elif r in ('write', 'inplace'):
            targets.append(grad)
        else:
            temp = mx.nd.empty(grad.shape, grad.context, grad.dtype)
            targets.append(temp)
            late.append((grad, r, temp))

    def finish():
        for grad, r, temp in late:
            op.assign(grad, r, temp)
    return targets, finish
