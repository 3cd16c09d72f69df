"""Benchmark cases: KAConv, fused (ours) beside the straightforward per-branch form.

``PerBranchKAConv`` is the reference the fused :class:`gluon_convattn.nn.KAConv` is tested
against (``tests/unit/test_kaconv.py``): one block per tap, each padding and cropping its input,
running its own strided 1x1 convolution, BatchNorm and ReLU, and an attention generator with
one output layer per tap, laid out as dreamcontinue/KAConv's modules are, so an upstream state
dict loads into it after BatchNorm's weight/bias -> gamma/beta rename.

Rows: the KAConv layer of ResNet-50 stage-2 blocks (128 channels at 56x56, stride 1 and 2)
and of a stage-4 block (512 channels at 7x7), and KAResNet50-L, forward + backward.
"""
from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock

from gluon_convattn.nn.kaconv import KAConv, attention_width
from .measure import Case, hybridized_step, network_case

__all__ = ['PerBranchKAConv', 'CASES']


class _Shift(HybridBlock):
    """Zero-padded shift: output[i, j] = input[i + row - pad, j + col - pad] (0 outside)."""

    def __init__(self, row, col, pad, **kwargs):
        super(_Shift, self).__init__(**kwargs)
        self._row, self._col, self._pad = row, col, pad

    def hybrid_forward(self, F, x):
        p = self._pad
        padded = F.pad(x, mode='constant', pad_width=(0, 0, 0, 0, p, p, p, p))
        window = F.slice(padded, begin=(None, None, self._row, self._col),
                         end=(None, None, None, None))
        return F.slice_like(window, x, axes=(2, 3))


class _PerBranchAG(HybridBlock):
    """AG-L or AG-H with one output layer per tap (upstream's module layout)."""

    def __init__(self, ag, channels, branches, reduction, min_width, use_bias, **kwargs):
        super(_PerBranchAG, self).__init__(**kwargs)
        width = attention_width(channels, reduction, min_width)
        fc_kernel, fcs_kernel = ((branches, 1), 1) if ag == 'L' else (1, (branches, 1))
        with self.name_scope():
            self.fc = nn.HybridSequential()
            self.fc.add(nn.Conv2D(width, fc_kernel, in_channels=channels, use_bias=False),
                        nn.BatchNorm(in_channels=width), nn.Activation('relu'))
            self.fcs = nn.HybridSequential()
            for _ in range(branches):
                self.fcs.add(nn.Conv2D(channels, fcs_kernel, in_channels=width,
                                       use_bias=use_bias))

    def hybrid_forward(self, F, *feats):
        pooled = F.concat(*[F.mean(f, axis=(2, 3), keepdims=True) for f in feats], dim=2)
        hidden = self.fc(pooled)
        logits = F.stack(*[fc(hidden) for fc in self.fcs._children.values()], axis=2)
        weights = F.softmax(logits, axis=2)                        # (N, C, B, 1, 1)
        return F.sum(F.broadcast_mul(F.stack(*feats, axis=2), weights), axis=2)


class PerBranchKAConv(HybridBlock):
    """KAConv computed tap by tap (the baseline and test reference); arguments as
    :class:`gluon_convattn.nn.KAConv`."""

    def __init__(self, in_channels, channels, kernel_size=3, strides=1, dilation=1, groups=1,
                 ag='L', reduction=16, min_width=32, attention_bias=True, **kwargs):
        super(PerBranchKAConv, self).__init__(**kwargs)
        branches = kernel_size * kernel_size
        with self.name_scope():
            self.convs = nn.HybridSequential()
            for b in range(branches):
                tap = nn.HybridSequential()
                tap.add(_Shift((b // kernel_size) * dilation, (b % kernel_size) * dilation,
                               (kernel_size // 2) * dilation),
                        nn.Conv2D(channels, 1, strides=strides, groups=groups,
                                  in_channels=in_channels, use_bias=False),
                        nn.BatchNorm(in_channels=channels), nn.Activation('relu'))
                self.convs.add(tap)
            self.agg = _PerBranchAG(ag, channels, branches, reduction, min_width,
                                    attention_bias)

    def hybrid_forward(self, F, x):
        return self.agg(*[tap(x) for tap in self.convs._children.values()])


IMPLS = {'per-branch': PerBranchKAConv, 'ours': KAConv}


def _layer_case(impl, strides, stage, channels, size, batch=4):
    def setup(ctx):
        return hybridized_step(IMPLS[impl](channels, channels, 3, strides), ctx,
                               (batch, channels, size, size), static_alloc=True)
    return Case('kaconv', 'KAConv 3x3 s%d (stage %d)' % (strides, stage), impl,
                '%dx%dx%dx%d' % (batch, channels, size, size), setup)


def _network_case(impl, batch=4, size=224):
    return network_case('kaconv', 'karesnet50_l', batch, size, impl, {'conv_layer': IMPLS[impl]},
                        label='%dx3x%dx%d', static_alloc=True)


CASES = [make(impl) for make in (lambda impl: _layer_case(impl, 1, 2, 128, 56),
                                 lambda impl: _layer_case(impl, 2, 2, 128, 56),
                                 lambda impl: _layer_case(impl, 1, 4, 512, 7), _network_case)
         for impl in IMPLS]
