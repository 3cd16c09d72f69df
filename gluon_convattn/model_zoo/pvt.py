"""Pyramid Vision Transformer v1 (whai362/PVT ``classification/pvt.py``): PVT-Tiny and
PVT-Small (ACmix on them is registered in :mod:`.acmix`).

Four stages, each a patch embedding (4x4 patches, then 2x2), a learned position embedding,
and PVT blocks with spatial-reduction attention (reductions 8, 4, 2, 1); the last stage also
carries a class token, whose final LayerNorm output feeds the classifier.
"""
import mxnet as mx
from mxnet.gluon import nn

from ..nn.pvt import LAYER_NORM_EPS, PVTBlock
from ..nn.transformer import LayerNorm, PatchEmbed, stochastic_depth_rates, tokens_to_image
from ..utils.checks import check_fixed_image_batch, check_int_list, check_positive_int
from .arguments import build
from .configs import ModelConfig, config_table
from .features import check_out_indices, stage_feature_info
from .model_zoo import register_model
from .network_block import NetworkBlock

__all__ = ['PyramidVisionTransformer', 'PVT_TINY', 'PVT_SMALL', 'pvt_tiny', 'pvt_small']


class PyramidVisionTransformer(NetworkBlock):
    """PVT v1 (upstream ``PyramidVisionTransformer``), optionally with ACmix attention.

    Parameters
    ----------
    img_size : int, default 224
        The input side. Position embeddings and token grids are built for it, so inputs must
        have exactly this size (upstream interpolates the embeddings for other sizes, which at
        this size is the identity); a multiple of ``patch_size * 2**(stages - 1)``.
    patch_size : int, default 4
        Patch side of the first embedding (the others use 2).
    in_channels : int, default 3
    classes : int, default 1000
    embed_dims, num_heads, mlp_ratios, depths, sr_ratios : lists of int, one per stage
        Defaults are PVT-Tiny's: [64, 128, 320, 512], [1, 2, 5, 8], [8, 8, 4, 4],
        [2, 2, 2, 2], [8, 4, 2, 1].
    qkv_bias : bool, default True
    qk_scale : float or None
    drop_rate, attn_drop_rate : float, default 0.0
    drop_path_rate : float, default 0.1
        Stochastic depth, rising linearly from 0 over the blocks (the released configs use
        0.1; upstream's model default is 0).
    acmix : bool, default False
        Mix ACmix's convolution path into every attention (``acmix_pvt_*``).
    features_only : bool, default False
        Return the stage outputs in ``out_indices`` as a list of (N, C, H, W) arrays instead
        of logits (no final norm and classifier); see :attr:`feature_info`.
    out_indices : tuple of int, default (0, 1, 2, 3)
        Stages (reductions ``patch_size * 2**i``: 4, 8, 16, 32) whose outputs are returned;
        with ``features_only``, stages after the last one are not built.

    Inputs: (N, in_channels, img_size, img_size). Output: (N, classes), or the feature list.
    """

    def __init__(self, img_size=224, patch_size=4, in_channels=3, classes=1000,
                 embed_dims=(64, 128, 320, 512), num_heads=(1, 2, 5, 8),
                 mlp_ratios=(8, 8, 4, 4), depths=(2, 2, 2, 2), sr_ratios=(8, 4, 2, 1),
                 qkv_bias=True, qk_scale=None, drop_rate=0.0, attn_drop_rate=0.0,
                 drop_path_rate=0.1, acmix=False, features_only=False,
                 out_indices=(0, 1, 2, 3), **kwargs):
        super(PyramidVisionTransformer, self).__init__(**kwargs)
        for value, name in ((img_size, 'img_size'), (patch_size, 'patch_size'),
                            (in_channels, 'in_channels'), (classes, 'classes')):
            check_positive_int(value, name)
        stages = len(depths)
        embed_dims = check_int_list(embed_dims, stages, 'embed_dims (one per stage)')
        num_heads = check_int_list(num_heads, stages, 'num_heads (one per stage)')
        sr_ratios = check_int_list(sr_ratios, stages, 'sr_ratios (one per stage)')
        depths = check_int_list(depths, stages, 'depths (one per stage)')
        if len(mlp_ratios) != stages:
            raise ValueError('mlp_ratios needs one entry per stage (%d), got %r'
                             % (stages, mlp_ratios))
        if img_size % (patch_size * 2 ** (stages - 1)):
            raise ValueError('img_size=%d must be a multiple of patch_size * 2**(stages-1) = '
                             '%d (each later patch embedding halves the token grid)'
                             % (img_size, patch_size * 2 ** (stages - 1)))
        self.img_size, self.in_channels, self.stages = img_size, in_channels, stages
        self.min_size = img_size
        self.sides = [img_size // patch_size // 2 ** i for i in range(stages)]
        self.embed_dims = embed_dims
        self.features_only = features_only
        self.out_indices = check_out_indices(out_indices, stages)
        self.feature_info = stage_feature_info(
            embed_dims, [patch_size * 2 ** i for i in range(stages)],
            ['block%d' % (i + 1) for i in range(stages)], self.out_indices)
        self._built = self.out_indices[-1] + 1 if features_only else stages
        rates = stochastic_depth_rates(drop_path_rate, sum(depths))
        with self.name_scope():
            for i in range(self._built):
                side, last = self.sides[i], i == stages - 1
                setattr(self, 'patch_embed%d' % (i + 1), PatchEmbed(
                    patch_size if i == 0 else 2, in_channels if i == 0 else embed_dims[i - 1],
                    embed_dims[i], prefix='patch_embed%d_' % (i + 1)))
                setattr(self, 'pos_embed%d' % (i + 1), self.params.get(
                    'pos_embed%d' % (i + 1), shape=(1, side * side + last, embed_dims[i]),
                    init=mx.init.Normal(0.02)))
                setattr(self, 'pos_drop%d' % (i + 1), nn.Dropout(drop_rate))
                blocks = nn.HybridSequential(prefix='block%d_' % (i + 1))
                with blocks.name_scope():
                    first = sum(depths[:i])
                    for j in range(depths[i]):
                        blocks.add(PVTBlock(
                            embed_dims[i], (side, side), num_heads[i], mlp_ratios[i], qkv_bias,
                            qk_scale, drop_rate, attn_drop_rate, rates[first + j], sr_ratios[i],
                            cls_token=last, acmix=acmix))
                setattr(self, 'block%d' % (i + 1), blocks)
            if self._built == stages:
                self.cls_token = self.params.get('cls_token', shape=(1, 1, embed_dims[-1]),
                                                 init=mx.init.Normal(0.02))
            if not features_only:
                self.norm = LayerNorm(epsilon=LAYER_NORM_EPS, in_channels=embed_dims[-1])
                self.head = nn.Dense(classes, in_units=embed_dims[-1])

    def forward(self, x, *args):
        check_fixed_image_batch(x, type(self).__name__, self.img_size, self.in_channels)
        return super(PyramidVisionTransformer, self).forward(x, *args)

    def hybrid_forward(self, F, x, cls_token=None, **pos_embeds):
        features = []
        for i in range(self._built):
            tokens = getattr(self, 'patch_embed%d' % (i + 1))(x)
            last = i == self.stages - 1
            if last:
                cls = F.broadcast_like(cls_token, tokens, lhs_axes=(0,), rhs_axes=(0,))
                tokens = F.concat(cls, tokens, dim=1)
            tokens = F.broadcast_add(tokens, pos_embeds['pos_embed%d' % (i + 1)])
            tokens = getattr(self, 'block%d' % (i + 1))(
                getattr(self, 'pos_drop%d' % (i + 1))(tokens))
            if not last:
                x = tokens_to_image(tokens, self.sides[i], self.sides[i])
                features.append(x)
            elif self.features_only:
                features.append(tokens_to_image(F.slice_axis(tokens, axis=1, begin=1, end=None),
                                                self.sides[i], self.sides[i]))
        if self.features_only:
            return [features[i] for i in self.out_indices]
        cls = F.slice_axis(self.norm(tokens), axis=1, begin=0, end=1).reshape((0, -1))
        return self.head(cls)


PVT_TINY = dict(depths=[2, 2, 2, 2])
PVT_SMALL = dict(depths=[3, 4, 6, 3])

CONFIGS = config_table(
    ModelConfig('pvt_tiny', family='PVT',
                faithful_to='whai362/PVT `classification/pvt.py` `pvt_tiny` (PVT v1, the base of '
                            'ACmix-PVT); golden'),
    ModelConfig('pvt_small', family='PVT', faithful_to='`pvt_small`; golden'),
)


@register_model(CONFIGS['pvt_tiny'], network=PyramidVisionTransformer)
def pvt_tiny(classes=1000, **kwargs):
    """PVT-Tiny (13.2M parameters; 75.1% top-1 in the paper). Keyword arguments override the
    configuration (e.g. ``img_size``)."""
    return build(PyramidVisionTransformer, dict(PVT_TINY, classes=classes), kwargs)


@register_model(CONFIGS['pvt_small'], network=PyramidVisionTransformer)
def pvt_small(classes=1000, **kwargs):
    """PVT-Small (24.5M parameters; 79.8% top-1 in the paper)."""
    return build(PyramidVisionTransformer, dict(PVT_SMALL, classes=classes), kwargs)
