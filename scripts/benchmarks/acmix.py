"""Benchmark cases: the ACmix layer at ACmix-ResNet shapes, ACmix-ResNet-26 and ACmix-Swin-T.

Layer rows compare ``ours`` (:class:`gluon_convattn.nn.ACmix`: logits by ``ops.local_dot``,
weighted sum by ``ops.aggregation``; on a GPU neither forms the ``k*k`` unfolded tensors) with
``upstream-style``, written here after upstream's ``ACmix.forward``: the keys, values and
position encoding unfolded into (N, C, k*k, L) tensors, the logit including the constant
``q . pe_centre`` term, and explicit products and sums. Both have the same parameters and the
same convolution path. On the CPU the composite operators unfold too, so the rows measure the
arithmetic saved, not the memory the kernels save on a GPU.
"""
import functools

from gluon_convattn import ops
from gluon_convattn.nn import ACmix
from gluon_convattn.nn.position import position_grid
from .measure import Case, hybridized_step, network_case


class UpstreamStyleACmix(ACmix):
    """ACmix whose attention unfolds k, v and the position encoding as upstream does."""

    def _attention(self, F, x, q, k, v):
        window = dict(kernel_size=self.kernel_att, stride=self.stride, padding=self.padding_att,
                      dilation=self.dilation, pad_mode=1)
        every = dict(begin=(None,) * 4, end=(None,) * 4, step=(1, 1, self.stride, self.stride))
        pe = self.conv_p(position_grid(F, x))                          # (1, hd, H, W)
        split = (0, -4, self.head, -1, -2)                             # (N, head, hd, ...)
        query = F.slice(q * self.scale, **every).reshape((0, 0, 1, -1)).reshape(split)
        pe_centre = F.slice(pe, **every).reshape((0, 0, 1, -1)).reshape((0, -4, 1, -1, -2))
        keys = ops.unfold(F, k, **window).reshape(split)              # (N, head, hd, kk, L)
        pe_taps = ops.unfold(F, pe, **window).reshape((0, -4, 1, -1, -2))
        keys = F.broadcast_sub(F.broadcast_add(keys, pe_centre), pe_taps)
        logits = F.sum(F.broadcast_mul(query, keys), axis=2)           # (N, head, kk, L)
        weights = F.softmax(logits, axis=2).expand_dims(2)
        values = ops.unfold(F, v, **window).reshape(split)
        out = F.sum(F.broadcast_mul(weights, values), axis=3).reshape((0, -3, -2))
        return F.reshape_like(out, F.slice(q, **every))


# (name, batch, channels, size, stride): ACmix layers of acmix_resnet26 at 224 px: stage 1,
# the strided first block of stage 3 and a stage-3 block.
LAYERS = [('r26_stage1', 2, 64, 56, 1), ('r26_stage3_first', 4, 256, 28, 2),
          ('r26_stage3_other', 4, 256, 14, 1)]
NETWORKS = [('acmix_resnet26', 2, 224), ('acmix_swin_tiny', 2, 224)]


def _layer_setup(batch, channels, size, stride, impl, ctx):
    cls = ACmix if impl == 'ours' else UpstreamStyleACmix
    layer = cls(channels, channels, 7, 4, 3, stride=stride)
    return hybridized_step(layer, ctx, (batch, channels, size, size))


CASES = [Case('acmix', 'layer_' + name, impl, '%dx%dx%dx%d/s%d' % (b, c, s, s, st),
              functools.partial(_layer_setup, b, c, s, st, impl))
         for name, b, c, s, st in LAYERS for impl in ('ours', 'upstream-style')]
CASES += [network_case('acmix', name, b, s, label='%dx3x%dx%d') for name, b, s in NETWORKS]
