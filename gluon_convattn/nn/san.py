"""SAN's self-attention module (SAM) and its residual bottleneck (Zhao, Jia, Koltun, CVPR 2020).

Port of hszhao/SAN ``model/san.py``: the same layers under the same attribute names, so released
checkpoints map onto these blocks by name. The window operators come from
:mod:`gluon_convattn.ops` (reflection padding, ``pad_mode=1``, as upstream).
"""
from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock

from .. import ops
from ..utils.checks import check_choice, check_layer_input, check_odd, check_positive_int
from .position import position_grid

__all__ = ['SAM', 'SANBottleneck']

SA_TYPES = {0: 'pairwise', 1: 'patchwise'}


def _conv1x1(channels, in_channels, use_bias=True):
    return nn.Conv2D(channels, 1, use_bias=use_bias, in_channels=in_channels)


class SAM(HybridBlock):
    """Self-attention module: window attention whose weights come from relations of features.

    ``conv1`` and ``conv2`` give relation features, ``conv3`` the values; ``conv_w`` turns the
    relations of each ``kernel_size x kernel_size`` window into ``out_planes // share_planes``
    weight maps, which :func:`gluon_convattn.ops.aggregation` applies to the values (channel
    ``c`` uses map ``c % (out_planes // share_planes)``).

    * Pairwise (``sa_type=0``): relation = ``conv1(x)`` at the centre minus ``conv2(x)`` at each
      tap, concatenated with the same difference of an encoded position grid (``conv_p``);
      the weights are a softmax over the window.
    * Patchwise (``sa_type=1``): relation = ``conv1(x)`` at the centre concatenated with all
      taps of ``conv2(x)``; ``conv_w`` predicts every tap's weight from the whole patch.

    Parameters
    ----------
    sa_type : int
        0 for pairwise, 1 for patchwise.
    in_planes : int
        Input channels.
    rel_planes : int
        Channels of the relation features (upstream: planes // 16).
    out_planes : int
        Output channels (upstream: planes // 4); a multiple of ``share_planes``.
    share_planes : int, default 8
        Output channels that share one weight map.
    kernel_size : int, default 3
        Odd window size.
    stride : int, default 1
        Window stride (every released model uses 1).
    dilation : int, default 1
        Window dilation (every released model uses 1).
    impl : str or None
        Operator implementation, see :func:`gluon_convattn.ops.resolve_impl`.

    Inputs: ``x`` of shape (N, in_planes, H, W), H and W larger than the window's padding
    ``(dilation * (kernel_size - 1) + 1) // 2``. Output: (N, out_planes, Ho, Wo).
    """

    def __init__(self, sa_type, in_planes, rel_planes, out_planes, share_planes=8,
                 kernel_size=3, stride=1, dilation=1, impl=None, **kwargs):
        super(SAM, self).__init__(**kwargs)
        check_choice(sa_type, tuple(SA_TYPES), 'sa_type')
        for value, name in ((in_planes, 'in_planes'), (rel_planes, 'rel_planes'),
                            (out_planes, 'out_planes'), (share_planes, 'share_planes'),
                            (kernel_size, 'kernel_size'), (stride, 'stride'),
                            (dilation, 'dilation')):
            check_positive_int(value, name)
        check_odd(kernel_size, 'kernel_size')
        if out_planes % share_planes:
            raise ValueError('out_planes=%d must be a multiple of share_planes=%d (each weight '
                             'map serves share_planes channels)' % (out_planes, share_planes))
        ops.check_impl(impl)
        self.sa_type, self.kernel_size, self.stride, self.dilation = (sa_type, kernel_size,
                                                                      stride, dilation)
        self.in_planes = in_planes
        self.padding = (dilation * (kernel_size - 1) + 1) // 2
        self.impl = impl
        taps = kernel_size * kernel_size
        weight_maps = out_planes // share_planes
        with self.name_scope():
            self.conv1 = _conv1x1(rel_planes, in_planes)
            self.conv2 = _conv1x1(rel_planes, in_planes)
            self.conv3 = _conv1x1(out_planes, in_planes)
            self.conv_w = nn.HybridSequential(prefix='conv_w_')
            if sa_type == 0:
                hidden, relation = rel_planes, rel_planes + 2
                self.conv_p = _conv1x1(2, 2)
            else:
                hidden, relation = weight_maps, rel_planes * (taps + 1)
                weight_maps *= taps
            with self.conv_w.name_scope():
                self.conv_w.add(nn.BatchNorm(in_channels=relation), nn.Activation('relu'),
                                _conv1x1(hidden, relation, use_bias=False),
                                nn.BatchNorm(in_channels=hidden), nn.Activation('relu'),
                                _conv1x1(weight_maps, hidden))

    def forward(self, x, *args):
        check_layer_input(x, 'SAM(in_planes=%d)' % self.in_planes, self.in_planes)
        return super(SAM, self).forward(x, *args)

    def _window(self):
        return dict(kernel_size=self.kernel_size, stride=self.stride, padding=self.padding,
                    dilation=self.dilation, pad_mode=1)

    def _pairwise_weights(self, F, x1, x2):
        win = self._window()
        relation = ops.subtraction2(F, x1, x2, impl=self.impl, **win)
        # the grid takes only the input's height and width, from x1 (the input's size with
        # rel_planes channels): MXNet copies an MKL-DNN input of slice_axis to the plain layout
        # and, in a static graph, keeps the copy
        position = ops.subtraction(F, self.conv_p(position_grid(F, x1)), impl=self.impl, **win)
        position = F.broadcast_like(position, relation, lhs_axes=(0,), rhs_axes=(0,))
        logits = self.conv_w(F.concat(relation, position, dim=1))
        return ops.tap_softmax(F, logits)

    def _patchwise_weights(self, F, x1, x2):
        if self.stride != 1:
            x1 = F.slice(x1, begin=(None,) * 4, end=(None,) * 4,
                         step=(1, 1, self.stride, self.stride))
        centre = x1.reshape((0, 0, 1, -1))
        patch = ops.unfold(F, x2, **self._window())        # (N, C, k*k, L)
        patch = patch.reshape((0, -3, -2)).expand_dims(axis=2)
        weights = self.conv_w(F.concat(centre, patch, dim=1))    # (N, maps*k*k, 1, L)
        return weights.reshape((0, -4, -1, self.kernel_size ** 2, -3))

    def _attend(self, F, x1, x2, x3):
        """The attention output from the relation features ``x1``, ``x2`` and values ``x3``."""
        if self.sa_type == 0:
            w = self._pairwise_weights(F, x1, x2)
        else:
            w = self._patchwise_weights(F, x1, x2)
        return ops.aggregation(F, x3, w, impl=self.impl, **self._window())

    def hybrid_forward(self, F, x):
        return self._attend(F, self.conv1(x), self.conv2(x), self.conv3(x))


class SANBottleneck(HybridBlock):
    """SAN's residual block: BN-ReLU, SAM, BN-ReLU, 1x1 convolution, plus the input.

    Parameters
    ----------
    sa_type : int
        0 for pairwise, 1 for patchwise.
    planes : int
        Input and output channels.
    rel_planes : int, optional
        Relation channels of the SAM; ``planes // 16`` when None (upstream).
    mid_planes : int, optional
        SAM output channels; ``planes // 4`` when None (upstream).
    share_planes : int, default 8
        Channels sharing one attention weight map.
    kernel_size : int, default 7
        SAM window size.
    impl : str or None
        Operator implementation, see :func:`gluon_convattn.ops.resolve_impl`.
    sam_class : class, default :class:`SAM`
        The attention module (a SAM subclass with SAM's arguments, e.g. ACmix's
        :class:`~gluon_convattn.nn.acmix_san.ACmixSAM`).
    """

    def __init__(self, sa_type, planes, rel_planes=None, mid_planes=None, share_planes=8,
                 kernel_size=7, impl=None, sam_class=None, **kwargs):
        super(SANBottleneck, self).__init__(**kwargs)
        check_positive_int(planes, 'planes')
        rel_planes = planes // 16 if rel_planes is None else rel_planes
        mid_planes = planes // 4 if mid_planes is None else mid_planes
        if rel_planes < 1:
            raise ValueError('planes=%d gives rel_planes = planes // 16 = 0; use planes >= 16 '
                             'or pass rel_planes' % planes)
        with self.name_scope():
            self.bn1 = nn.BatchNorm(in_channels=planes)
            self.sam = (sam_class or SAM)(sa_type, planes, rel_planes, mid_planes,
                                          share_planes, kernel_size, impl=impl)
            self.bn2 = nn.BatchNorm(in_channels=mid_planes)
            self.conv = _conv1x1(planes, mid_planes)

    def hybrid_forward(self, F, x):
        out = ops.relu(F, self.bn1(x))
        out = ops.relu(F, self.bn2(self.sam(out)))
        return self.conv(out) + x
