"""Shapes and windows the operator tests run on, and a helper that runs one operator forward
and backward through the public API."""
import mxnet as mx
import numpy as np

from gluon_convattn import ops

# (name, batch, channels, weight channels, height, width, kernel, stride, padding, dilation)
# Together: stride 2, dilation 2, kernels 3/5/7, non-square inputs, C/Cw = 1 and 8, batch 3,
# padding beyond the window centre, and a non-square kernel.
WINDOWS = [
    ('k3', 2, 8, 8, 6, 5, 3, 1, 1, 1),
    ('k3_stride2_batch3', 3, 8, 1, 7, 6, 3, 2, 1, 1),
    ('k5_dilation2', 2, 8, 2, 9, 8, 5, 1, 4, 2),
    ('k7_stride2_wide', 1, 16, 2, 8, 11, 7, 2, 3, 1),
    ('k3x5_pad2', 2, 4, 4, 6, 7, (3, 5), (1, 2), (2, 2), (1, 1)),
]
PAD_MODES = (0, 1)


def window_kwargs(case, pad_mode):
    _, _, _, _, _, _, kernel, stride, padding, dilation = case
    return dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation,
                pad_mode=pad_mode)


def inputs(op_name, case, pad_mode, dtype='float64', seed=0, groups=None):
    """Random inputs (numpy) of ``op_name`` for one case."""
    _, n, c, cw, h, w, kernel, stride, padding, dilation = case
    rng = np.random.RandomState(seed)
    x = rng.randn(n, c, h, w).astype(dtype)
    if op_name == 'aggregation':
        k = kernel if isinstance(kernel, tuple) else (kernel, kernel)
        s, p, d = (v if isinstance(v, tuple) else (v, v) for v in (stride, padding, dilation))
        ho, wo = ((size + 2 * pp - dd * (kk - 1) - 1) // ss + 1
                  for size, kk, ss, pp, dd in zip((h, w), k, s, p, d))
        return [x, rng.randn(n, cw, k[0] * k[1], ho * wo).astype(dtype)]
    if op_name == 'subtraction':
        return [x]
    return [x, rng.randn(n, c, h, w).astype(dtype)]


def run(op_name, arrays, impl, grad_out_seed=1, hybridize=False, **kwargs):
    """Forward and backward of ``ops.<op_name>``: (output, [grad of each input]) as numpy.

    The backward seeds a random output gradient, so every output element matters.
    """
    nd_in = [mx.nd.array(a, dtype=a.dtype) for a in arrays]
    for a in nd_in:
        a.attach_grad()
    block = OpBlock(op_name, impl, **kwargs)
    if hybridize:
        block.hybridize()
    with mx.autograd.record():
        out = block(*nd_in)
    grad = np.random.RandomState(grad_out_seed).randn(*out.shape).astype(arrays[0].dtype)
    out.backward(mx.nd.array(grad, dtype=grad.dtype))
    return out.asnumpy(), [a.grad.asnumpy() for a in nd_in]


class OpBlock(mx.gluon.HybridBlock):
    """One operator as a HybridBlock (for hybridize and export)."""

    def __init__(self, op_name, impl=None, **kwargs):
        super(OpBlock, self).__init__()
        self.op_name, self.impl, self.kwargs = op_name, impl, kwargs

    def hybrid_forward(self, F, *arrays):
        return getattr(ops, self.op_name)(F, *arrays, impl=self.impl, **self.kwargs)
