"""ACmix on SAN's self-attention module: SAM's attention plus ACmix's convolution path.

The ACmix seed table lists ACmix on SAN-10/15/19 (patchwise) without released code. This
module is our reading of it (``docs/acmix.md``, "ACmix on SAN and PVT"): SAN's ``SAM`` keeps
its three 1x1 projections and its attention unchanged, and ACmix's convolution path
(:func:`~gluon_convattn.nn.acmix.shift_conv_layers`, :func:`~gluon_convattn.nn.acmix.shift_conv`)
runs over the same projections; the output is ``rate1 * attention + rate2 * convolution``.

ACmix's ``fc`` mixes q, k and v channel by channel, so the three must have one width. SAM's
relation features q, k have ``rel_planes`` channels and its values ``out_planes``; ``conv_v``
(a 1x1 convolution) brings v to ``rel_planes``, and q, k, v then form the three maps of one
head of ``rel_planes`` channels. ``dep_conv`` turns the ``k_conv**2`` mixed maps into the
``out_planes`` outputs, as in ACmix.
"""
import mxnet as mx
from mxnet.gluon import nn

from .acmix import mix_paths, shift_conv, shift_conv_layers
from .san import SAM

__all__ = ['ACmixSAM']


class ACmixSAM(SAM):
    """SAN's self-attention module with ACmix's convolution path over its projections.

    Parameters
    ----------
    sa_type, in_planes, rel_planes, out_planes, share_planes, kernel_size, stride, dilation,
    impl
        As for :class:`~gluon_convattn.nn.san.SAM`.
    kernel_conv : int, default 3
        Kernel of the convolution path (ACmix's ``k_conv``).

    Inputs: as for SAM. Output: (N, out_planes, Ho, Wo), both paths at the window stride.
    """

    def __init__(self, sa_type, in_planes, rel_planes, out_planes, share_planes=8,
                 kernel_size=3, stride=1, dilation=1, impl=None, kernel_conv=3, **kwargs):
        super(ACmixSAM, self).__init__(sa_type, in_planes, rel_planes, out_planes,
                                       share_planes, kernel_size, stride, dilation, impl,
                                       **kwargs)
        if kernel_conv % 2 == 0 or kernel_conv < 1:
            raise ValueError('kernel_conv must be a positive odd int, got %r' % kernel_conv)
        with self.name_scope():
            self.rate1 = self.params.get('rate1', shape=(1,), init=mx.init.Constant(0.5))
            self.rate2 = self.params.get('rate2', shape=(1,), init=mx.init.Constant(0.5))
            self.conv_v = nn.Conv2D(rel_planes, 1, in_channels=out_planes)
            self.fc, self.dep_conv = shift_conv_layers(1, rel_planes, out_planes, kernel_conv,
                                                       stride)

    def _convolution(self, F, x1, x2, x3):
        maps = [t.reshape((0, 0, -1)).expand_dims(1) for t in (x1, x2, self.conv_v(x3))]
        return shift_conv(F, self.fc, self.dep_conv, F.concat(*maps, dim=1), x1)

    def hybrid_forward(self, F, x, rate1, rate2):
        x1, x2, x3 = self.conv1(x), self.conv2(x), self.conv3(x)
        return mix_paths(F, rate1, rate2, self._attend(F, x1, x2, x3),
                         self._convolution(F, x1, x2, x3))
