"""A 1x1 convolution as a batched matrix product, its output in MXNet's plain layout.

On the CPU, MXNet 1.9 runs a convolution through oneDNN, which writes its output in a blocked
layout. An operator of this package reading that output (the layer norm, the window kernels)
needs the plain layout: MXNet reorders the tensor into a copy in the forward pass, and the
gradient back into the blocked layout in the backward pass, inside oneDNN's scratch space, which
it keeps. For AT-kernel Tiny's (2, 256, 9, 4096) attention logits that is about 130 MiB of
its training step's peak. :func:`pointwise` computes the same convolution with MXNet's
``batch_dot`` (BLAS on the CPU, float16 too on a GPU), whose output is plain.
"""

__all__ = ['pointwise']


def pointwise(F, x, weight, bias=None):
    """``F.Convolution(x, weight, bias, kernel=(1, 1))`` as a batched matrix product.

    Parameters
    ----------
    F : module
        ``mx.nd`` or ``mx.sym``.
    x : NDArray or Symbol
        (N, C, ...) input with at least one axis after the channels.
    weight : NDArray or Symbol
        (O, C, 1, 1) filters.
    bias : NDArray or Symbol, optional
        (O,) biases, folded into the product as a column of the weight against a row of ones.

    Returns
    -------
    NDArray or Symbol
        (N, O, ...), the spatial axes of ``x``.
    """
    matrix = weight.reshape((0, -1))                          # (O, C)
    columns = x.reshape((0, 0, -1))                           # (N, C, P)
    if bias is not None:
        matrix = F.concat(matrix, bias.reshape((-1, 1)), dim=1)
        ones = F.ones_like(F.slice_axis(columns, axis=1, begin=0, end=1))
        columns = F.concat(columns, F.BlockGrad(ones), dim=1)
    batched = F.broadcast_like(matrix.expand_dims(axis=0), columns, lhs_axes=(0,),
                               rhs_axes=(0,))
    out = F.batch_dot(batched, columns)                       # (N, O, P)
    return F.reshape_like(out, x, lhs_begin=2, lhs_end=3, rhs_begin=2, rhs_end=None)
