"""Kernel attention convolution (KAConv) and its attention generators AG-L and AG-H.

Port of the ``KAConv``, ``AGL`` and ``AGH`` modules of dreamcontinue/KAConv
(``models/KAResNet.py``; Neurocomputing 2022, doi:10.1016/j.neucom.2022.10.017). A ``k x k``
convolution is split into its ``k*k`` taps ("sub-kernels"): tap ``b = (a, c)`` is a 1x1
convolution of the input shifted by ``(a - k//2, c - k//2)`` with zeros filling in, followed by
its own BatchNorm and ReLU. An attention generator pools every tap's feature map and predicts,
per sample, a softmax over the taps for every output channel; the output is the attention-
weighted sum of the tap feature maps::

    f_b = relu(bn_b(conv1x1_b(shift_b(x))))         b = 0 .. k*k-1, taps in raster order
    s_b = global_avg_pool(f_b)                      (N, C) per tap
    w   = softmax_over_b(AG(s_0 .. s_{k*k-1}))      (N, C, k*k)
    out = sum_b w_b * f_b

AG-L mixes all taps in its first layer (one projection of the stacked tap descriptors to ``L``
units) and has one output layer per tap; AG-H shares its first layer across the taps and mixes
them in the per-tap output layers. ``L = max(C // reduction, min_width)``.

How it is computed (the same function with a few large operators instead of ``k*k`` small
ones): the taps' channels are fused channel-major, fused channel ``c*k*k + b`` is channel ``c``
of tap ``b``, which keeps the groups of a grouped convolution contiguous.

* one 1x1 convolution produces all taps' channels. At stride 1 the shifts are one depthwise
  ``k x k`` convolution with a fixed one-hot kernel per channel (zero padding, as upstream's
  padding of the input gives: a 1x1 convolution without bias maps zeros to zeros). At stride
  ``s > 1`` tap ``(a, c)`` reads input rows ``s*i + a*dilation - pad``: the input is split into
  its ``s x s`` phases, each phase is convolved with the weights of the taps that read it only,
  and each tap's output is cropped, so nothing is computed that the stride drops;
* one BatchNorm and ReLU over all taps; global average pooling gives the descriptors;
* the per-tap output layers of the attention generator are one dense layer;
* the weighted sum over the taps is one batched matrix product.
"""
from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock

from .. import ops
from ..utils.checks import check_choice, check_divisible, check_odd, check_positive_int

__all__ = ['KAConv', 'AGL', 'AGH', 'attention_width', 'AG_TYPES']


def attention_width(channels, reduction=16, min_width=32):
    """Hidden units of an attention generator: ``max(channels // reduction, min_width)``."""
    return max(channels // reduction, min_width)


class _AttentionGenerator(HybridBlock):
    """Shared constructor checks and output softmax of :class:`AGL` and :class:`AGH`."""

    def __init__(self, channels, branches, reduction, min_width, **kwargs):
        super(_AttentionGenerator, self).__init__(**kwargs)
        for value, name in ((channels, 'channels'), (branches, 'branches'),
                            (reduction, 'reduction'), (min_width, 'min_width')):
            check_positive_int(value, name)
        self._channels, self._branches = channels, branches
        self.width = attention_width(channels, reduction, min_width)

    def _softmax(self, F, logits):
        return F.softmax(F.reshape(logits, shape=(0, self._channels, self._branches)), axis=2)


class AGL(_AttentionGenerator):
    """Attention generator AG-L: the first layer sees all taps' descriptors together.

    ``relu(bn(fc(s)))`` gives ``L`` hidden units from all descriptors; tap ``b``'s logits are
    ``fcs_b(hidden)``; a softmax over the taps per channel gives the weights. Upstream's first
    layer is a ``(k*k, 1)`` convolution over the (N, C, k*k, 1) stack of descriptors and its
    ``k*k`` output layers are 1x1 convolutions: here ``fc`` is a dense layer (L x C*k*k) and the
    output layers are one dense layer ``fcs`` (C*k*k x L, row ``c*k*k + b``).

    Parameters
    ----------
    channels : int
        Channels ``C`` of each tap's feature map.
    branches : int, default 9
        Number of taps (``kernel_size ** 2``).
    reduction : int, default 16
        ``L = max(channels // reduction, min_width)`` (upstream ``reduce``).
    min_width : int, default 32
        Smallest ``L`` (upstream ``len``).
    use_bias : bool, default True
        Whether the per-tap output layers have biases (upstream: yes).

    Inputs: descriptors (N, channels, branches). Output: weights of the same shape, summing to
    one over axis 2.
    """

    def __init__(self, channels, branches=9, reduction=16, min_width=32, use_bias=True,
                 **kwargs):
        super(AGL, self).__init__(channels, branches, reduction, min_width, **kwargs)
        with self.name_scope():
            self.fc = nn.Dense(self.width, in_units=channels * branches, use_bias=False)
            self.bn = nn.BatchNorm(in_channels=self.width)
            self.fcs = nn.Dense(channels * branches, in_units=self.width, use_bias=use_bias)

    def hybrid_forward(self, F, descriptors):
        hidden = ops.relu(F, self.bn(self.fc(descriptors)))
        return self._softmax(F, self.fcs(hidden))


class AGH(_AttentionGenerator):
    """Attention generator AG-H: a first layer shared by the taps, taps mixed at the output.

    ``relu(bn(fc(s_b)))`` gives ``L`` hidden units per tap; tap ``b``'s logits are
    ``fcs_b(all taps' hidden units)``; a softmax over the taps per channel gives the weights.
    Upstream's first layer is a 1x1 convolution applied to every tap and its output layers are
    ``(k*k, 1)`` convolutions: here ``fc`` is the same 1x1 convolution over the (N, C, k*k, 1)
    stack of descriptors (a 2-D one: MXNet 1.9's MKL-DNN fails the backward of a 1-D
    convolution followed by BatchNorm) and the output layers are one dense layer ``fcs``
    (C*k*k x L*k*k, row ``c*k*k + b``, column ``l*k*k + j``).

    Parameters
    ----------
    channels, branches, reduction, min_width, use_bias
        As for :class:`AGL`.

    Inputs: descriptors (N, channels, branches). Output: weights of the same shape, summing to
    one over axis 2.
    """

    def __init__(self, channels, branches=9, reduction=16, min_width=32, use_bias=True,
                 **kwargs):
        super(AGH, self).__init__(channels, branches, reduction, min_width, **kwargs)
        with self.name_scope():
            self.fc = nn.Conv2D(self.width, 1, in_channels=channels, use_bias=False)
            self.bn = nn.BatchNorm(in_channels=self.width)
            self.fcs = nn.Dense(channels * branches, in_units=self.width * branches,
                                use_bias=use_bias)

    def hybrid_forward(self, F, descriptors):
        hidden = ops.relu(F, self.bn(self.fc(descriptors.expand_dims(axis=3))))  # (N, L, k*k, 1)
        return self._softmax(F, self.fcs(hidden))


AG_TYPES = {'L': AGL, 'H': AGH}


class KAConv(HybridBlock):
    """Kernel attention convolution: ``k*k`` shifted 1x1 convolutions, each with BatchNorm and
    ReLU, combined by a softmax attention over the taps (see the module docstring).

    Parameters
    ----------
    in_channels : int
        Input channels.
    channels : int
        Output channels.
    kernel_size : int, default 3
        Odd size of the tap neighbourhood.
    strides : int, default 1
        Stride (applied after the shift, as upstream's strided 1x1 convolutions do).
    dilation : int, default 1
        Spacing of the taps (upstream: 1).
    groups : int, default 1
        Groups of each tap's 1x1 convolution (``in_channels`` for a depthwise KAConv).
    ag : 'L' or 'H', default 'L'
        Attention generator, :class:`AGL` or :class:`AGH` (upstream's KAConv builds AG-L).
    reduction, min_width : int, default 16, 32
        Attention width ``max(channels // reduction, min_width)``.
    attention_bias : bool, default True
        Biases in the attention generator's per-tap output layers.

    Inputs: (N, in_channels, H, W). Output: (N, channels, ceil(H / strides), ceil(W / strides)).

    Parameters of the block: ``weight`` (channels*k*k, in_channels // groups, 1, 1), ``bn``
    (channels*k*k) and ``agg`` (the attention generator); fused channel ``c*k*k + b`` is channel
    ``c`` of tap ``b``.
    """

    def __init__(self, in_channels, channels, kernel_size=3, strides=1, dilation=1, groups=1,
                 ag='L', reduction=16, min_width=32, attention_bias=True, **kwargs):
        super(KAConv, self).__init__(**kwargs)
        for value, name in ((in_channels, 'in_channels'), (channels, 'channels'),
                            (kernel_size, 'kernel_size'), (strides, 'strides'),
                            (dilation, 'dilation'), (groups, 'groups')):
            check_positive_int(value, name)
        check_odd(kernel_size, 'kernel_size')
        check_divisible(in_channels, groups, 'groups', 'in_channels')
        check_divisible(channels, groups, 'groups', 'channels')
        check_choice(ag, tuple(AG_TYPES), 'ag')
        self._in_channels, self._channels = in_channels, channels
        self._k, self._stride, self._dilation, self._groups = (kernel_size, strides, dilation,
                                                               groups)
        self._branches = kernel_size * kernel_size
        self._pad = (kernel_size // 2) * dilation
        self._dtype = 'float32'
        with self.name_scope():
            self.weight = self.params.get(
                'weight', shape=(channels * self._branches, in_channels // groups, 1, 1))
            self.bn = nn.BatchNorm(in_channels=channels * self._branches)
            self.agg = AG_TYPES[ag](channels, self._branches, reduction, min_width,
                                    use_bias=attention_bias)

    def cast(self, dtype):
        self._dtype = dtype             # the one-hot shift kernel is built in this type
        super(KAConv, self).cast(dtype)

    def forward(self, x, *args):
        shape = getattr(x, 'shape', None)
        if shape is not None and (len(shape) != 4 or shape[1] != self._in_channels):
            raise ValueError('KAConv(in_channels=%d) takes (N, %d, H, W) inputs, got %s'
                             % (self._in_channels, self._in_channels, tuple(shape)))
        return super(KAConv, self).forward(x, *args)

    def _offsets(self, b):
        """Offset of tap ``b`` in the padded input: (row, column)."""
        return (b // self._k) * self._dilation, (b % self._k) * self._dilation

    def _taps_stride1(self, F, x, weight):
        fused = self._channels * self._branches
        z = F.Convolution(x, weight, kernel=(1, 1), num_filter=fused, num_group=self._groups,
                          no_bias=True)
        one_hot = F.one_hot(F.arange(0, fused) % self._branches, depth=self._branches,
                            dtype=self._dtype)
        shift = F.BlockGrad(F.reshape(one_hot, shape=(fused, 1, self._k, self._k)))
        d, p = self._dilation, self._pad
        return F.Convolution(z, shift, kernel=(self._k, self._k), dilate=(d, d), pad=(p, p),
                             num_filter=fused, num_group=fused, no_bias=True)

    def _taps_strided(self, F, x, weight):
        """Tap ``(a, c)`` reads padded rows ``s*i + a*d``: group the taps by ``(a*d) mod s``
        and ``(c*d) mod s``, convolve each input phase with its taps' weights only, crop."""
        s, p, cout = self._stride, self._pad, self._channels
        xp = F.pad(x, mode='constant', pad_width=(0, 0, 0, 0, p, p, p, p))
        size = F.expand_dims(F.slice(x, begin=(None,) * 4, end=(None,) * 4, step=(1, 1, s, s)),
                             axis=2)
        w = F.reshape(weight, shape=(cout, self._branches, -1))
        phases = {}
        for b in range(self._branches):
            row, col = self._offsets(b)
            phases.setdefault((row % s, col % s), []).append(b)
        crops = [None] * self._branches
        for (pr, pc), taps in sorted(phases.items()):
            xs = F.slice(xp, begin=(None, None, pr, pc), end=(None,) * 4, step=(1, 1, s, s))
            ws = F.concat(*[F.slice_axis(w, axis=1, begin=b, end=b + 1) for b in taps], dim=1)
            ws = F.reshape(ws, shape=(-1, self._in_channels // self._groups, 1, 1))
            z = F.Convolution(xs, ws, kernel=(1, 1), num_filter=cout * len(taps),
                              num_group=self._groups, no_bias=True)
            z = F.reshape(z, shape=(-1, cout, len(taps), 0, 0), reverse=True)
            for j, b in enumerate(taps):
                row, col = self._offsets(b)
                crop = F.slice(z, begin=(None, None, j, row // s, col // s),
                               end=(None, None, j + 1, None, None))
                crops[b] = F.slice_like(crop, size, axes=(3, 4))
        return F.reshape(F.concat(*crops, dim=2), shape=(0, -3, 0, 0))

    def hybrid_forward(self, F, x, weight):
        if self._stride == 1:
            taps = self._taps_stride1(F, x, weight)
        else:
            taps = self._taps_strided(F, x, weight)
        feats = F.Activation(self.bn(taps), act_type='relu')            # (N, C*B, H, W)
        pooled = F.Pooling(feats, kernel=(1, 1), global_pool=True, pool_type='avg')
        weights = self.agg(F.reshape(pooled, shape=(0, self._channels, self._branches)))
        per_channel = F.reshape(feats, shape=(-1, self._branches, -3))  # (N*C, B, H*W)
        out = F.batch_dot(F.reshape(weights, shape=(-1, 1, self._branches)), per_channel)
        out = F.reshape(out, shape=(-1, self._channels, 0))             # (N, C, H*W)
        return F.reshape_like(out, feats, lhs_begin=2, lhs_end=3, rhs_begin=2, rhs_end=4)
