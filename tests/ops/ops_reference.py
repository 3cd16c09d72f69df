"""Naive numpy versions of the sliding-window operators, written from the index arithmetic of
SAN's CUDA kernels (hszhao/SAN lib/sa/functions): tap (kh, kw) of output (oh, ow) reads input
row ``oh * stride - pad + kh * dilation`` (reflected back inside for pad_mode 1, zero outside
for pad_mode 0), and the centre is the tap ``(k - 1) // 2``. Independent of MXNet.
"""
import numpy as np


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _rows(out, k, stride, pad, dilation, size, pad_mode):
    """Input index read by tap k of every output index, and whether it is inside the input."""
    i = np.arange(out) * stride - pad + k * dilation
    if pad_mode == 1:
        i = np.where(i < 0, -i, i)
        i = np.where(i >= size, 2 * (size - 1) - i, i)
    inside = (i >= 0) & (i < size)
    return np.clip(i, 0, size - 1), inside


def out_size(size, k, stride, pad, dilation):
    return (size + 2 * pad - dilation * (k - 1) - 1) // stride + 1


def _read(x, kh, kw, kernel, stride, padding, dilation, pad_mode):
    """x's values at tap (kh, kw) of every window: (N, C, Ho, Wo)."""
    h, w = x.shape[2:]
    ho = out_size(h, kernel[0], stride[0], padding[0], dilation[0])
    wo = out_size(w, kernel[1], stride[1], padding[1], dilation[1])
    rows, rows_in = _rows(ho, kh, stride[0], padding[0], dilation[0], h, pad_mode)
    cols, cols_in = _rows(wo, kw, stride[1], padding[1], dilation[1], w, pad_mode)
    vals = x[:, :, rows[:, None], cols[None, :]]
    return vals * (rows_in[:, None] & cols_in[None, :])


def window(x, kernel_size, stride=1, padding=0, dilation=1, pad_mode=0):
    """All taps: (N, C, kh*kw, Ho, Wo)."""
    kernel, stride, padding, dilation = map(_pair, (kernel_size, stride, padding, dilation))
    return np.stack([_read(x, kh, kw, kernel, stride, padding, dilation, pad_mode)
                     for kh in range(kernel[0]) for kw in range(kernel[1])], axis=2)


def centre(x, kernel_size, stride=1, padding=0, dilation=1, pad_mode=0):
    """The middle tap: (N, C, Ho, Wo)."""
    kernel, stride, padding, dilation = map(_pair, (kernel_size, stride, padding, dilation))
    return _read(x, (kernel[0] - 1) // 2, (kernel[1] - 1) // 2, kernel, stride, padding,
                 dilation, pad_mode)


def aggregation(x, w, **win):
    taps = window(x, **win)
    n, c, t, ho, wo = taps.shape
    weights = w.reshape(n, w.shape[1], t, ho, wo)[:, np.arange(c) % w.shape[1]]
    return (taps * weights).sum(axis=2)


def subtraction(x, **win):
    taps = window(x, **win)
    return (centre(x, **win)[:, :, None] - taps).reshape(taps.shape[:3] + (-1,))


def subtraction2(x1, x2, **win):
    taps = window(x2, **win)
    return (centre(x1, **win)[:, :, None] - taps).reshape(taps.shape[:3] + (-1,))


def local_dot(x1, x2, groups, **win):
    taps = window(x2, **win)
    n, c, t = taps.shape[:3]
    prod = centre(x1, **win)[:, :, None] * taps
    return prod.reshape(n, groups, c // groups, t, -1).sum(axis=2)
