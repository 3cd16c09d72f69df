"""SAN networks (hszhao/SAN ``model/san.py``): SAN10, SAN15 and SAN19, pairwise and patchwise."""
from mxnet.gluon import nn

from .. import ops
from ..nn.san import SA_TYPES, SANBottleneck
from ..utils.checks import (check_choice, check_image_batch, check_int_list, check_odd,
                            check_positive_int)
from .arguments import build
from .configs import ModelConfig, config_table
from .features import check_out_indices, stage_feature_info
from .model_zoo import register_model
from .network_block import NetworkBlock

__all__ = ['SAN', 'san10_pairwise', 'san10_patchwise', 'san15_pairwise', 'san15_patchwise',
           'san19_pairwise', 'san19_patchwise']

STAGES = 5
KERNELS = (3, 7, 7, 7, 7)


def min_input_size(kernels):
    """Smallest input side the network takes: stage ``i`` runs at 1/2**(i+1) of the input (a
    2x2 max-pool before each stage) and its reflection padding ``k // 2`` must stay below the
    feature size."""
    return max(2 ** (i + 1) * (k // 2 + 1) for i, k in enumerate(kernels))


class SAN(NetworkBlock):
    """Self-attention network: a 1x1 stem, then five stages of max-pool, 1x1 transition
    convolution, SAN bottlenecks and BN-ReLU; global average pooling and a classifier.

    Parameters
    ----------
    sa_type : int
        0 for pairwise, 1 for patchwise self-attention.
    layers : list of 5 int
        Bottlenecks per stage.
    kernels : list of 5 int
        Odd attention window size per stage.
    classes : int, default 1000
        Output classes.
    base_channels : int, default 64
        Stem width; stages have 1, 4, 8, 16 and 32 times as many channels (upstream: 64).
        Narrower networks are for tests; it must be a multiple of 4 * share_planes.
    share_planes : int, default 8
        Channels sharing one attention weight map.
    impl : str or None
        Operator implementation, see :func:`gluon_convattn.ops.resolve_impl`.
    sam_class : class, optional
        The attention module of every bottleneck (SAN's ``SAM`` when None; ACmix's
        :class:`~gluon_convattn.nn.acmix_san.ACmixSAM` for ``acmix_san*``).
    features_only : bool, default False
        Return stage outputs (after each stage's BN-ReLU) as a list of NCHW arrays instead of
        logits (no classifier); see :attr:`feature_info`.
    out_indices : tuple of int, default (1, 2, 3, 4)
        Indices of SAN's five stages ``layer0`` .. ``layer4`` (reductions 2, 4, 8, 16, 32);
        the default picks the four with reductions 4-32, as the ResNet-like networks give.
        Stages after the last one are not built.

    Inputs: (N, 3, H, W) with H, W >= :attr:`min_size` (128 for the released kernels).
    """

    def __init__(self, sa_type, layers, kernels=KERNELS, classes=1000, base_channels=64,
                 share_planes=8, impl=None, sam_class=None, features_only=False,
                 out_indices=(1, 2, 3, 4), **kwargs):
        super(SAN, self).__init__(**kwargs)
        check_choice(sa_type, tuple(SA_TYPES), 'sa_type')
        layers = check_int_list(layers, STAGES, 'layers (one per stage)', minimum=0)
        kernels = check_int_list(kernels, STAGES, 'kernels (one per stage)')
        for stage, kernel in enumerate(kernels):
            check_odd(kernel, 'kernels[%d]' % stage)
        for value, name in ((classes, 'classes'), (share_planes, 'share_planes'),
                            (base_channels, 'base_channels')):
            check_positive_int(value, name)
        if base_channels < 16 or base_channels % (4 * share_planes):
            raise ValueError('base_channels=%r must be >= 16 and a multiple of 4 * share_planes '
                             '= %d (the first stage has base_channels // 16 relation and '
                             'base_channels // 4 attention channels)'
                             % (base_channels, 4 * share_planes))
        self.min_size = min_input_size(kernels)
        self._label = 'SAN (%s, layers %s)' % (SA_TYPES[sa_type], layers)
        widths = [base_channels] + [base_channels * 4 * 2 ** i for i in range(STAGES - 1)]
        self.features_only = features_only
        self.out_indices = check_out_indices(out_indices, STAGES)
        self.feature_info = stage_feature_info(widths, [2 ** (i + 1) for i in range(STAGES)],
                                               ['layer%d' % i for i in range(STAGES)],
                                               self.out_indices)
        self._built = self.out_indices[-1] + 1 if features_only else STAGES
        with self.name_scope():
            self.conv_in = nn.Conv2D(base_channels, 1, use_bias=False, in_channels=3)
            self.bn_in = nn.BatchNorm(in_channels=base_channels)
            self.pool = nn.MaxPool2D(2, 2)
            in_channels = base_channels
            for i, (planes, blocks, k) in enumerate(zip(widths[:self._built], layers, kernels)):
                setattr(self, 'conv%d' % i, nn.Conv2D(planes, 1, use_bias=False,
                                                      in_channels=in_channels))
                setattr(self, 'bn%d' % i, nn.BatchNorm(in_channels=planes))
                stage = nn.HybridSequential(prefix='layer%d_' % i)
                with stage.name_scope():
                    for _ in range(blocks):
                        stage.add(SANBottleneck(sa_type, planes, share_planes=share_planes,
                                                kernel_size=k, impl=impl,
                                                sam_class=sam_class))
                setattr(self, 'layer%d' % i, stage)
                in_channels = planes
            if not features_only:
                self.avgpool = nn.GlobalAvgPool2D()
                self.fc = nn.Dense(classes, in_units=in_channels)

    def forward(self, x, *args):
        check_image_batch(x, self._label, self.min_size, works='224x224')
        return super(SAN, self).forward(x, *args)

    def hybrid_forward(self, F, x):
        x = ops.relu(F, self.bn_in(self.conv_in(x)))
        stages = []
        for i in range(self._built):
            x = self.pool(x)
            x = getattr(self, 'conv%d' % i)(x)
            x = getattr(self, 'layer%d' % i)(x)
            x = ops.relu(F, getattr(self, 'bn%d' % i)(x))
            stages.append(x)
        if self.features_only:
            return [stages[i] for i in self.out_indices]
        return self.fc(F.flatten(self.avgpool(x)))


_SAN = 'hszhao/SAN `model/san.py` `san(%d, %s, [3,7,7,7,7])`; %s'
CONFIGS = config_table(
    ModelConfig('san10_pairwise', family='SAN', faithful_to=_SAN % (0, '[2,1,2,4,1]', 'golden'),
                seed_flops='2.2G', flops_note='san'),
    ModelConfig('san10_patchwise', family='SAN',
                faithful_to='`san(1, [2,1,2,4,1], ...)`; golden',
                seed_flops='1.9G', flops_note='san'),
    ModelConfig('san15_pairwise', family='SAN', faithful_to='`san(0, [3,2,3,5,2], ...)`; count',
                seed_flops='3.0G', flops_note='san'),
    ModelConfig('san15_patchwise', family='SAN', faithful_to='`san(1, [3,2,3,5,2], ...)`; count',
                seed_flops='2.6G', flops_note='san'),
    ModelConfig('san19_pairwise', family='SAN', faithful_to='`san(0, [3,3,4,6,3], ...)`; count',
                seed_flops='3.8G', flops_note='san'),
    ModelConfig('san19_patchwise', family='SAN', faithful_to='`san(1, [3,3,4,6,3], ...)`; count',
                seed_flops='3.3G', flops_note='san'),
)


def _register(name, sa_type, layers, summary):
    """Register ``name`` as SAN(sa_type, layers, KERNELS) and return its constructor."""
    @register_model(CONFIGS[name], network=SAN)
    def constructor(classes=1000, **kwargs):
        return build(SAN, dict(sa_type=sa_type, layers=layers, kernels=KERNELS, classes=classes),
                     kwargs)
    constructor.__name__ = constructor.__qualname__ = name
    constructor.__doc__ = ('%s (upstream: %s).\n\nParameters\n----------\nclasses : int, '
                           'default 1000\n**kwargs\n    Passed to :class:`SAN`.' % (name, summary))
    return constructor


san10_pairwise = _register('san10_pairwise', 0, [2, 1, 2, 4, 1], '10.5M params, 74.9% top-1')
san10_patchwise = _register('san10_patchwise', 1, [2, 1, 2, 4, 1], '11.8M params, 77.1% top-1')
san15_pairwise = _register('san15_pairwise', 0, [3, 2, 3, 5, 2], '14.1M params, 76.6% top-1')
san15_patchwise = _register('san15_patchwise', 1, [3, 2, 3, 5, 2], '16.2M params, 78.0% top-1')
san19_pairwise = _register('san19_pairwise', 0, [3, 3, 4, 6, 3], '17.6M params, 76.9% top-1')
san19_patchwise = _register('san19_patchwise', 1, [3, 3, 4, 6, 3], '20.5M params, 78.2% top-1')
