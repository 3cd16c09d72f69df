"""Channel-wise attention as activation (ChaATAC), from "Attention as Activation" (Dai et al.).

ChaATAC replaces a ReLU: a point-wise bottleneck (two 1x1 convolutions with batch norm) maps
the feature map to per-element sigmoid weights, and the input is multiplied by them. With
``useGlobal`` the bottleneck first pools the map, which gives squeeze-and-excitation style
per-channel weights instead of per-element ones.
"""
import mxnet as mx
from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock

from ..utils.checks import check_positive_int

__all__ = ['ChaATAC']


class ChaATAC(HybridBlock):
    """Channel attention used as an activation function.

    ``y = x * sigmoid(BN(conv1x1(act(BN(conv1x1(pool(x)))))))`` where the first 1x1
    convolution reduces ``channels`` to ``channels // r``, ``act`` is a ReLU when ``useReLU``
    and ``pool`` is global average pooling when ``useGlobal`` (identity otherwise).

    The children keep the original attribute tree (``module.0``, ``module.1``, ... in a
    ``HybridSequential``), so parameter files saved from the original ChaATAC load unchanged.

    Parameters
    ----------
    channels : int
        Channels of the input (and of the output).
    r : int, default 2
        Reduction ratio of the bottleneck; must divide ``channels``.
    useReLU : bool, default True
        Put a ReLU between the two 1x1 convolutions.
    useGlobal : bool, default False
        Global-average-pool the input before the bottleneck (one weight per channel).

    Inputs: (N, channels, H, W). Output: the same shape.
    """

    def __init__(self, channels, r=2, useReLU=True, useGlobal=False, **kwargs):
        super(ChaATAC, self).__init__(**kwargs)
        check_positive_int(channels, 'channels')
        check_positive_int(r, 'r')
        if channels % r:
            raise ValueError('ChaATAC: r=%d must divide channels=%d (the bottleneck has '
                             'channels // r channels); pick r among the divisors of %d'
                             % (r, channels, channels))
        self.channels = channels
        self.inter_channels = channels // r
        with self.name_scope():
            self.module = nn.HybridSequential(prefix='module')
            if useGlobal:
                self.module.add(nn.GlobalAvgPool2D())
            self.module.add(nn.Conv2D(self.inter_channels, kernel_size=1, use_bias=False,
                                      in_channels=channels))
            self.module.add(nn.BatchNorm(in_channels=self.inter_channels))
            if useReLU:
                self.module.add(nn.Activation('relu'))
            self.module.add(nn.Conv2D(channels, kernel_size=1, use_bias=False,
                                      in_channels=self.inter_channels))
            self.module.add(nn.BatchNorm(in_channels=channels))
            self.module.add(nn.Activation('sigmoid'))

    def forward(self, x, *args):
        if isinstance(x, mx.nd.NDArray) and (x.ndim != 4 or x.shape[1] != self.channels):
            raise ValueError('ChaATAC(channels=%d) takes a batch of shape (N, %d, H, W), got %s'
                             % (self.channels, self.channels, tuple(x.shape)))
        return super(ChaATAC, self).forward(x, *args)

    def hybrid_forward(self, F, x):
        return F.broadcast_mul(x, self.module(x))
