"""Sliding-window operators shared by SAN, ACmix and AT-kernel.

``aggregation``, ``subtraction``, ``subtraction2`` and ``local_dot`` take ``F`` (``mx.nd`` or
``mx.sym``) as their first argument, like Gluon's ``hybrid_forward``. ``impl`` picks the
implementation: ``'composite'`` (MXNet operators, any device), ``'kernel'`` (the kernels in a
CustomOp: CUDA through ``mx.rtc`` on a GPU, the same sources compiled with OpenMP on the CPU),
or ``None``/``'auto'``, which reads ``GLUON_CONVATTN_OPS`` and otherwise uses the kernels
wherever they are available (see :func:`resolve_impl`). Docs: ``docs/ops.md``.
"""
import os

import mxnet as mx

from ..utils.checks import check_array, check_float16_on_cpu
from . import composite, custom, extension
from .matmul import batch_dot
from .mix import mix
from .norm import layer_norm
from .pointwise import pointwise

# registers the MXNet operators now, so that a symbol file holding them loads after
# `import gluon_convattn` (about 0.4 s; nothing where the library is not built)
extension.loaded()

__all__ = ['aggregation', 'subtraction', 'subtraction2', 'local_dot', 'unfold', 'tap_softmax',
           'layer_norm', 'batch_dot', 'mix', 'relu', 'pointwise', 'resolve_impl', 'check_impl',
           'IMPLS']

IMPLS = ('auto', 'composite', 'kernel')
ENV_VAR = 'GLUON_CONVATTN_OPS'


def check_impl(impl, source='argument'):
    """Raise ValueError unless ``impl`` is None or one of :data:`IMPLS` (``source`` says where
    it came from, for the message)."""
    if impl is not None and impl not in IMPLS:
        raise ValueError('impl must be one of %s (%s), got %r: composite (MXNet operators, any '
                         'device), kernel (the compiled kernels) or auto (the kernels where '
                         'they are available)' % (', '.join(map(repr, IMPLS)), source, impl))


def resolve_impl(F, impl=None, *arrays):
    """Decide which implementation runs: 'composite' or 'kernel'.

    ``impl`` (else the ``GLUON_CONVATTN_OPS`` environment variable, else 'auto'): 'composite'
    and 'kernel' are taken as they are. 'auto' picks the kernels where compiled kernels serve
    the device: imperatively, the device of ``arrays[0]`` (the GPU through ``mx.rtc``, the CPU
    through the library built at install time); in a symbolic (hybridized) graph, whose device
    is not known yet, either of them. A kernel graph run where no kernels serve the device
    computes the composite operators inside its CustomOps.
    """
    check_impl(impl)
    if not impl:
        impl = os.environ.get(ENV_VAR) or 'auto'
        check_impl(impl, 'the environment variable %s' % ENV_VAR)
    if impl != 'auto':
        return impl
    if F is mx.nd and arrays:
        devices = [arrays[0].context.device_type]
    else:
        devices = ['gpu', 'cpu']
    return 'kernel' if any(custom.kernels_available(d) for d in devices) else 'composite'


def _dispatch(name, F, arrays, kwargs, impl, plain_weights=False):
    if F is mx.nd:
        for x in arrays:
            check_array(x, 'ops.' + name, float16_on_cpu=True)   # the kernel path decides
    which = resolve_impl(F, impl, *arrays)
    if which == 'kernel':
        win = composite.window(kwargs['kernel_size'], kwargs['stride'], kwargs['padding'],
                               kwargs['dilation'], kwargs['pad_mode'])
        return custom.apply(F, name, arrays, win, kwargs.get('groups'),
                            plain=(False, plain_weights))
    if F is mx.nd:
        check_float16_on_cpu(arrays[0].dtype, arrays[0].context, 'ops.%s: float16 input' % name)
    return getattr(composite, name)(F, *arrays, **kwargs)


def aggregation(F, x, w, kernel_size=3, stride=1, padding=0, dilation=1, pad_mode=0, impl=None,
                plain_weights=False):
    """Window-weighted sum (SAN's Aggregation); see :mod:`gluon_convattn.ops.composite`.

    ``plain_weights=True`` says ``w`` is in plain layout (an output of this package's CPU
    operators, reshaped at most), so the kernel path takes it without the plain-layout copy of
    :mod:`.custom`; give it for nothing else."""
    return _dispatch('aggregation', F, (x, w), dict(
        kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation,
        pad_mode=pad_mode), impl, plain_weights)


def subtraction(F, x, kernel_size=3, stride=1, padding=0, dilation=1, pad_mode=0, impl=None):
    """Centre minus window taps (SAN's Subtraction); see :mod:`gluon_convattn.ops.composite`."""
    return _dispatch('subtraction', F, (x,), dict(
        kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation,
        pad_mode=pad_mode), impl)


def subtraction2(F, x1, x2, kernel_size=3, stride=1, padding=0, dilation=1, pad_mode=0,
                 impl=None):
    """Centre of x1 minus window taps of x2 (SAN's Subtraction2)."""
    return _dispatch('subtraction2', F, (x1, x2), dict(
        kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation,
        pad_mode=pad_mode), impl)


def local_dot(F, x1, x2, groups, kernel_size=3, stride=1, padding=0, dilation=1, pad_mode=0,
              impl=None):
    """Per-group dot product of x1's window centre with x2's window taps (ACmix's logits)."""
    return _dispatch('local_dot', F, (x1, x2), dict(
        groups=groups, kernel_size=kernel_size, stride=stride, padding=padding,
        dilation=dilation, pad_mode=pad_mode), impl)


def unfold(F, x, kernel_size=3, stride=1, padding=0, dilation=1, pad_mode=0):
    """The window taps themselves, (N, C, kh*kw, Ho*Wo): for layers that feed them to other
    layers (AT-kernel's MLP), so they are materialised by definition (composite only)."""
    win = composite.window(kernel_size, stride, padding, dilation, pad_mode)
    if composite._is_imperative(F):
        check_array(x, 'ops.unfold')
        composite.check_window_args(win, x.shape)
    return composite.local_unfold(F, x, win)


def tap_softmax(F, logits):
    """Softmax over the taps axis (axis 2) of (N, G, kh*kw, L) attention logits.

    Computed along the last axis of the transposed logits: MXNet's CPU softmax over a middle
    axis is several times slower than over the last (MKL-DNN's), which outweighs the two
    transposes. The same values as ``F.softmax(logits, axis=2)``.
    """
    return F.softmax(logits.transpose((0, 1, 3, 2)), axis=-1).transpose((0, 1, 3, 2))


def relu(F, x):
    """``max(x, 0)`` through MXNet's ``Activation`` operator, not its ``relu`` operator.

    ``relu`` has no MKL-DNN path in MXNet 1.9: fed an MKL-DNN array (a convolution's or batch
    norm's output) inside a hybridized graph, it copies its input and its output to the plain
    layout, and in a graph hybridized with ``static_shape`` those copies are kept for good
    (san10_pairwise's training step: 1334 MiB with ``relu``, 979 MiB with ``Activation``). The
    same values and gradient.
    """
    return F.Activation(x, act_type='relu')
