"""``rate1 * a + rate2 * b`` for two (1,)-shaped rates: ACmix's mix of its attention and
convolution outputs.

On the CPU, where the MXNet operators are built (:mod:`.extension`), one operator
(``kernels/mxnet/mix_op.cc``) computes it in one pass forward and one backward. Elsewhere each
product is a matrix product of the flattened input with the (1, 1) rate: the same values as a
broadcast multiply, and the rate's gradient becomes one BLAS dot product instead of MXNet's CPU
reduction over every axis, about twice as fast.
"""
from . import extension

__all__ = ['mix', 'mix_composite']


def mix(F, rate1, rate2, a, b):
    """``rate1 * a + rate2 * b``; ``a`` and ``b`` of one shape, the rates of shape (1,)."""
    if extension.usable(F, [a, b, rate1, rate2]):
        return extension.apply(F, extension.MIX, [a, b, rate1, rate2])
    return mix_composite(F, rate1, rate2, a, b)


def mix_composite(F, rate1, rate2, a, b):
    """:func:`mix` by MXNet's operators."""
    def scaled(rate, x):
        return F.reshape_like(F.dot(x.reshape((-1, 1)), rate.reshape((1, 1))), x)
    return scaled(rate1, a) + scaled(rate2, b)
