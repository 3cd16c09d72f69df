"""Swin Transformer blocks with ACmix's convolution path in every window attention.

Port of LeapLabTHU/ACmix ``Swin-Transformer/models/swin_transformer_acmix.py`` (itself built on
microsoft/Swin-Transformer): the same layers under the same attribute names, so the released
checkpoints load by name. Tokens are (B, L, C) with ``L = H * W`` row-major; every shape is
fixed at construction by the block's input resolution, so the blocks hybridize with static
reshapes.

Upstream keeps two buffers in its checkpoints, ``relative_position_index`` and ``attn_mask``.
They are functions of the window size and resolution, not weights: here they are computed
inside the graph (:func:`relative_position_index` and :func:`shifted_window_mask`). The generic
transformer pieces (MLP, stochastic depth, patch embedding) are in :mod:`.transformer`.
"""
import mxnet as mx
from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock

from .. import ops
from ..utils.checks import check_positive_int
from .acmix import mix_paths, shift_conv, shift_conv_layers
from .transformer import DropPath, LayerNorm, Mlp, token_dense

__all__ = ['PatchMerging', 'WindowAttentionACmix', 'SwinBlockACmix', 'SwinStage',
           'window_partition', 'window_reverse', 'cyclic_shift', 'relative_position_index',
           'shifted_window_mask', 'MASK_VALUE']

MASK_VALUE = -100.0   # logit added between tokens of different regions in shifted windows


# MXNet 1.9 runs transposes of up to 4 axes through oneDNN and longer ones through a generic
# index loop about 5x slower on the CPU: every transpose below has at most 4 axes, its
# neighbouring axes merged.

def window_partition(x, height, width, window):
    """(B, H, W, C) -> (B * nW, window * window, C), windows in row-major order."""
    parts = x.reshape((0, -4, height // window, window, -4, width // window, window, -2))
    parts = parts.reshape((-3, 0, 0, -3))                       # (B * nh, w, nw, w * C)
    windows = parts.transpose((0, 2, 1, 3))                     # (B * nh, nw, w, w * C)
    return windows.reshape((-3, 0, -4, window, -1)).reshape((0, -3, 0))


def window_reverse(windows, height, width, window):
    """(B * nW, window * window, C) -> (B, H, W, C); inverse of :func:`window_partition`."""
    parts = windows.reshape((-4, -1, width // window, -4, window, window, -2))
    parts = parts.reshape((0, 0, 0, -3))                        # (B * nh, nw, w, w * C)
    rows = parts.transpose((0, 2, 1, 3)).reshape((-3, -3))      # (B * H, W * C)
    return rows.reshape((-4, -1, height, -4, width, -1))


def cyclic_shift(F, x, shift, axes=(1, 2)):
    """``torch.roll(x, (shift, shift), axes)``: element ``i`` moves to ``i + shift``."""
    if shift == 0:
        return x
    for axis in axes:
        x = F.concat(F.slice_axis(x, axis=axis, begin=-shift, end=None),
                     F.slice_axis(x, axis=axis, begin=0, end=-shift), dim=axis)
    return x


def _grid_coordinates(F, window):
    """Row and column of each of the window's tokens, as float vectors of length window**2."""
    token = F.arange(window * window)
    row = F.floor(token / window)
    return row, token - row * window


def relative_position_index(F, window):
    """(window**2, window**2) index into the (2*window-1)**2 table of relative offsets."""
    row, col = _grid_coordinates(F, window)
    d_row = F.broadcast_sub(row.reshape((-1, 1)), row.reshape((1, -1))) + (window - 1)
    d_col = F.broadcast_sub(col.reshape((-1, 1)), col.reshape((1, -1))) + (window - 1)
    return d_row * (2 * window - 1) + d_col


def _region(F, like, axis, size, window, shift):
    """Region label (0, 1 or 2) of each of the ``size`` indices along ``like``'s ``axis``,
    in ``like``'s dtype: the last ``window`` indices are split at ``size - shift``."""
    index = F.contrib.arange_like(like, axis=axis)
    return (index >= size - window) + (index >= size - shift)


def shifted_window_mask(F, image, height, width, window, shift):
    """(nW, window**2, window**2) additive mask for a (B, height, width, C) ``image`` (only its
    dtype and shape are used): 0 within a region, :data:`MASK_VALUE` across regions.

    After the cyclic shift the last windows of each row and column hold tokens from up to
    three regions that are not neighbours in the image; attention between them is masked.
    """
    rows = _region(F, image, 1, height, window, shift).reshape((1, -1, 1, 1))
    cols = _region(F, image, 2, width, window, shift).reshape((1, 1, -1, 1))
    labels = F.broadcast_add(rows * 3, cols)                    # (1, H, W, 1)
    labels = window_partition(labels, height, width, window).reshape((0, -1))   # (nW, N)
    differ = F.broadcast_not_equal(labels.expand_dims(2), labels.expand_dims(1))
    return differ * MASK_VALUE


class WindowAttentionACmix(HybridBlock):
    """Multi-head self-attention within non-overlapping windows, with a learned bias per
    relative position, mixed with ACmix's convolution path over the same ``qkv`` projection.

    Parameters
    ----------
    dim : int
        Channels; a multiple of ``num_heads``.
    resolution : (int, int)
        Height and width of the token grid, multiples of ``window``.
    window : int
        Window side.
    num_heads : int
        Attention heads.
    shift : int, default 0
        Cyclic shift the caller applied (> 0: mask attention across the shifted regions).
    qkv_bias : bool, default True
    qk_scale : float or None
        Logit scale; ``head_dim ** -0.5`` when None.
    attn_drop, proj_drop : float
        Dropout on the attention weights and on the output.

    Input: (B, H, W, dim). Output: (B, H, W, dim).
    """

    def __init__(self, dim, resolution, window, num_heads, shift=0, qkv_bias=True,
                 qk_scale=None, attn_drop=0.0, proj_drop=0.0, **kwargs):
        super(WindowAttentionACmix, self).__init__(**kwargs)
        if dim % num_heads:
            raise ValueError('dim=%d must be a multiple of num_heads=%d' % (dim, num_heads))
        self.dim, self.window, self.num_heads, self.shift = dim, window, num_heads, shift
        self.height, self.width = resolution
        self.head_dim = dim // num_heads
        self.scale = qk_scale or self.head_dim ** -0.5
        with self.name_scope():
            self.relative_position_bias_table = self.params.get(
                'relative_position_bias_table', shape=((2 * window - 1) ** 2, num_heads),
                init=mx.init.Normal(0.02))
            self.rate1 = self.params.get('rate1', shape=(1,), init=mx.init.Constant(0.5))
            self.rate2 = self.params.get('rate2', shape=(1,), init=mx.init.Constant(0.5))
            self.qkv = token_dense(3 * dim, dim, use_bias=qkv_bias)
            self.attn_drop = nn.Dropout(attn_drop)
            self.proj = token_dense(dim, dim)
            self.proj_drop = nn.Dropout(proj_drop)
            self.fc, self.dep_conv = shift_conv_layers(num_heads, self.head_dim, dim, 3,
                                                       fc_bias=True)

    def _position_bias(self, F, table):
        tokens = self.window * self.window
        index = relative_position_index(F, self.window).reshape((-1,))
        bias = F.take(table, index).reshape((tokens, tokens, self.num_heads))
        return bias.transpose((2, 0, 1)).expand_dims(1)             # (nH, 1, N, N)

    def _heads(self, qkv):
        """q, k and v of every window and head from (B, H, W, 3C): each (nH * B_, N, hd),
        head-major (B_ = B * nW windows in row-major order, N tokens)."""
        windows = window_partition(qkv, self.height, self.width, self.window)   # (B_, N, 3C)
        per_head = windows.reshape((0, 0, 3 * self.num_heads, -1)).transpose((2, 0, 1, 3))
        return per_head.reshape((3, -1, 0, 0))                  # (3, nH * B_, N, hd)

    def _attention(self, F, qkv, table):
        tokens, heads = self.window * self.window, self.num_heads
        q, k, v = F.split(self._heads(qkv), num_outputs=3, axis=0, squeeze_axis=True)
        logits = ops.batch_dot(F, q * self.scale, k, transpose_b=True)
        logits = F.broadcast_add(logits.reshape((heads, -1, tokens, tokens)),
                                 self._position_bias(F, table))
        if self.shift > 0:
            # a constant: without BlockGrad its broadcast gradient would still be reduced
            mask = F.BlockGrad(shifted_window_mask(F, qkv, self.height, self.width,
                                                   self.window, self.shift))
            num_windows = (self.height // self.window) * (self.width // self.window)
            logits = F.broadcast_add(logits.reshape((heads, -1, num_windows, tokens, tokens)),
                                     mask.expand_dims(0).expand_dims(0))
        # softmax on the 4-d view: MXNet's CPU softmax of the 5-d masked logits is ~15x slower
        logits = logits.reshape((heads, -1, tokens, tokens))
        weights = self.attn_drop(F.softmax(logits, axis=-1)).reshape((-1, tokens, tokens))
        out = ops.batch_dot(F, weights, v).reshape((heads, -1, tokens, self.head_dim))
        out = self.proj(out.transpose((1, 2, 0, 3)).reshape((0, 0, -1)))   # (B_, N, C)
        return window_reverse(out, self.height, self.width, self.window)

    def _convolution(self, F, qkv):
        tokens = qkv.reshape((0, -3, 0)).transpose((0, 2, 1))        # (B, 3C, H*W)
        heads = tokens.reshape((0, -4, 3 * self.num_heads, -1, -2))  # (B, 3nH, hd, H*W)
        out = shift_conv(F, self.fc, self.dep_conv, heads, qkv, like_begin=1)
        return out.transpose((0, 2, 3, 1))

    def hybrid_forward(self, F, x, relative_position_bias_table, rate1, rate2):
        qkv = self.qkv(x)                                            # (B, H, W, 3C)
        out = mix_paths(F, rate1, rate2, self._attention(F, qkv, relative_position_bias_table),
                        self._convolution(F, qkv))
        return self.proj_drop(out)


class SwinBlockACmix(HybridBlock):
    """Pre-norm transformer block: (shifted) window attention with ACmix, then an MLP, each
    with a residual connection and stochastic depth.

    Parameters
    ----------
    dim : int
        Channels.
    resolution : (int, int)
        Token grid (height, width).
    num_heads : int
        Attention heads.
    window : int, default 7
        Window side; when the grid is not larger than it, the window is the whole grid and
        nothing is shifted (as upstream).
    shift : int, default 0
        Cyclic shift of the windows (``window // 2`` in every second block).
    mlp_ratio : float, default 4.0
    qkv_bias, qk_scale, drop, attn_drop : see :class:`WindowAttentionACmix`.
    drop_path : float, default 0.0
        Stochastic depth rate.

    Input and output: (B, H * W, dim).
    """

    def __init__(self, dim, resolution, num_heads, window=7, shift=0, mlp_ratio=4.0,
                 qkv_bias=True, qk_scale=None, drop=0.0, attn_drop=0.0, drop_path=0.0,
                 **kwargs):
        super(SwinBlockACmix, self).__init__(**kwargs)
        self.height, self.width = resolution
        if min(resolution) <= window:
            window, shift = min(resolution), 0
        if not 0 <= shift < window:
            raise ValueError('shift must be in [0, window=%d), got %d' % (window, shift))
        if self.height % window or self.width % window:
            raise ValueError('the token grid %dx%d must be a multiple of the window %d: choose '
                             'img_size and window_size so that every stage grid (img_size / '
                             'patch_size / 2**stage) is a multiple of window_size'
                             % (self.height, self.width, window))
        self.dim, self.window, self.shift = dim, window, shift
        with self.name_scope():
            self.norm1 = LayerNorm(in_channels=dim)
            self.attn = WindowAttentionACmix(dim, resolution, window, num_heads, shift,
                                             qkv_bias, qk_scale, attn_drop, drop)
            self.drop_path = DropPath(drop_path)
            self.norm2 = LayerNorm(in_channels=dim)
            self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)

    def hybrid_forward(self, F, x):
        image = self.norm1(x).reshape((0, self.height, self.width, self.dim))
        if self.shift:
            image = cyclic_shift(F, image, -self.shift)
        image = self.attn(image)
        if self.shift:
            image = cyclic_shift(F, image, self.shift)
        x = x + self.drop_path(image.reshape((0, -3, 0)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchMerging(HybridBlock):
    """Concatenate each 2x2 neighbourhood (order: (0,0), (1,0), (0,1), (1,1) as (row, col)),
    LayerNorm, and project 4 * dim -> 2 * dim.

    Input (B, H * W, dim) with even H, W; output (B, H/2 * W/2, 2 * dim).
    """

    def __init__(self, resolution, dim, **kwargs):
        super(PatchMerging, self).__init__(**kwargs)
        self.height, self.width = resolution
        if self.height % 2 or self.width % 2:
            raise ValueError('patch merging needs an even token grid, got %dx%d'
                             % (self.height, self.width))
        self.dim = dim
        with self.name_scope():
            self.reduction = token_dense(2 * dim, 4 * dim, use_bias=False)
            self.norm = LayerNorm(in_channels=4 * dim)

    def hybrid_forward(self, F, x):
        h, w = self.height // 2, self.width // 2
        grid = x.reshape((-1, 2, w * 2, self.dim))                 # (B * h, row, w * col, C)
        merged = grid.transpose((0, 2, 1, 3)).reshape((-1, h * w, 4 * self.dim))
        return self.reduction(self.norm(merged))


class SwinStage(HybridBlock):
    """``depth`` Swin-ACmix blocks (shift ``window // 2`` in every second one), then an optional
    patch merging (``downsample``).

    Parameters
    ----------
    dim : int
    resolution : (int, int)
    depth : int
    num_heads : int
    window : int
    drop_path : list of float
        One stochastic depth rate per block.
    downsample : bool
        Whether a :class:`PatchMerging` ends the stage.
    **block_kwargs
        mlp_ratio, qkv_bias, qk_scale, drop, attn_drop for every block.
    """

    def __init__(self, dim, resolution, depth, num_heads, window, drop_path, downsample,
                 block_kwargs=None, **kwargs):
        super(SwinStage, self).__init__(**kwargs)
        check_positive_int(depth, 'depth')
        if len(drop_path) != depth:
            raise ValueError('drop_path needs one rate per block (%d), got %r'
                             % (depth, drop_path))
        with self.name_scope():
            self.blocks = nn.HybridSequential(prefix='blocks_')
            with self.blocks.name_scope():
                for i in range(depth):
                    self.blocks.add(SwinBlockACmix(
                        dim, resolution, num_heads, window, 0 if i % 2 == 0 else window // 2,
                        drop_path=drop_path[i], **(block_kwargs or {})))
            self.downsample = PatchMerging(resolution, dim) if downsample else None

    def hybrid_forward(self, F, x):
        x = self.blocks(x)
        return x if self.downsample is None else self.downsample(x)
