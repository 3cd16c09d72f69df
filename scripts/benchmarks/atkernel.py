"""Benchmark cases: the AT kernel layer at its released shapes, and the AT-kernel networks.

Layer rows compare ``ours`` (:class:`gluon_convattn.nn.ATKernel`: the centre half of the MLP's
first layer applied once per position, the value taps consumed by ``ops.aggregation``, which
on a GPU never materialises them) with ``upstream-style``, written here after upstream's
``AT_kernel.forward``: the centre repeated over the taps and concatenated with the key taps,
and the value taps unfolded and multiplied explicitly. Both have the same parameters.
Network rows run ``atkernel_resnet50`` and ``atkernel_resnet26_tiny`` beside the same networks
with the AT kernel switched off (``at_blocks=(0, 0)``, a plain ResNet; for the tiny config
that is upstream's effective network).
"""
import functools

from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock

from gluon_convattn import ops
from gluon_convattn.nn import ATKernel
from gluon_convattn.nn.atkernel import ChannelGroupNorm
from .measure import Case, hybridized_step, network_case


class UpstreamStyleATKernel(HybridBlock):
    """The AT kernel computed as upstream does: repeated centre, concatenation, unfolded V."""

    def __init__(self, channels, kernel_size=3, stride=1, group_channels=4, reduction_ratio=4,
                 **kwargs):
        super(UpstreamStyleATKernel, self).__init__(**kwargs)
        self.channels, self.group_channels, self.kernel_size = (channels, group_channels,
                                                                kernel_size)
        weights = channels * group_channels
        with self.name_scope():
            self.pool = nn.AvgPool2D(stride, stride) if stride > 1 else None
            self.emb_k = nn.HybridSequential()
            self.emb_k.add(nn.Conv2D(channels, 1, use_bias=False), nn.BatchNorm(),
                           nn.Activation('relu'))
            self.mlp = nn.HybridSequential()
            self.mlp.add(nn.Conv2D(channels // reduction_ratio, 1), nn.BatchNorm(),
                         nn.Activation('relu'), nn.Conv2D(weights, 1),
                         ChannelGroupNorm(channels, weights))
            self.emb_v = nn.HybridSequential()
            self.emb_v.add(nn.Conv2D(weights, 1, use_bias=False), nn.BatchNorm())

    def hybrid_forward(self, F, x):
        if self.pool is not None:
            x = self.pool(x)
        window = dict(kernel_size=self.kernel_size, padding=(self.kernel_size - 1) // 2)
        keys = ops.unfold(F, self.emb_k(x), **window)
        queries = F.broadcast_like(x.reshape((0, 0, 1, -1)), keys)
        attn = self.mlp(F.concat(queries, keys, dim=1))
        value_map = self.emb_v(x)
        values = ops.unfold(F, value_map, **window)
        out = F.reshape_like(F.sum(attn * values, axis=2), value_map)
        return F.sum(out.reshape((0, -4, self.channels, self.group_channels, -2)), axis=2)


# (name, batch, channels, size, stride): the AT kernel of atkernel_resnet26_tiny (stage 1 at
# 64 px) and of atkernel_resnet50 at 224 px (stage 4: the strided first block, then 7x7).
LAYERS = [('tiny_stage1', 2, 64, 64, 1), ('r50_stage4_first', 8, 512, 14, 2),
          ('r50_stage4_other', 8, 512, 7, 1)]
NETWORKS = [('atkernel_resnet50', 2, 224), ('atkernel_resnet26_tiny', 4, 64)]


def _layer_setup(batch, channels, size, stride, impl, ctx):
    if impl == 'ours':
        layer = ATKernel(channels, channels, stride=stride)
    else:
        layer = UpstreamStyleATKernel(channels, stride=stride)
    return hybridized_step(layer, ctx, (batch, channels, size, size))


def _cases():
    cases = []
    for name, batch, channels, size, stride in LAYERS:
        for impl in ('ours', 'upstream-style'):
            cases.append(Case('atkernel', 'layer_' + name, impl,
                              'N%d C%d %dx%d s%d' % (batch, channels, size, size, stride),
                              functools.partial(_layer_setup, batch, channels, size, stride,
                                                impl)))
    for name, batch, size in NETWORKS:
        for impl, at_blocks in (('ours', (1, 1)), ('no-AT', (0, 0))):
            cases.append(network_case('atkernel', name, batch, size, impl,
                                      {'at_blocks': at_blocks}))
    return cases


CASES = _cases()
