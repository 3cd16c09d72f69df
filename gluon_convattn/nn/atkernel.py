"""The AT kernel: a convolution whose per-position, per-tap weights come from attention.

Port of the ``AT_kernel`` layer of Koooko96/AT-kernel (``mmcls/models/backbones/
resnet_ATkernel.py``). For every output position ``p`` and every tap ``j`` of its ``k x k``
window, a small MLP looks at the input at the window centre (``Q``) next to the key embedding
at the tap (``K``) and predicts ``group_channels`` weights per output channel; the output is the
weighted sum of the value embedding over the window's taps and the group's channels::

    K   = unfold(relu(bn(conv1x1(x))))                       (N, C, k*k, H*W)
    A   = GN(conv1x1(relu(bn(conv1x1(concat(Q, K))))))       (N, O*G, k*k, H*W)
    V   = bn(conv1x1(x))                                     (N, O*G, H, W)
    out = sum_g sum_j A[:, o*G+g, j] * unfold(V)[:, o*G+g, j]  (N, O, H, W)

``Q`` is ``x`` itself repeated over the taps, ``GN`` a group normalisation with one group per
output channel. With ``stride > 1`` the input is average-pooled first. There is no softmax:
upstream's bottleneck passes a ``softmax=`` argument that its ``AT_kernel`` does not accept
(see ``docs/atkernel.md``); the layer is ported as it is defined.

The first MLP layer is linear, so its weight splits into a centre half and a tap half; the
centre half runs once per position and is broadcast over the taps instead of being applied to
``k*k`` copies of ``x``, and the tap half projects the key embedding before its window taps are
taken (:class:`CentreTapsConv`), so only the hidden-width projection is unfolded. The
parameters are those of the 1x1 convolution over the concatenation, so checkpoints convert one
to one. The weighted sum over the value taps is :func:`ops.aggregation` with one weight map per
value channel, whose kernels do not materialise the value taps.
"""
import mxnet as mx
from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock

from .. import ops
from ..utils.checks import check_odd, check_positive_int

__all__ = ['ATKernel', 'CentreTapsConv', 'ChannelGroupNorm', 'GroupNormAggregation',
           'MatmulConv1x1', 'MATMUL_MAX_WEIGHTS']

# The MLP's output layer runs as a matrix product up to this many weights (see ATKernel)
MATMUL_MAX_WEIGHTS = 65536


class CentreTapsConv(HybridBlock):
    """A 1x1 convolution over ``concat(centre repeated over the taps, window taps of keys)``,
    computed without repeating the centre or convolving every tap.

    The convolution is linear, so its weight splits into a centre half, applied once per
    position, and a tap half, applied to ``keys`` before the window taps are taken: a zero-padded
    tap of the projection is the projection of a zero-padded tap. That is ``k*k`` times fewer
    multiply-adds, and the taps are taken of the ``channels``-wide projection, not of ``keys``.

    Parameters
    ----------
    channels : int
        Output channels.
    in_channels : int
        Channels of ``centre`` and of ``keys`` (the weight has ``2 * in_channels`` inputs:
        the centre's first, as in the concatenation).
    kernel_size : int, default 3
        Odd window size (zero padding ``(kernel_size - 1) // 2``).

    Inputs: ``centre`` and ``keys``, both (N, C, H, W). Output: (N, channels, k*k, H*W).
    """

    def __init__(self, channels, in_channels, kernel_size=3, **kwargs):
        super(CentreTapsConv, self).__init__(**kwargs)
        self._channels, self._in_channels, self._kernel_size = channels, in_channels, kernel_size
        with self.name_scope():
            self.weight = self.params.get('weight', shape=(channels, 2 * in_channels, 1, 1))
            self.bias = self.params.get('bias', shape=(channels,), init='zeros')

    def hybrid_forward(self, F, centre, keys, weight, bias):
        c = self._in_channels
        conv = dict(kernel=(1, 1), num_filter=self._channels)
        w_centre = F.slice_axis(weight, axis=1, begin=0, end=c)
        w_taps = F.slice_axis(weight, axis=1, begin=c, end=2 * c)
        from_centre = F.Convolution(centre, w_centre, bias, **conv)
        projected = F.Convolution(keys, w_taps, no_bias=True, **conv)
        taps = ops.unfold(F, projected, kernel_size=self._kernel_size,
                          padding=(self._kernel_size - 1) // 2)
        return F.broadcast_add(taps, from_centre.reshape((0, 0, 1, -1)))


class ChannelGroupNorm(HybridBlock):
    """Group normalisation with a scale and shift per channel (PyTorch's ``nn.GroupNorm``).

    MXNet 1.x's ``nn.GroupNorm`` has one scale and shift per group, so its parameters cannot
    hold PyTorch's; this block normalises with the group statistics and then applies per-channel
    ``gamma`` and ``beta``.

    Parameters
    ----------
    num_groups : int
        Groups of consecutive channels that share mean and variance.
    channels : int
        Channels (a multiple of ``num_groups``).
    epsilon : float, default 1e-5
        Added to the variance.

    Inputs: (N, channels, H, W). Output: the same shape.
    """

    def __init__(self, num_groups, channels, epsilon=1e-5, **kwargs):
        super(ChannelGroupNorm, self).__init__(**kwargs)
        if channels % num_groups:
            raise ValueError('channels=%d must be a multiple of num_groups=%d'
                             % (channels, num_groups))
        self._num_groups, self._channels, self._epsilon = num_groups, channels, epsilon
        with self.name_scope():
            self.gamma = self.params.get('gamma', shape=(channels,), init='ones')
            self.beta = self.params.get('beta', shape=(channels,), init='zeros')

    def normalize(self, F, x, plain_consumer=False, shape=None):
        """``x`` normalised with its group statistics, before the per-channel affine
        (``plain_consumer``: see :func:`gluon_convattn.ops.layer_norm`), in ``x``'s shape or
        in ``shape`` (a ``reshape`` argument) where given."""
        # The group statistics as a layer normalisation of (N, groups, rest): the same values
        # as GroupNorm, and on the CPU several times faster than MXNet 1.x's GroupNorm.
        rows = x.reshape((0, self._num_groups, -1))
        unit = F.BlockGrad(F.ones_like(F.slice_axis(F.slice_axis(rows, axis=0, begin=0, end=1),
                                                    axis=1, begin=0, end=1).reshape((-1,))))
        normed = ops.layer_norm(F, rows, unit, F.zeros_like(unit), eps=self._epsilon,
                                plain_consumer=plain_consumer)
        return F.reshape_like(normed, x) if shape is None else normed.reshape(shape)

    def hybrid_forward(self, F, x, gamma, beta):
        return self._per_channel(F, self.normalize(F, x), gamma, beta)

    def _per_channel(self, F, x, scale, shift=None):
        # x * scale[c] (+ shift[c]) as a depthwise 1x1 convolution: the same values, and on the
        # CPU a several times faster backward than broadcast multiply and add. Its weight is a
        # copy: MKL-DNN reorders inference weights in place, which fails on a view of a
        # parameter.
        weight = F.identity(scale.reshape((-1, 1, 1, 1)))
        conv = dict(kernel=(1, 1), num_filter=self._channels, num_group=self._channels)
        if shift is None:
            return F.Convolution(x, weight, no_bias=True, **conv)
        return F.Convolution(x, weight, shift, **conv)


class GroupNormAggregation(ChannelGroupNorm):
    """``aggregation(values, ChannelGroupNorm(attention))``, without forming the normalised
    weights' per-channel affine.

    The affine is per channel and the aggregation linear in its weights, so with zero padding
    ``sum_j (gamma * n_j + beta) * v_j = gamma * sum_j n_j * v_j + beta * sum_j v_j``: the
    aggregation runs on the group-normalised attention ``n`` and the window sum of the values is
    an average pooling times ``k*k``. That saves a (N, C, k*k, H*W) tensor and its backward.
    The parameters are :class:`ChannelGroupNorm`'s.

    Parameters
    ----------
    num_groups, channels, epsilon
        As :class:`ChannelGroupNorm`.
    kernel_size : int
        Odd window size (zero padding ``(kernel_size - 1) // 2``).
    impl : str or None
        Operator implementation, see :func:`gluon_convattn.ops.resolve_impl`.

    Inputs: ``attention`` (N, channels, k*k, H*W) and ``values`` (N, channels, H, W).
    Output: (N, channels, H, W).
    """

    def __init__(self, num_groups, channels, kernel_size, impl=None, epsilon=1e-5, **kwargs):
        super(GroupNormAggregation, self).__init__(num_groups, channels, epsilon, **kwargs)
        self._kernel_size, self._impl = kernel_size, impl

    def affine(self, normed):
        """The attention weights ``gamma * normed + beta`` of (N, channels, taps, positions)
        NDArray ``normed`` (what :meth:`hybrid_forward` never forms; for inspection)."""
        return (mx.nd.broadcast_add(
            mx.nd.broadcast_mul(normed, self.gamma.data(normed.context).reshape((1, -1, 1, 1))),
            self.beta.data(normed.context).reshape((1, -1, 1, 1))))

    def hybrid_forward(self, F, attention, values, gamma, beta):
        k = self._kernel_size
        pad = (k - 1) // 2
        # the kernel path passes the normalised logits between the two CustomOps as they are
        kernel = ops.resolve_impl(F, self._impl, attention) == 'kernel' and \
            ops.norm.kernel_available()
        # MXNet copies the MKL-DNN arrays that reshape_like's shape source and a scalar
        # product read into the plain layout and keeps the copies in a static graph: the
        # normalised attention takes its shape from the layer's arguments, and the window mean
        # is scaled to the window sum through beta
        normed = self.normalize(F, attention, kernel, shape=(0, self._channels, k * k, -1))
        weighted = ops.aggregation(F, values, normed, kernel_size=k, padding=pad,
                                   impl=self._impl, plain_weights=kernel)
        window_mean = F.Pooling(values, kernel=(k, k), stride=(1, 1), pad=(pad, pad),
                                pool_type='avg', count_include_pad=True)
        return (self._per_channel(F, weighted, gamma)
                + self._per_channel(F, window_mean, beta * (k * k)))


class MatmulConv1x1(nn.Conv2D):
    """A 1x1 ``Conv2D`` computed as a batched matrix product (:func:`ops.pointwise`): the same
    parameters under the same names, the same values and gradients, and an output in MXNet's
    plain layout, which the layer norm after it reads without a copy.

    Parameters
    ----------
    channels : int
        Output channels.
    in_channels : int
        Input channels.
    use_bias : bool, default True
        Whether the layer has a bias.
    """

    def __init__(self, channels, in_channels, use_bias=True, **kwargs):
        super(MatmulConv1x1, self).__init__(channels, 1, use_bias=use_bias,
                                            in_channels=in_channels, **kwargs)

    def hybrid_forward(self, F, x, weight, bias=None):
        return ops.pointwise(F, x, weight, bias)


class _CentreTapsMLP(nn.HybridSequential):
    """A sequence whose first block takes ``(centre, keys)``, whose last (a
    :class:`GroupNormAggregation`) takes ``(attention, values)``; the rest one input each."""

    def hybrid_forward(self, F, centre, keys, values):
        blocks = list(self._children.values())
        x = blocks[0](centre, keys)
        for block in blocks[1:-1]:
            x = block(x)
        return blocks[-1](x, values)


class ATKernel(HybridBlock):
    """AT kernel layer (the middle layer of an AT-kernel bottleneck).

    Parameters
    ----------
    in_channels : int
        Input channels.
    channels : int
        Output channels.
    kernel_size : int, default 3
        Odd window size.
    stride : int, default 1
        Average-pooling factor applied to the input first (as upstream; no pooling at 1).
    group_channels : int, default 4
        Value channels (and attention weights) per output channel and tap.
    reduction_ratio : int, default 4
        The MLP's hidden width is ``in_channels // reduction_ratio``.
    impl : str or None
        Operator implementation, see :func:`gluon_convattn.ops.resolve_impl`.

    The MLP's output layer (``hidden`` to ``channels * group_channels`` logits for every tap)
    runs as a batched matrix product (:class:`MatmulConv1x1`) when it has at most
    :data:`MATMUL_MAX_WEIGHTS` weights, else as a convolution: the product keeps the logits in
    the plain layout (about 130 MiB less in AT-kernel Tiny's training step, whose one AT layer
    sees 64x64 maps), but copies its weight once per image, which costs more than it saves for
    the wide layers on small maps of ResNet50_ATkernel's last stage. Both hold the same
    parameters.

    Inputs: (N, in_channels, H, W) with H, W >= ``stride``.
    Output: (N, channels, H // stride, W // stride).
    """

    def __init__(self, in_channels, channels, kernel_size=3, stride=1, group_channels=4,
                 reduction_ratio=4, impl=None, **kwargs):
        super(ATKernel, self).__init__(**kwargs)
        for value, name in ((in_channels, 'in_channels'), (channels, 'channels'),
                            (kernel_size, 'kernel_size'), (stride, 'stride'),
                            (group_channels, 'group_channels'),
                            (reduction_ratio, 'reduction_ratio')):
            check_positive_int(value, name)
        check_odd(kernel_size, 'kernel_size')
        if in_channels < reduction_ratio:
            raise ValueError('reduction_ratio=%d leaves no hidden MLP channels for '
                             'in_channels=%d (hidden width is in_channels // reduction_ratio)'
                             % (reduction_ratio, in_channels))
        ops.check_impl(impl)
        self.in_channels, self.channels = in_channels, channels
        self.kernel_size, self.stride, self.group_channels = kernel_size, stride, group_channels
        self.impl = impl
        hidden, weights = in_channels // reduction_ratio, channels * group_channels
        with self.name_scope():
            self.pool = nn.AvgPool2D(pool_size=stride, strides=stride) if stride > 1 else None
            self.emb_k = nn.HybridSequential(prefix='emb_k_')
            with self.emb_k.name_scope():
                self.emb_k.add(nn.Conv2D(in_channels, 1, use_bias=False, in_channels=in_channels),
                               nn.BatchNorm(in_channels=in_channels), nn.Activation('relu'))
            self.mlp = _CentreTapsMLP(prefix='mlp_')
            with self.mlp.name_scope():
                output_layer = (MatmulConv1x1(weights, hidden)
                                if weights * hidden <= MATMUL_MAX_WEIGHTS
                                else nn.Conv2D(weights, 1, in_channels=hidden))
                self.mlp.add(CentreTapsConv(hidden, in_channels, kernel_size),
                             nn.BatchNorm(in_channels=hidden), nn.Activation('relu'),
                             output_layer,
                             GroupNormAggregation(channels, weights, kernel_size, impl))
            self.emb_v = nn.HybridSequential(prefix='emb_v_')
            with self.emb_v.name_scope():
                self.emb_v.add(nn.Conv2D(weights, 1, use_bias=False, in_channels=in_channels),
                               nn.BatchNorm(in_channels=weights))

    def forward(self, x, *args):
        if isinstance(x, mx.nd.NDArray):
            if x.ndim != 4 or x.shape[1] != self.in_channels:
                raise ValueError('ATKernel takes (N, %d, H, W), got shape %s'
                                 % (self.in_channels, x.shape))
            if min(x.shape[2:]) < self.stride:
                raise ValueError('ATKernel with stride %d needs H, W >= %d, got %dx%d'
                                 % (self.stride, self.stride, x.shape[2], x.shape[3]))
        return super(ATKernel, self).forward(x, *args)

    def attention_affine(self, normed):
        """The layer's attention weights (N, channels * group_channels, k*k, H*W) from the
        group-normalised logits its aggregation runs on (for inspection; see
        :class:`GroupNormAggregation`)."""
        return self.mlp[-1].affine(normed)

    def hybrid_forward(self, F, x):
        if self.pool is not None:
            x = self.pool(x)
        out = self.mlp(x, self.emb_k(x), self.emb_v(x))
        return F.sum(out.reshape((0, -4, self.channels, self.group_channels, -2)), axis=2)
