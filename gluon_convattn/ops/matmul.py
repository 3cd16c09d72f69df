"""Batched matrix products, with the CPU library's kernel where it is built.

MXNet 1.9's CPU ``batch_dot`` calls one GEMM after another: on ACmix-Swin's window attention
(384 products of 49x32 by 32x49 per stage-1 block at batch 2) it is 3-4x slower than PyTorch's
``bmm`` and 40 % of the training step. :func:`batch_dot` runs ``kernels/cpu/batch_dot.cc``
(the batch shared among OpenMP threads), forward and backward: where it can as the MXNet
operator of :mod:`.extension`, else behind a CustomOp; elsewhere (a GPU, float16, the CPU
library not built) the CustomOp computes with MXNet's ``batch_dot``, and a graph built without
the library uses ``F.batch_dot`` itself.
"""
import ctypes

import mxnet as mx

from . import custom, extension, library

__all__ = ['batch_dot', 'OP_TYPE']

OP_TYPE = extension.BATCH_DOT           # the CustomOp and the MXNet operator share the name


def batch_dot(F, a, b, transpose_a=False, transpose_b=False):
    """``F.batch_dot(a, b, transpose_a, transpose_b)``: (B, M, K) x (B, K, N) -> (B, M, N),
    either operand stored transposed; by the CPU kernel where it is built."""
    if not (library.on_cpu(F, a) and library.available('batch_dot')):
        return F.batch_dot(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
    flags = dict(transpose_a=str(int(bool(transpose_a))), transpose_b=str(int(bool(transpose_b))))
    if extension.usable(F, [a, b]):
        return extension.apply(F, extension.BATCH_DOT, [a, b], **flags)
    out = F.Custom(custom.plain_layout(F, a), custom.plain_layout(F, b), op_type=OP_TYPE,
                   **flags)
    return custom.plain_layout(F, out)


def _product(fn, a, b, transpose_a, transpose_b, out=None):
    """``op(a) . op(b)`` into ``out`` (a new array if None) with the library's ``fn``, or with
    MXNet where ``fn`` is None."""
    if fn is None:
        result = mx.nd.batch_dot(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
        if out is None:
            return result
        out[:] = result
        return out
    batch = a.shape[0]
    m, k = (a.shape[2], a.shape[1]) if transpose_a else (a.shape[1], a.shape[2])
    n = b.shape[1] if transpose_b else b.shape[2]
    if out is None:
        out = mx.nd.empty((batch, m, n), a.context, a.dtype)
    fn(library.argument(a), library.argument(b), library.argument(out),
       *[ctypes.c_int(v) for v in (batch, m, n, k, int(transpose_a), int(transpose_b))])
    return out


class _BatchDotOp(mx.operator.CustomOp):
    def __init__(self, transpose_a, transpose_b, fn):
        super(_BatchDotOp, self).__init__()
        self.ta, self.tb, self.fn = transpose_a, transpose_b, fn

    def forward(self, is_train, req, in_data, out_data, aux):
        direct = req[0] in ('write', 'inplace')
        out = _product(self.fn, in_data[0], in_data[1], self.ta, self.tb,
                       out_data[0] if direct else None)
        if not direct:
            self.assign(out_data[0], req[0], out)

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        grad, (a, b) = out_grad[0], in_data[:2]
        targets, finish = library.gradient_targets(self, req, in_grad)
        ta, tb = self.ta, self.tb
        # d op(a) = grad . op(b)^T and d op(b) = op(a)^T . grad, stored as a and b are
        if targets[0] is not None:
            if ta:
                _product(self.fn, b, grad, tb, True, targets[0])
            else:
                _product(self.fn, grad, b, False, not tb, targets[0])
        if targets[1] is not None:
            if tb:
                _product(self.fn, grad, a, True, ta, targets[1])
            else:
                _product(self.fn, a, grad, not ta, False, targets[1])
        finish()


@mx.operator.register(OP_TYPE)
class _BatchDotProp(mx.operator.CustomOpProp):
    def __init__(self, transpose_a='0', transpose_b='0'):
        super(_BatchDotProp, self).__init__(need_top_grad=True)
        self.ta, self.tb = bool(int(transpose_a)), bool(int(transpose_b))

    def list_arguments(self):
        return ['a', 'b']

    def list_outputs(self):
        return ['output']

    def infer_shape(self, in_shape):
        a, b = in_shape
        m = a[2] if self.ta else a[1]
        n = b[1] if self.tb else b[2]
        return [a, b], [[a[0], m, n]], []

    def infer_type(self, in_type):
        return [in_type[0]] * 2, [in_type[0]], []

    def declare_backward_dependency(self, out_grad, in_data, out_data):
        # the output gradient and both operands: indices 0, 1, 2, as every CustomOp here
        return (list(out_grad) + list(in_data) + list(out_data))[:3]

    def create_operator(self, ctx, in_shapes, in_dtypes):
        return _BatchDotOp(self.ta, self.tb,
                           library.function('batch_dot', ctx.device_type, in_dtypes[0]))
