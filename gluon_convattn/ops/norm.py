"""Layer normalisation over the last axis, with the CPU library's kernel where it is built.

MXNet 1.9's CPU ``LayerNorm`` backward goes through its generic broadcast reductions and costs
many times its forward: 31 % of ``atkernel_resnet26_tiny``'s training step (its group norm is a
layer norm of (N, groups, -1), :class:`~gluon_convattn.nn.atkernel.ChannelGroupNorm`) and 14 %
of ACmix-Swin's. :func:`layer_norm` runs ``kernels/cpu/layer_norm.cc`` (OpenMP over rows, one
pass forward, the row statistics recomputed backward so nothing but the input is kept): where
it can, as the MXNet operator of :mod:`.extension`, else behind a CustomOp. Elsewhere (a GPU,
float16, the CPU library not built) the same CustomOp computes MXNet's ``LayerNorm``; a graph
built where the library is absent uses ``F.LayerNorm`` itself.
The values are MXNet's (within float rounding: the statistics accumulate in double).
"""
import ctypes

import mxnet as mx
import numpy as np

from . import custom, extension, library

__all__ = ['layer_norm', 'OP_TYPE', 'kernel_available']

OP_TYPE = extension.LAYER_NORM          # the CustomOp and the MXNet operator share the name


def kernel_available():
    """Whether the CPU library with the layer-norm kernel is loaded in this process."""
    return library.available('layer_norm_forward')


def layer_norm(F, x, gamma, beta, eps=1e-5, plain_consumer=False):
    """``F.LayerNorm(x, gamma, beta, axis=-1, eps=eps)``, by the CPU kernel where it is built.

    Parameters
    ----------
    F : mx.nd or mx.sym
    x : NDArray or Symbol
        Normalised over its last axis.
    gamma, beta : NDArray or Symbol
        Scale and shift, one per element of the last axis.
    eps : float
        Added to the variance.
    plain_consumer : bool
        The output goes (reshaped at most) only to this package's CustomOps, so its gradient
        comes back in plain layout: the output skips the plain-layout copy of :mod:`.custom`.
    """
    if not (library.on_cpu(F, x) and kernel_available()):
        return F.LayerNorm(x, gamma, beta, axis=-1, eps=eps)
    if extension.usable(F, [x, gamma, beta]):
        return extension.apply(F, extension.LAYER_NORM, [x, gamma, beta], eps=repr(float(eps)))
    out = F.Custom(custom.plain_layout(F, x), gamma, beta, op_type=OP_TYPE, eps=repr(float(eps)))
    return out if plain_consumer else custom.plain_layout(F, out)


class _LayerNormOp(mx.operator.CustomOp):
    """``forward_fn`` and ``backward_fn``: the library's functions for the device and dtype the
    op was created for, or None (MXNet's LayerNorm computes instead)."""

    def __init__(self, eps, shape, forward_fn, backward_fn):
        super(_LayerNormOp, self).__init__()
        self.forward_fn, self.backward_fn = forward_fn, backward_fn
        cols = int(shape[-1])
        self.sizes = (ctypes.c_int(int(np.prod(shape)) // cols), ctypes.c_int(cols),
                      ctypes.c_double(eps))
        self.eps = eps

    def forward(self, is_train, req, in_data, out_data, aux):
        x, gamma, beta = in_data
        if self.forward_fn is None or req[0] not in ('write', 'inplace'):
            self.assign(out_data[0], req[0], mx.nd.LayerNorm(x, gamma, beta, axis=-1,
                                                             eps=self.eps))
            return
        self.forward_fn(*[library.argument(a) for a in (x, gamma, beta, out_data[0])],
                        *self.sizes)

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        if self.backward_fn is None:
            self._mxnet_backward(req, out_grad[0], in_data, in_grad)
            return
        targets, finish = library.gradient_targets(self, req, in_grad)
        self.backward_fn(*[library.argument(a) for a in [out_grad[0]] + in_data[:2] + targets],
                         *self.sizes)
        finish()

    def _mxnet_backward(self, req, grad_out, in_data, in_grad):
        # beta is not kept for backward (declare_backward_dependency), nor needed
        gamma = in_data[1]
        zeros = mx.nd.zeros(gamma.shape, gamma.context, gamma.dtype)
        custom.autograd_backward(
            self, lambda *inputs: mx.nd.LayerNorm(*inputs, axis=-1, eps=self.eps),
            [in_data[0], gamma, zeros], grad_out, req, in_grad)


@mx.operator.register(OP_TYPE)
class _LayerNormProp(mx.operator.CustomOpProp):
    def __init__(self, eps='1e-05'):
        super(_LayerNormProp, self).__init__(need_top_grad=True)
        self.eps = float(eps)

    def list_arguments(self):
        return ['data', 'gamma', 'beta']

    def list_outputs(self):
        return ['output']

    def infer_shape(self, in_shape):
        data = in_shape[0]
        return [data, [data[-1]], [data[-1]]], [data], []

    def infer_type(self, in_type):
        return [in_type[0]] * 3, [in_type[0]], []

    def declare_backward_dependency(self, out_grad, in_data, out_data):
        # the output gradient, the input and gamma: indices 0, 1, 2, as every CustomOp here
        # declares (see custom.WindowOpProp.declare_backward_dependency)
        return (list(out_grad) + list(in_data) + list(out_data))[:3]

    def create_operator(self, ctx, in_shapes, in_dtypes):
        return _LayerNormOp(self.eps, in_shapes[0], *[
            library.function(name, ctx.device_type, in_dtypes[0])
            for name in ('layer_norm_forward', 'layer_norm_backward')])
