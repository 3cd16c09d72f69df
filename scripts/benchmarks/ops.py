"""Benchmark cases: the sliding-window operators, forward+backward, at SAN's layer shapes.

Implementations (``impl``):

* ``composite``: MXNet operators (im2col, pad, broadcast, sum); any device.
* ``kernel-rtc``: the CUDA kernels through ``mx.rtc`` in the CustomOps; GPU contexts only.
* ``kernel-emulated``: the same kernel sources compiled for the CPU with g++ and run in one
  thread through the same CustomOps (``ops/emulation.py``); CPU only. It measures the
  emulation, which exists to test the kernel logic, not GPU speed.

A case on the wrong device reports an error row saying so. Shapes: SAN10 stage 1 (N=8, C=64,
56x56) and stage 4 (N=8, C=512, 7x7), kernel 7, reflection padding 3; aggregation's weights
have C/8 channels (share_planes 8) and local_dot has 4 groups (ACmix's heads).
"""
import functools

import mxnet as mx

from gluon_convattn import ops
from gluon_convattn.ops import custom, emulation
from .measure import Case, forward_backward, require_gpu

IMPLS = ('composite', 'kernel-rtc', 'kernel-emulated')
SHAPES = [('stage1', 8, 64, 56), ('stage4', 8, 512, 7)]
KERNEL, PADDING, PAD_MODE, SHARE_PLANES, GROUPS = 7, 3, 1, 8, 4


class _Op(mx.gluon.HybridBlock):
    def __init__(self, op_name, impl):
        super(_Op, self).__init__()
        self.op_name, self.impl = op_name, impl

    def hybrid_forward(self, F, *arrays):
        extra = {'groups': GROUPS} if self.op_name == 'local_dot' else {}
        return getattr(ops, self.op_name)(F, *arrays, kernel_size=KERNEL, padding=PADDING,
                                          pad_mode=PAD_MODE, impl=self.impl, **extra)


def _inputs(op_name, batch, channels, size, ctx):
    shape = (batch, channels, size, size)
    x = mx.nd.random.normal(shape=shape, ctx=ctx)
    if op_name == 'aggregation':
        return [x, mx.nd.random.normal(shape=(batch, channels // SHARE_PLANES, KERNEL ** 2,
                                              size * size), ctx=ctx)]
    if op_name == 'subtraction':
        return [x]
    return [x, mx.nd.random.normal(shape=shape, ctx=ctx)]


def _setup(op_name, impl, batch, channels, size, ctx):
    if impl == 'kernel-rtc':
        require_gpu(ctx, impl)
    if impl == 'kernel-emulated':
        if ctx.device_type != 'cpu':
            raise ValueError('kernel-emulated runs on the CPU (--ctx cpu)')
        custom.set_launcher('cpu', emulation.EmulatedLauncher(emulation.cached_build()))
    net = _Op(op_name, 'composite' if impl == 'composite' else 'kernel')
    net.hybridize()
    return forward_backward(net, *_inputs(op_name, batch, channels, size, ctx))


def _shape_text(op_name, batch, channels, size):
    text = 'N%d C%d %dx%d k%d' % (batch, channels, size, size, KERNEL)
    if op_name == 'aggregation':
        text += ' Cw%d' % (channels // SHARE_PLANES)
    if op_name == 'local_dot':
        text += ' g%d' % GROUPS
    return text


CASES = [Case('ops', '%s_%s' % (op_name, stage), impl,
              _shape_text(op_name, batch, channels, size),
              functools.partial(_setup, op_name, impl, batch, channels, size))
         for op_name in ('aggregation', 'subtraction', 'subtraction2', 'local_dot')
         for stage, batch, channels, size in SHAPES
         for impl in IMPLS]
