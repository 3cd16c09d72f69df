"""ACmix: self-attention and convolution sharing their 1x1 projections (Pan et al., CVPR 2022).

Port of the ``ACmix`` layer of LeapLabTHU/ACmix (``ResNet/test_bottleneck.py``), with the same
attribute names so checkpoints map one to one. Three 1x1 convolutions give ``q``, ``k`` and ``v``
(``head`` heads of ``out_planes // head`` channels each, consecutive channel blocks); two cheap
stages then use them twice:

* attention: within every ``kernel_att x kernel_att`` window (reflection padding), the softmax of
  ``q . (k + pe_centre - pe_tap)`` over the taps weighs the taps of ``v``; ``pe`` is ``conv_p``
  applied to the position grid. ``q`` is taken at every ``stride``-th position.
* convolution: ``fc`` mixes the ``3 * head`` maps of q, k, v into ``kernel_conv**2`` maps per
  head channel, and ``dep_conv``, a grouped convolution initialised as ``kernel_conv**2``
  shifts, sums them.

and returns ``rate1 * attention + rate2 * convolution``.

The term ``q . pe_centre`` is the same for every tap of a window, so the softmax cancels it
(forward and backward): the logits are computed as ``local_dot(q * scale, k - pe)``, and the
attention is two window operators (:func:`gluon_convattn.ops.local_dot` and
:func:`gluon_convattn.ops.aggregation`) that never form the ``k*k`` unfolded tensors on a GPU.
"""
import mxnet as mx
from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock

from .. import ops
from ..utils.checks import check_layer_input, check_odd, check_positive_int
from .position import position_grid

__all__ = ['ACmix', 'ShiftKernel', 'shift_conv_layers', 'shift_conv', 'mix_paths']


@mx.init.register
class ShiftKernel(mx.init.Initializer):
    """Initialise a (C_out, k*k, k, k) grouped-convolution weight as ``k*k`` shifts: input
    channel ``i`` of every group is passed on from tap ``(i // k, i % k)``, so the convolution
    starts as the sum of the shifted feature maps (upstream's ``reset_parameters``)."""

    def _init_weight(self, _, arr):
        out_channels, taps, kh, kw = arr.shape
        if taps != kh * kw:
            raise ValueError('ShiftKernel needs a (C_out, k*k, k, k) weight, got %s'
                             % (arr.shape,))
        kernel = mx.nd.one_hot(mx.nd.arange(taps), taps).reshape((1, taps, kh, kw))
        arr[:] = kernel.broadcast_to(arr.shape)


def shift_conv_layers(heads, head_dim, channels, kernel_size=3, stride=1, fc_bias=False):
    """The layers of ACmix's convolution path: ``(fc, dep_conv)``.

    ``fc`` is a 1x1 convolution from the ``3 * heads`` maps of q, k, v to ``kernel_size**2``
    maps; ``dep_conv`` a ``kernel_size`` convolution with ``head_dim`` groups of
    ``kernel_size**2`` inputs, shift-initialised, without bias (upstream declares one and then
    replaces it with None), padding ``kernel_size // 2``.
    """
    taps = kernel_size * kernel_size
    fc = nn.Conv2D(taps, 1, use_bias=fc_bias, in_channels=3 * heads, prefix='fc_')
    dep_conv = nn.Conv2D(channels, kernel_size, strides=stride, padding=kernel_size // 2,
                         groups=head_dim, use_bias=False, in_channels=taps * head_dim,
                         weight_initializer=ShiftKernel(), prefix='dep_conv_')
    return fc, dep_conv


def shift_conv(F, fc, dep_conv, qkv, like, like_begin=2, grid=None):
    """Run the convolution path on ``qkv`` (B, 3 * heads, head_dim, H*W).

    ``like`` is any tensor whose axes ``like_begin, like_begin + 1`` are H and W; when the
    caller knows them at construction it passes ``grid=(H, W)`` instead (``like`` is then
    unused), which keeps every reshape static (ONNX-exportable). Returns ``dep_conv``'s output
    (B, channels, Ho, Wo).
    """
    mixed = fc(qkv).transpose((0, 2, 1, 3))                    # (B, head_dim, k*k, H*W)
    if grid is not None:
        return dep_conv(mixed.reshape((0, -1, grid[0], grid[1])))
    per_group = mixed.reshape((0, dep_conv._in_channels, -1))   # (B, head_dim*k*k, H*W)
    image = F.reshape_like(per_group, like, lhs_begin=2, lhs_end=3, rhs_begin=like_begin,
                           rhs_end=like_begin + 2)
    return dep_conv(image)


def mix_paths(F, rate1, rate2, attention, convolution, ndim=4):
    """``rate1 * attention + rate2 * convolution`` for the (1,)-shaped rates and two outputs of
    the same shape (:func:`gluon_convattn.ops.mix`; ``ndim`` is kept for the callers, any shape
    works)."""
    return ops.mix(F, rate1, rate2, attention, convolution)


class ACmix(HybridBlock):
    """Attention and convolution mixed over shared 1x1 projections.

    Parameters
    ----------
    in_planes : int
        Input channels.
    out_planes : int
        Output channels, a multiple of ``head``.
    kernel_att : int, default 7
        Odd attention window size.
    head : int, default 4
        Attention heads (consecutive blocks of ``out_planes // head`` channels).
    kernel_conv : int, default 3
        Odd kernel size of the convolution path. Its padding is ``kernel_conv // 2``; upstream
        hard-codes 1, which is the same for the only size it supports, 3.
    stride : int, default 1
        Stride of both paths; the input's height and width must be multiples of it.
    dilation : int, default 1
        Dilation of the attention window (upstream accepts it but only runs with 1).
    impl : str or None
        Operator implementation, see :func:`gluon_convattn.ops.resolve_impl`.

    Inputs: ``x`` of shape (N, in_planes, H, W), H and W multiples of ``stride`` and larger
    than the attention padding ``dilation * (kernel_att - 1) // 2`` (reflection).
    Output: (N, out_planes, H / stride, W / stride).
    """

    def __init__(self, in_planes, out_planes, kernel_att=7, head=4, kernel_conv=3, stride=1,
                 dilation=1, impl=None, **kwargs):
        super(ACmix, self).__init__(**kwargs)
        for value, name in ((in_planes, 'in_planes'), (out_planes, 'out_planes'),
                            (kernel_att, 'kernel_att'), (head, 'head'),
                            (kernel_conv, 'kernel_conv'), (stride, 'stride'),
                            (dilation, 'dilation')):
            check_positive_int(value, name)
        check_odd(kernel_att, 'kernel_att')
        check_odd(kernel_conv, 'kernel_conv')
        if out_planes % head:
            raise ValueError('out_planes=%d must be a multiple of head=%d (each head gets '
                             'out_planes // head channels)' % (out_planes, head))
        ops.check_impl(impl)
        self.in_planes = in_planes
        self.head, self.head_dim = head, out_planes // head
        self.kernel_att, self.stride, self.dilation = kernel_att, stride, dilation
        self.padding_att = dilation * (kernel_att - 1) // 2
        self.scale = float(self.head_dim) ** -0.5
        self.impl = impl
        with self.name_scope():
            self.rate1 = self.params.get('rate1', shape=(1,), init=mx.init.Constant(0.5))
            self.rate2 = self.params.get('rate2', shape=(1,), init=mx.init.Constant(0.5))
            self.conv1 = nn.Conv2D(out_planes, 1, in_channels=in_planes)
            self.conv2 = nn.Conv2D(out_planes, 1, in_channels=in_planes)
            self.conv3 = nn.Conv2D(out_planes, 1, in_channels=in_planes)
            self.conv_p = nn.Conv2D(self.head_dim, 1, in_channels=2)
            self.fc, self.dep_conv = shift_conv_layers(head, self.head_dim, out_planes,
                                                       kernel_conv, stride)

    def check_input(self, shape):
        """Raise ValueError unless a (N, C, H, W) ``shape`` fits the stride and the window."""
        height, width = shape[2], shape[3]
        if height % self.stride or width % self.stride:
            raise ValueError('ACmix with stride %d needs height and width divisible by %d '
                             '(the attention takes every %d-th query), got %dx%d'
                             % (self.stride, self.stride, self.stride, height, width))
        if min(height, width) <= self.padding_att:
            raise ValueError('ACmix with kernel_att=%d needs inputs of at least %dx%d '
                             '(reflection padding %d), got %dx%d'
                             % (self.kernel_att, self.padding_att + 1, self.padding_att + 1,
                                self.padding_att, height, width))

    def forward(self, x, *args):
        check_layer_input(x, 'ACmix(in_planes=%d)' % self.in_planes, self.in_planes)
        if isinstance(x, mx.nd.NDArray):
            self.check_input(x.shape)
        return super(ACmix, self).forward(x, *args)

    def _window(self):
        return dict(kernel_size=self.kernel_att, stride=self.stride, padding=self.padding_att,
                    dilation=self.dilation, pad_mode=1, impl=self.impl)

    def _attention(self, F, x, q, k, v):
        pe = self.conv_p(position_grid(F, x))                      # (1, head_dim, H, W)
        keys = F.broadcast_sub(k, F.tile(pe, reps=(1, self.head, 1, 1)))
        logits = ops.local_dot(F, q * self.scale, keys, groups=self.head, **self._window())
        weights = ops.tap_softmax(F, logits)                        # (N, head, k*k, L)
        # aggregation gives channel c the weights of head c % head: interleave the heads
        # (4-axis transposes: MXNet runs them through oneDNN, longer ones ~5x slower)
        by_dim = v.reshape((0, -4, self.head, -1, -3)).transpose((0, 2, 1, 3))
        out = ops.aggregation(F, F.reshape_like(by_dim, v), weights, **self._window())
        by_head = out.reshape((0, -4, -1, self.head, -3)).transpose((0, 2, 1, 3))
        return F.reshape_like(by_head, out)

    def _convolution(self, F, q, k, v):
        heads = [t.reshape((0, -4, self.head, -1, -3)) for t in (q, k, v)]
        return shift_conv(F, self.fc, self.dep_conv, F.concat(*heads, dim=1), q)

    def hybrid_forward(self, F, x, rate1, rate2):
        q, k, v = self.conv1(x), self.conv2(x), self.conv3(x)
        return mix_paths(F, rate1, rate2, self._attention(F, x, q, k, v),
                         self._convolution(F, q, k, v))
