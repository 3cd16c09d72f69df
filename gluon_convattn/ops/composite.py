"""The sliding-window operators written with MXNet operators only.

They run on CPU and GPU, imperatively and hybridized, have autograd through MXNet's own
backward passes, export with ``net.export``, and are the reference the kernels are tested
against. Semantics follow SAN's ``lib/sa/functions`` (hszhao/SAN):

* ``aggregation(x, w)``: ``out[n, c, p] = sum_j w[n, c % Cw, j, p] * win(x)[n, c, j, p]``
* ``subtraction(x)``:    ``out[n, c, j, p] = centre(x)[n, c, p] - win(x)[n, c, j, p]``
* ``subtraction2(x1, x2)``: ``out[n, c, j, p] = centre(x1)[n, c, p] - win(x2)[n, c, j, p]``
* ``local_dot(x1, x2, groups)``: ``out[n, g, j, p] = sum_{c in group g} centre(x1)[n, c, p] *
  win(x2)[n, c, j, p]``, groups of C/groups consecutive channels (attention logits of
  ACmix's heads; not in SAN)

where ``win(x)[n, c, j, p]`` is the ``j``-th of the ``kh*kw`` taps of the window of output
position ``p`` over ``x`` padded by ``padding`` (zeros for ``pad_mode=0``, reflection for
``pad_mode=1``), and ``centre`` is the window's middle tap, ``(k-1)//2 * dilation`` from its
start. Shapes: ``x`` (N, C, H, W), ``w`` (N, Cw, kh*kw, Ho*Wo) with C divisible by Cw;
aggregation returns (N, C, Ho, Wo), the subtractions (N, C, kh*kw, Ho*Wo), local_dot
(N, groups, kh*kw, Ho*Wo).
"""
from collections import namedtuple

import mxnet as mx

from . import kernel_spec

__all__ = ['Window', 'window', 'output_size', 'check_window_args', 'check_groups',
           'aggregation', 'subtraction', 'subtraction2', 'local_dot', 'local_unfold']

Window = namedtuple('Window', ['kernel', 'stride', 'padding', 'dilation', 'pad_mode'])


def _pair(v, name):
    pair = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    if len(pair) != 2 or not all(isinstance(i, int) for i in pair):
        raise ValueError('%s must be an int or a pair of ints, got %r' % (name, v))
    return pair


def window(kernel_size, stride=1, padding=0, dilation=1, pad_mode=0):
    """Validate and normalise the window arguments into a :class:`Window` of pairs."""
    kernel = _pair(kernel_size, 'kernel_size')
    stride, padding, dilation = (_pair(stride, 'stride'), _pair(padding, 'padding'),
                                 _pair(dilation, 'dilation'))
    if any(k < 1 or k % 2 == 0 for k in kernel):
        raise ValueError('kernel_size must be odd and positive, got %r' % (kernel_size,))
    if any(s < 1 for s in stride) or any(d < 1 for d in dilation):
        raise ValueError('stride and dilation must be >= 1, got %r and %r' % (stride, dilation))
    if any(p < 0 for p in padding):
        raise ValueError('padding must be >= 0, got %r' % (padding,))
    if pad_mode not in (0, 1):
        raise ValueError('pad_mode must be 0 (zeros) or 1 (reflection), got %r' % (pad_mode,))
    return Window(kernel, stride, padding, dilation, pad_mode)


def output_size(win, height, width):
    """Output height and width of the window over an (height, width) input."""
    return kernel_spec.output_size(win.kernel, win.stride, win.padding, win.dilation, height,
                                   width)


def check_groups(groups, channels):
    """Raise ValueError unless ``groups`` divides ``channels`` (local_dot)."""
    if not isinstance(groups, int) or groups < 1 or channels % groups:
        raise ValueError('groups=%r must be a positive int dividing the %d channels of x1'
                         % (groups, channels))


def check_window_args(win, x_shape, w_shape=None, x_name='x', x2_shape=None):
    """Check concrete shapes (imperative calls) and raise ValueError naming the argument."""
    if len(x_shape) != 4:
        raise ValueError('%s must be 4-D (N, C, H, W), got shape %s' % (x_name, tuple(x_shape)))
    n, c, h, w_ = x_shape
    if x2_shape is not None and tuple(x2_shape) != tuple(x_shape):
        raise ValueError('x2 must have the shape of x1 %s, got %s' % (tuple(x_shape),
                                                                      tuple(x2_shape)))
    if win.pad_mode == 1 and any(p >= size for p, size in zip(win.padding, (h, w_))):
        raise ValueError('reflection padding %s needs %s at least %dx%d, got %dx%d'
                         % (win.padding, x_name, win.padding[0] + 1, win.padding[1] + 1, h, w_))
    ho, wo = output_size(win, h, w_)
    if ho < 1 or wo < 1:
        raise ValueError('%s of %dx%d is smaller than the window (kernel %s, dilation %s, '
                         'padding %s)' % (x_name, h, w_, win.kernel, win.dilation, win.padding))
    if w_shape is None:
        return
    taps = win.kernel[0] * win.kernel[1]
    if len(w_shape) != 4:
        raise ValueError('w must be 4-D (N, Cw, kh*kw, Ho*Wo), got shape %s' % (tuple(w_shape),))
    cw = w_shape[1]
    if cw < 1 or c % cw:
        raise ValueError('w has %d channels, which do not divide the %d channels of x; w needs '
                         'shape (N, Cw, kh*kw, Ho*Wo) with C %% Cw == 0' % (cw, c))
    need = (n, cw, taps, ho * wo)
    if tuple(w_shape) != need:
        raise ValueError('w has shape %s, needs %s for x of shape %s' % (tuple(w_shape), need,
                                                                        tuple(x_shape)))


def _pad(F, x, win):
    ph, pw = win.padding
    if ph == 0 and pw == 0:
        return x
    if win.pad_mode == 0:
        return F.pad(x, mode='constant', constant_value=0, pad_width=(0, 0, 0, 0, ph, ph, pw, pw))
    return F.pad(x, mode='reflect', pad_width=(0, 0, 0, 0, ph, ph, pw, pw))


def local_unfold(F, x, win):
    """The window taps of padded ``x``: (N, C, kh*kw, Ho*Wo)."""
    cols = F.im2col(_pad(F, x, win), kernel=win.kernel, stride=win.stride, dilate=win.dilation,
                    pad=(0, 0))
    return cols.reshape((0, -4, -1, win.kernel[0] * win.kernel[1], -2))


def _centre(F, x, win):
    """The middle tap of every window over padded ``x``: (N, C, Ho, Wo)."""
    begin, end = [None, None], [None, None]
    for k, d in zip(win.kernel, win.dilation):
        offset, extent = (k - 1) // 2 * d, d * (k - 1)
        begin.append(offset)
        end.append(offset - extent if extent > offset else None)
    return F.slice(_pad(F, x, win), begin=tuple(begin), end=tuple(end),
                   step=(None, None) + win.stride)


def _per_channel_weights(F, w, x):
    """Repeat w's Cw channels over x's C channels (channel c uses w[:, c % Cw])."""
    one_tap = F.slice_axis(F.slice_axis(w, axis=2, begin=0, end=1), axis=3, begin=0, end=1)
    w_channels = F.sum(F.ones_like(F.slice_axis(one_tap, axis=0, begin=0, end=1)))
    index = F.broadcast_mod(F.contrib.arange_like(x, axis=1), w_channels)
    return F.take(w, index, axis=1)


def _sum_axis2(F, x):
    """Sum over axis 2 of (N, A, B, ...) -> (N*A, 1, prod(...)), as a batched product with
    ones: BLAS makes that an order of magnitude faster than MXNet's middle-axis reduction."""
    rows = x.reshape((-3, 0, -1))
    ones = F.ones_like(F.BlockGrad(F.slice_axis(rows, axis=2, begin=0, end=1)))
    return F.batch_dot(ones, rows, transpose_a=True)


def _repeat_over_taps(F, centre, taps):
    """``centre`` (N, C, Ho, Wo) repeated over the taps axis of ``taps`` (N, C, T, Ho*Wo).

    A batched outer product with ones rather than a broadcast: on the CPU, MXNet's backward
    of a broadcast (a middle-axis reduction) is an order of magnitude slower than the GEMM.
    """
    ones = F.ones_like(F.BlockGrad(F.slice_axis(taps, axis=3, begin=0, end=1)))
    return F.reshape_like(F.batch_dot(ones.reshape((-3, 0, 0)), centre.reshape((-3, 1, -1))),
                          taps)


def _is_imperative(F):
    return F is mx.nd


def aggregation(F, x, w, kernel_size=3, stride=1, padding=0, dilation=1, pad_mode=0):
    """Weighted sum over each window: (N, C, H, W), (N, Cw, kh*kw, Ho*Wo) -> (N, C, Ho, Wo)."""
    win = window(kernel_size, stride, padding, dilation, pad_mode)
    if _is_imperative(F):
        check_window_args(win, x.shape, w.shape)
    out = _sum_axis2(F, F.elemwise_mul(local_unfold(F, x, win), _per_channel_weights(F, w, x)))
    return F.reshape_like(out, _centre(F, F.BlockGrad(x), win))


def subtraction(F, x, kernel_size=3, stride=1, padding=0, dilation=1, pad_mode=0):
    """Centre minus every window tap: (N, C, H, W) -> (N, C, kh*kw, Ho*Wo)."""
    win = window(kernel_size, stride, padding, dilation, pad_mode)
    if _is_imperative(F):
        check_window_args(win, x.shape)
    taps = local_unfold(F, x, win)
    return F.elemwise_sub(_repeat_over_taps(F, _centre(F, x, win), taps), taps)


def subtraction2(F, x1, x2, kernel_size=3, stride=1, padding=0, dilation=1, pad_mode=0):
    """Centre of x1 minus every window tap of x2: 2 x (N, C, H, W) -> (N, C, kh*kw, Ho*Wo)."""
    win = window(kernel_size, stride, padding, dilation, pad_mode)
    if _is_imperative(F):
        check_window_args(win, x1.shape, x_name='x1', x2_shape=x2.shape)
    taps = local_unfold(F, x2, win)
    return F.elemwise_sub(_repeat_over_taps(F, _centre(F, x1, win), taps), taps)


def local_dot(F, x1, x2, groups, kernel_size=3, stride=1, padding=0, dilation=1, pad_mode=0):
    """Per-group dot product of x1's window centre with x2's taps:
    2 x (N, C, H, W) -> (N, groups, kh*kw, Ho*Wo)."""
    win = window(kernel_size, stride, padding, dilation, pad_mode)
    if _is_imperative(F):
        check_window_args(win, x1.shape, x_name='x1', x2_shape=x2.shape)
        check_groups(groups, x1.shape[1])
    taps = local_unfold(F, x2, win)
    prod = F.elemwise_mul(_repeat_over_taps(F, _centre(F, x1, win), taps), taps)
    out = _sum_axis2(F, prod.reshape((0, -4, groups, -1, -2)))
    return F.reshape_like(out, F.slice_axis(prod, axis=1, begin=0, end=groups))
