"""ACmix networks (LeapLabTHU/ACmix): ACmix-ResNet-26/38/50 and ACmix-Swin-T/S from the
released code, and the seed table's rows without code, ACmix on SAN-10/15/19 (patchwise) and on
PVT-T/S (our reading in ``docs/acmix.md``).

* ``ResNet/ResNet_ImageNet.py``: torchvision's ResNet-50 layout whose bottlenecks have an
  :class:`~gluon_convattn.nn.ACmix` layer as their middle layer (k_att 7, head 4, k_conv 3;
  upstream's ``_make_layer`` names its arguments ``rate, k, head`` but passes them on in the
  order k_att, head, k_conv).
* ``Swin-Transformer/models/swin_transformer_acmix.py``: Swin Transformer whose window attention
  mixes in ACmix's convolution path.
"""
import mxnet as mx
from mxnet.gluon import nn
from mxnet.gluon.nn import BatchNorm

from ..nn.acmix import ACmix
from ..nn.acmix_san import ACmixSAM
from ..nn.swin import SwinStage
from ..nn.transformer import LayerNorm, PatchEmbed, stochastic_depth_rates, tokens_to_image
from ..utils.checks import check_fixed_image_batch, check_positive_int
from .arguments import build
from .configs import ModelConfig, config_table
from .features import check_out_indices, stage_feature_info
from .model_zoo import register_model
from .network_block import NetworkBlock
from .pvt import PVT_SMALL, PVT_TINY, PyramidVisionTransformer
from .resnet_trunk import Bottleneck, ResNetTrunk
from .san import KERNELS, SAN

__all__ = ['ACmixResNet', 'SwinTransformerACmix', 'resnet_min_size', 'acmix_resnet26',
           'acmix_resnet38', 'acmix_resnet50', 'acmix_swin_tiny', 'acmix_swin_small',
           'acmix_san10', 'acmix_san15', 'acmix_san19', 'acmix_pvt_tiny', 'acmix_pvt_small']

_STEM_STRIDE, _STRIDED_STAGES = 4, 3


def _stem_size(size):
    """Side after the 7x7/2 convolution (padding 3) and the 3x3/2 max-pool (padding 1)."""
    return ((size - 1) // 2) // 2 + 1


def resnet_min_size(kernel_att):
    """Smallest input side of an ACmix-ResNet: the last stage must be larger than the
    attention's reflection padding ``(kernel_att - 1) // 2``."""
    return _STEM_STRIDE * 2 ** _STRIDED_STAGES * ((kernel_att - 1) // 2 + 1)


class ACmixResNet(ResNetTrunk):
    """ResNet-50-style network with ACmix as the middle layer of every bottleneck.

    Parameters
    ----------
    layers : list of 4 int
        Bottlenecks per stage.
    k_att : int, default 7
        Attention window of every ACmix layer.
    head : int, default 4
        Attention heads.
    k_conv : int, default 3
        Kernel of the convolution path.
    classes : int, default 1000
    last_gamma : bool, default False
        Initialise each block's last BatchNorm gamma with zeros.
    final_drop : float, default 0.0
        Dropout before the classifier.
    impl : str or None
        Operator implementation, see :func:`gluon_convattn.ops.resolve_impl`.

    Inputs: (N, 3, H, W). Stages 2-4 halve the feature map by taking every second attention
    query, so the 4x-reduced stem output must be divisible by 8 (H, W multiples of 32 work),
    and the last stage must exceed the reflection padding ``(k_att - 1) // 2``: at least
    :func:`resnet_min_size` (128 for k_att 7). 224 is the design size.
    """

    internal_arguments = ('stem', 'dilated')   # upstream's stem, strided stages

    def __init__(self, layers, k_att=7, head=4, k_conv=3, classes=1000, last_gamma=False,
                 final_drop=0.0, impl=None, norm_layer=BatchNorm, norm_kwargs=None, **kwargs):
        for value, name in ((k_att, 'k_att'), (head, 'head'), (k_conv, 'k_conv')):
            check_positive_int(value, name)
        fixed = sorted(set(kwargs) & {'stem', 'dilated'})
        if fixed:
            raise ValueError('ACmixResNet has the ImageNet stem and strided (undilated) stages '
                             'as upstream; it does not take %s' % ', '.join(fixed))

        def make_conv2(mid, strides, dilation):
            return ACmix(mid, mid, k_att, head, k_conv, stride=strides, impl=impl)

        def make_block(stage, index, channels, mid, strides, dilation, downsample):
            return Bottleneck(channels, mid, strides, dilation, downsample,
                              make_conv2=make_conv2, norm_layer=norm_layer,
                              norm_kwargs=norm_kwargs, last_gamma=last_gamma)

        super(ACmixResNet, self).__init__(
            layers, make_block, classes=classes, final_drop=final_drop, norm_layer=norm_layer,
            norm_kwargs=norm_kwargs, min_size=resnet_min_size(k_att),
            label='ACmix-ResNet (layers %s, k_att %d)' % (list(layers), k_att), **kwargs)
        self.k_att = k_att

    def check_input(self, x):
        super(ACmixResNet, self).check_input(x)
        if isinstance(x, mx.nd.NDArray):
            sizes = [_stem_size(side) for side in x.shape[2:]]
            if any(side % 2 ** _STRIDED_STAGES for side in sizes):
                raise ValueError(
                    '%s takes every second attention query in stages 2-4, so the 4x-reduced '
                    'stem output must be divisible by 8; input %dx%d gives %dx%d. Use H, W '
                    'multiples of 32 (e.g. 224x224, or %dx%d at the least)'
                    % (self._label, x.shape[2], x.shape[3], sizes[0], sizes[1],
                       self.min_size, self.min_size))


_R26, _R38, _R50 = [1, 2, 4, 1], [2, 3, 5, 2], [3, 4, 6, 3]

CONFIGS = config_table(
    ModelConfig('acmix_resnet26', family='ACmix',
                faithful_to='LeapLabTHU/ACmix `ResNet/ResNet_ImageNet.py` '
                            '`ACmix_ResNet([1,2,4,1])`; golden',
                seed_flops='2.3G', flops_note='acmix-resnet-26'),
    ModelConfig('acmix_resnet38', family='ACmix', faithful_to='`ACmix_ResNet([2,3,5,2])`; count',
                seed_flops='2.9G'),
    ModelConfig('acmix_resnet50', family='ACmix', faithful_to='`ACmix_ResNet([3,4,6,3])`; count',
                seed_flops='3.6G'),
    ModelConfig('acmix_swin_tiny', family='ACmix',
                faithful_to='`swin_transformer_acmix.py` depths [2,2,6,2], heads [3,6,12,24], '
                            'window 7; golden', seed_flops='4.6G'),
    ModelConfig('acmix_swin_small', family='ACmix', faithful_to='depths [2,2,18,2]; count',
                seed_flops='9.0G'),
    ModelConfig('acmix_san10', family='ACmix',
                faithful_to='seed table 12.1M (+0.3 %); no released code: '
                            '`san10_patchwise` + ACmix\'s convolution path (reading in '
                            '`docs/acmix.md`)', seed_flops='1.9G'),
    ModelConfig('acmix_san15', family='ACmix', faithful_to='seed 16.6M (+0.3 %)',
                seed_flops='2.7G'),
    ModelConfig('acmix_san19', family='ACmix', faithful_to='seed 21.2M (-0.3 %)',
                seed_flops='3.4G'),
    ModelConfig('acmix_pvt_tiny', family='ACmix',
                faithful_to='seed 13M; no released code: `pvt_tiny` + ACmix\'s '
                            'convolution path', seed_flops='2.0G'),
    ModelConfig('acmix_pvt_small', family='ACmix', faithful_to='seed 25M',
                seed_flops='3.9G'),
)


@register_model(CONFIGS['acmix_resnet26'], network=ACmixResNet)
def acmix_resnet26(classes=1000, **kwargs):
    """ACmix-ResNet-26 (10.5M parameters; 76.1% top-1 in the paper)."""
    return build(ACmixResNet, dict(layers=_R26, classes=classes), kwargs)


@register_model(CONFIGS['acmix_resnet38'], network=ACmixResNet)
def acmix_resnet38(classes=1000, **kwargs):
    """ACmix-ResNet-38 (14.4M parameters; 77.4% top-1 in the paper)."""
    return build(ACmixResNet, dict(layers=_R38, classes=classes), kwargs)


@register_model(CONFIGS['acmix_resnet50'], network=ACmixResNet)
def acmix_resnet50(classes=1000, **kwargs):
    """ACmix-ResNet-50 (18.3M parameters; 77.8% top-1 in the paper)."""
    return build(ACmixResNet, dict(layers=_R50, classes=classes), kwargs)


class SwinTransformerACmix(NetworkBlock):
    """Swin Transformer with ACmix window attention (upstream ``SwinTransformer_acmix``).

    Parameters
    ----------
    img_size : int, default 224
        The input side; the window partitions and masks are built for it, so inputs must have
        exactly this size.
    patch_size : int, default 4
    in_channels : int, default 3
    classes : int, default 1000
    embed_dim : int, default 96
        Channels of the first stage (doubled by every patch merging).
    depths : list of int, default [2, 2, 6, 2]
    num_heads : list of int, default [3, 6, 12, 24]
    window_size : int, default 7
    mlp_ratio : float, default 4.0
    qkv_bias : bool, default True
    qk_scale : float or None
    drop_rate, attn_drop_rate : float, default 0.0
    drop_path_rate : float, default 0.1
        Stochastic depth, rising linearly from 0 over the blocks (the released configs use
        0.2 for Swin-T and 0.3 for Swin-S, the defaults of :func:`acmix_swin_tiny` and
        :func:`acmix_swin_small`).
    features_only : bool, default False
        Return each stage's output tokens (before its patch merging) as NCHW arrays instead of
        logits (no final norm or head); see :attr:`feature_info`.
    out_indices : tuple of int, default (0, 1, 2, 3)
        Stages (reductions ``patch_size * 2**i``: 4, 8, 16, 32) whose outputs are returned;
        stages after the last one are not built. Only read with ``features_only``.

    Inputs: (N, in_channels, img_size, img_size). Output: (N, classes).
    """

    def __init__(self, img_size=224, patch_size=4, in_channels=3, classes=1000, embed_dim=96,
                 depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24), window_size=7, mlp_ratio=4.0,
                 qkv_bias=True, qk_scale=None, drop_rate=0.0, attn_drop_rate=0.0,
                 drop_path_rate=0.1, features_only=False, out_indices=(0, 1, 2, 3), **kwargs):
        super(SwinTransformerACmix, self).__init__(**kwargs)
        for value, name in ((img_size, 'img_size'), (patch_size, 'patch_size'),
                            (in_channels, 'in_channels'), (classes, 'classes'),
                            (embed_dim, 'embed_dim'), (window_size, 'window_size')):
            check_positive_int(value, name)
        if len(depths) != len(num_heads) or not depths:
            raise ValueError('depths and num_heads need one entry per stage, got %r and %r'
                             % (depths, num_heads))
        stages = len(depths)
        grid = img_size // patch_size
        if img_size % patch_size or grid % 2 ** (stages - 1):
            raise ValueError('img_size=%d must be a multiple of patch_size * 2**(stages-1) = %d '
                             '(each patch merging halves the token grid)'
                             % (img_size, patch_size * 2 ** (stages - 1)))
        self.img_size, self.in_channels = img_size, in_channels
        self.min_size = img_size
        self.features_only = features_only
        # a classifier describes all its stages (there may be fewer than four)
        self.out_indices = (check_out_indices(out_indices, stages) if features_only
                            else tuple(range(stages)))
        self.feature_info = stage_feature_info(
            [embed_dim * 2 ** i for i in range(stages)],
            [patch_size * 2 ** i for i in range(stages)],
            ['layers.%d' % i for i in range(stages)], self.out_indices)
        self._sides = [grid // 2 ** i for i in range(stages)]
        built = self.out_indices[-1] + 1 if features_only else stages
        rates = stochastic_depth_rates(drop_path_rate, sum(depths))
        block_kwargs = dict(mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, qk_scale=qk_scale,
                            drop=drop_rate, attn_drop=attn_drop_rate)
        with self.name_scope():
            self.patch_embed = PatchEmbed(patch_size, in_channels, embed_dim)
            self.pos_drop = nn.Dropout(drop_rate)
            self.layers = nn.HybridSequential(prefix='layers_')
            with self.layers.name_scope():
                for i, (depth, heads) in enumerate(zip(depths[:built], num_heads)):
                    side = self._sides[i]
                    first = sum(depths[:i])
                    self.layers.add(SwinStage(embed_dim * 2 ** i, (side, side), depth, heads,
                                              window_size, rates[first:first + depth],
                                              downsample=i < built - 1,
                                              block_kwargs=block_kwargs))
            self.num_features = embed_dim * 2 ** (stages - 1)
            if not features_only:
                self.norm = LayerNorm(in_channels=self.num_features)
                self.head = nn.Dense(classes, in_units=self.num_features)

    def forward(self, x, *args):
        check_fixed_image_batch(x, 'ACmix-Swin', self.img_size, channels=self.in_channels)
        return super(SwinTransformerACmix, self).forward(x, *args)

    def hybrid_forward(self, F, x):
        x = self.pos_drop(self.patch_embed(x))
        if not self.features_only:
            return self.head(F.mean(self.norm(self.layers(x)), axis=1))
        outputs = []
        for i, stage in enumerate(self.layers):
            x = stage.blocks(x)                                  # (N, H*W, C) tokens
            if i in self.out_indices:
                outputs.append(tokens_to_image(x, self._sides[i], self._sides[i]))
            if stage.downsample is not None:
                x = stage.downsample(x)
        return outputs


def _swin(depths, drop_path_rate, classes, kwargs):
    return build(SwinTransformerACmix, dict(embed_dim=96, depths=depths, num_heads=[3, 6, 12, 24],
                                            window_size=7, drop_path_rate=drop_path_rate,
                                            classes=classes), kwargs)


@register_model(CONFIGS['acmix_swin_tiny'], network=SwinTransformerACmix)
def acmix_swin_tiny(classes=1000, **kwargs):
    """ACmix-Swin-T (28.6M parameters; 81.9% top-1 in the paper). Keyword arguments override
    the configuration (e.g. ``img_size``)."""
    return _swin([2, 2, 6, 2], 0.2, classes, kwargs)


@register_model(CONFIGS['acmix_swin_small'], network=SwinTransformerACmix)
def acmix_swin_small(classes=1000, **kwargs):
    """ACmix-Swin-S (50.3M parameters; 83.5% top-1 in the paper). Keyword arguments override
    the configuration (e.g. ``img_size``)."""
    return _swin([2, 2, 18, 2], 0.3, classes, kwargs)


_SAN10, _SAN15, _SAN19 = [2, 1, 2, 4, 1], [3, 2, 3, 5, 2], [3, 3, 4, 6, 3]


def _san(layers, classes, kwargs):
    return build(SAN, dict(sa_type=1, layers=layers, kernels=KERNELS, classes=classes,
                           sam_class=ACmixSAM), kwargs)


@register_model(CONFIGS['acmix_san10'], network=SAN)
def acmix_san10(classes=1000, **kwargs):
    """ACmix on SAN-10 patchwise (seed table: 12.1M parameters, 1.9G FLOPs, 77.6% top-1).
    Keyword arguments go to :class:`~gluon_convattn.model_zoo.san.SAN`."""
    return _san(_SAN10, classes, kwargs)


@register_model(CONFIGS['acmix_san15'], network=SAN)
def acmix_san15(classes=1000, **kwargs):
    """ACmix on SAN-15 patchwise (seed table: 16.6M parameters, 2.7G FLOPs, 78.4% top-1)."""
    return _san(_SAN15, classes, kwargs)


@register_model(CONFIGS['acmix_san19'], network=SAN)
def acmix_san19(classes=1000, **kwargs):
    """ACmix on SAN-19 patchwise (seed table: 21.2M parameters, 3.4G FLOPs, 78.7% top-1)."""
    return _san(_SAN19, classes, kwargs)


@register_model(CONFIGS['acmix_pvt_tiny'], network=PyramidVisionTransformer)
def acmix_pvt_tiny(classes=1000, **kwargs):
    """ACmix on PVT-Tiny (seed table: 13M parameters, 2.0G FLOPs, 78.0% top-1). Keyword
    arguments override the configuration (e.g. ``img_size``)."""
    return build(PyramidVisionTransformer, dict(PVT_TINY, classes=classes, acmix=True), kwargs)


@register_model(CONFIGS['acmix_pvt_small'], network=PyramidVisionTransformer)
def acmix_pvt_small(classes=1000, **kwargs):
    """ACmix on PVT-Small (seed table: 25M parameters, 3.9G FLOPs, 81.7% top-1)."""
    return build(PyramidVisionTransformer, dict(PVT_SMALL, classes=classes, acmix=True), kwargs)
