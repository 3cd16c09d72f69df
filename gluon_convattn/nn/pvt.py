"""PVT v1's spatial-reduction attention and block, optionally with ACmix's convolution path.

Port of whai362/PVT ``classification/pvt.py`` (Wang et al., *Pyramid Vision Transformer*, ICCV
2021): the same layers under the same attribute names, so its checkpoints map by name. Tokens
are (B, L, C), ``L = H * W`` row-major, plus a leading class token in the stage that has one;
the token grid is fixed at construction, so the blocks hybridize with static reshapes.

With ``acmix=True`` the attention also runs ACmix's convolution path (``fc``, ``dep_conv`` and
the rates ``rate1``/``rate2`` of :mod:`.acmix`) over its own q, k and v projections, as
ACmix-Swin does over its ``qkv``; the reading behind the choices is in ``docs/acmix.md``.
"""
import mxnet as mx
from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock

from .. import ops
from .acmix import mix_paths, shift_conv, shift_conv_layers
from .transformer import (DropPath, LayerNorm, Mlp, image_to_tokens, token_dense,
                          tokens_to_image)

__all__ = ['SpatialReductionAttention', 'PVTBlock', 'LAYER_NORM_EPS']

LAYER_NORM_EPS = 1e-6   # PVT v1's norm_layer, partial(nn.LayerNorm, eps=1e-6)


def _repeat_grid(F, image, factor):
    """Nearest upsampling of (B, C, h, w) by an integer ``factor``: (B, C, h*f, w*f)."""
    if factor == 1:
        return image
    cells = image.expand_dims(3).expand_dims(5)                 # (B, C, h, 1, w, 1)
    cells = F.broadcast_axis(cells, axis=(3, 5), size=(factor, factor))
    return cells.reshape((0, 0, -3, -3))


class SpatialReductionAttention(HybridBlock):
    """Multi-head attention whose keys and values come from a ``sr_ratio`` times coarser grid
    (a ``sr_ratio x sr_ratio`` strided convolution, then LayerNorm), upstream's ``Attention``.

    Parameters
    ----------
    dim : int
        Channels; a multiple of ``num_heads``.
    resolution : (int, int)
        Height and width of the token grid (multiples of ``sr_ratio`` with ``acmix``).
    num_heads : int, default 8
    qkv_bias : bool, default False
        Biases of ``q`` and ``kv`` (every PVT model sets True).
    qk_scale : float or None
        Logit scale; ``head_dim ** -0.5`` when None.
    attn_drop, proj_drop : float
        Dropout on the attention weights and on the output.
    sr_ratio : int, default 1
        Spatial reduction of keys and values.
    cls_token : bool, default False
        Whether the tokens start with a class token (PVT v1's last stage).
    acmix : bool, default False
        Add ACmix's convolution path: ``rate1 * attention + rate2 * convolution``.

    Input and output: (B, cls_token + H * W, dim).
    """

    def __init__(self, dim, resolution, num_heads=8, qkv_bias=False, qk_scale=None,
                 attn_drop=0.0, proj_drop=0.0, sr_ratio=1, cls_token=False, acmix=False,
                 **kwargs):
        super(SpatialReductionAttention, self).__init__(**kwargs)
        if dim % num_heads:
            raise ValueError('dim=%d must be a multiple of num_heads=%d' % (dim, num_heads))
        self.height, self.width = resolution
        if sr_ratio < 1 or (acmix and (self.height % sr_ratio or self.width % sr_ratio)):
            raise ValueError('sr_ratio=%r must be a positive integer%s; got a %dx%d grid'
                             % (sr_ratio, ' dividing the token grid (ACmix repeats the '
                                'reduced keys and values back onto it)' if acmix else '',
                                self.height, self.width))
        if cls_token and sr_ratio > 1:
            raise ValueError('a class token needs sr_ratio=1 (the reduction reshapes the '
                             'tokens into the grid), got sr_ratio=%d' % sr_ratio)
        self.dim, self.num_heads, self.sr_ratio = dim, num_heads, sr_ratio
        self.head_dim = dim // num_heads
        self.scale = qk_scale or self.head_dim ** -0.5
        self.cls_token, self.acmix = cls_token, acmix
        with self.name_scope():
            self.q = token_dense(dim, dim, use_bias=qkv_bias)
            self.kv = token_dense(2 * dim, dim, use_bias=qkv_bias)
            self.attn_drop = nn.Dropout(attn_drop)
            self.proj = token_dense(dim, dim)
            self.proj_drop = nn.Dropout(proj_drop)
            if sr_ratio > 1:
                self.sr = nn.Conv2D(dim, sr_ratio, strides=sr_ratio, in_channels=dim)
                self.norm = LayerNorm(epsilon=1e-5, in_channels=dim)
            if acmix:
                self.rate1 = self.params.get('rate1', shape=(1,), init=mx.init.Constant(0.5))
                self.rate2 = self.params.get('rate2', shape=(1,), init=mx.init.Constant(0.5))
                self.fc, self.dep_conv = shift_conv_layers(num_heads, self.head_dim, dim, 3,
                                                           fc_bias=True)

    def _keys_values(self, x):
        if self.sr_ratio == 1:
            return self.kv(x)
        reduced = self.sr(tokens_to_image(x, self.height, self.width))
        return self.kv(self.norm(image_to_tokens(reduced)))

    def _lengths(self):
        """Tokens of the queries and of the (reduced) keys and values."""
        reduced = (self.height // self.sr_ratio) * (self.width // self.sr_ratio)
        return self.height * self.width + self.cls_token, reduced + self.cls_token

    def _per_head(self, tokens, length):
        """(B, length, dim) -> (B * heads, length, head_dim); static shapes (exportable)."""
        return tokens.reshape((0, length, self.num_heads, self.head_dim)) \
            .transpose((0, 2, 1, 3)).reshape((-1, length, self.head_dim))

    def _attention(self, F, q, kv):
        queries, keys = self._lengths()
        halves = kv.reshape((0, keys, 2, self.dim))
        k, v = [self._per_head(F.slice_axis(halves, axis=2, begin=i, end=i + 1)
                               .reshape((0, keys, self.dim)), keys) for i in range(2)]
        logits = ops.batch_dot(F, self._per_head(q, queries) * self.scale, k, transpose_b=True)
        weights = self.attn_drop(F.softmax(logits, axis=-1))
        out = ops.batch_dot(F, weights, v).reshape((-1, self.num_heads, queries, self.head_dim))
        return self.proj(out.transpose((0, 2, 1, 3)).reshape((0, queries, self.dim)))

    def _grid_part(self, F, tokens):
        """The image tokens as (B, C, H, W): without the class token, if there is one."""
        if self.cls_token:
            tokens = F.slice_axis(tokens, axis=1, begin=1, end=None)
        return tokens_to_image(tokens, self.height, self.width)

    def _convolution(self, F, q, kv):
        """ACmix's convolution path over q (full grid) and k, v (repeated from the reduced
        grid), returned as tokens; a class token gets no convolution output."""
        if self.cls_token:                                  # sr_ratio is 1 here
            kv_grid = self._grid_part(F, kv)
        else:
            kv_grid = tokens_to_image(kv, self.height // self.sr_ratio,
                                      self.width // self.sr_ratio)
        qkv = F.concat(self._grid_part(F, q), _repeat_grid(F, kv_grid, self.sr_ratio), dim=1)
        heads = qkv.reshape((0, 3 * self.num_heads, self.head_dim, self.height * self.width))
        out = image_to_tokens(shift_conv(F, self.fc, self.dep_conv, heads, None,
                                         grid=(self.height, self.width)))
        if self.cls_token:
            cls = F.zeros_like(F.slice_axis(out, axis=1, begin=0, end=1))
            out = F.concat(cls, out, dim=1)
        return out

    def hybrid_forward(self, F, x, rate1=None, rate2=None):
        q, kv = self.q(x), self._keys_values(x)
        out = self._attention(F, q, kv)
        if self.acmix:
            out = mix_paths(F, rate1, rate2, out, self._convolution(F, q, kv), ndim=3)
        return self.proj_drop(out)


class PVTBlock(HybridBlock):
    """Pre-norm transformer block: spatial-reduction attention, then an MLP, each with a
    residual connection and stochastic depth (upstream's ``Block``).

    Parameters
    ----------
    dim, resolution, num_heads, qkv_bias, qk_scale, sr_ratio, cls_token, acmix
        See :class:`SpatialReductionAttention`.
    mlp_ratio : float, default 4.0
        Hidden width of the MLP over ``dim``.
    drop, attn_drop : float
        Dropout after the projections and MLP layers, and on the attention weights.
    drop_path : float, default 0.0
        Stochastic depth rate.

    Input and output: (B, cls_token + H * W, dim).
    """

    def __init__(self, dim, resolution, num_heads, mlp_ratio=4.0, qkv_bias=False,
                 qk_scale=None, drop=0.0, attn_drop=0.0, drop_path=0.0, sr_ratio=1,
                 cls_token=False, acmix=False, **kwargs):
        super(PVTBlock, self).__init__(**kwargs)
        with self.name_scope():
            self.norm1 = LayerNorm(epsilon=LAYER_NORM_EPS, in_channels=dim)
            self.attn = SpatialReductionAttention(dim, resolution, num_heads, qkv_bias,
                                                  qk_scale, attn_drop, drop, sr_ratio,
                                                  cls_token, acmix)
            self.drop_path = DropPath(drop_path)
            self.norm2 = LayerNorm(epsilon=LAYER_NORM_EPS, in_channels=dim)
            self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)

    def hybrid_forward(self, F, x):
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))
