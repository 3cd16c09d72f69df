"""Sliding-window operators shared by SAN, ACmix and AT-kernel.

``aggregation``, ``subtraction`` and ``subtraction2`` take ``F`` (``mx.nd`` or ``mx.sym``) as
their first argument, like Gluon's ``hybrid_forward``. ``impl`` picks the implementation:
``'composite'`` (MXNet operators, any device), ``'kernel'`` (the CUDA kernels through
``mx.rtc``), or ``None``/``'auto'``, which reads ``GLUON_CONVATTN_OPS`` and otherwise uses the
kernels on a GPU and the composite path elsewhere.
"""
import os

from . import composite

__all__ = ['aggregation', 'subtraction', 'subtraction2', 'local_dot', 'unfold', 'resolve_impl',
           'IMPLS']

IMPLS = ('auto', 'composite', 'kernel')
ENV_VAR = 'GLUON_CONVATTN_OPS'


def resolve_impl(F, impl=None, *arrays):
    """Decide which implementation runs: 'composite' or 'kernel'."""
    impl = impl or os.environ.get(ENV_VAR, 'auto')
    if impl not in IMPLS:
        raise ValueError('impl must be one of %s (argument or %s), got %r'
                         % (IMPLS, ENV_VAR, impl))
    if impl != 'auto':
        return impl
    return 'composite'


def _dispatch(name, F, arrays, kwargs, impl):
    if resolve_impl(F, impl, *arrays) == 'kernel':
        raise NotImplementedError('the CUDA kernels are not wired in yet')
    return getattr(composite, name)(F, *arrays, **kwargs)


def aggregation(F, x, w, kernel_size=3, stride=1, padding=0, dilation=1, pad_mode=0, impl=None):
    """Window-weighted sum (SAN's Aggregation); see :mod:`gluon_convattn.ops.composite`."""
    return _dispatch('aggregation', F, (x, w), dict(
        kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation,
        pad_mode=pad_mode), impl)


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
        composite.check_window_args(win, x.shape)
    return composite.local_unfold(F, x, win)
