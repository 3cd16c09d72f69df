"""Generic vision-transformer pieces shared by ACmix-Swin and PVT.

Tokens are (B, L, C) with ``L = H * W`` in row-major order (timm's and upstream's layout);
images are (B, C, H, W). Attribute names follow timm / upstream (``fc1``, ``fc2``, ``proj``,
``norm``) so checkpoints map by name.
"""
import mxnet as mx
from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock

from .. import ops

__all__ = ['LayerNorm', 'token_dense', 'stochastic_depth_rates', 'image_to_tokens', 'tokens_to_image',
           'DropPath', 'Mlp', 'PatchEmbed']


class LayerNorm(nn.LayerNorm):
    """Gluon's ``nn.LayerNorm`` (the same arguments, parameters and names), normalising the last
    axis through :func:`gluon_convattn.ops.layer_norm`: on the CPU the library's kernel, whose
    backward is several times faster than MXNet 1.9's."""

    def hybrid_forward(self, F, data, gamma, beta):
        if self._axis != -1:
            return super(LayerNorm, self).hybrid_forward(F, data, gamma, beta)
        return ops.layer_norm(F, data, gamma, beta, eps=self._epsilon)


def token_dense(units, in_units, use_bias=True):
    """A Dense layer on the last axis of (B, L, C) tokens, timm's ``trunc_normal_(std=.02)``
    initialisation approximated by a normal of standard deviation 0.02."""
    return nn.Dense(units, in_units=in_units, use_bias=use_bias, flatten=False,
                    weight_initializer=mx.init.Normal(0.02))


def stochastic_depth_rates(rate, blocks):
    """``torch.linspace(0, rate, blocks)``: the drop-path rate of each block, rising linearly."""
    return [rate * i / max(blocks - 1, 1) for i in range(blocks)]


def image_to_tokens(x):
    """(B, C, H, W) -> (B, H * W, C)."""
    return x.reshape((0, 0, -1)).transpose((0, 2, 1))


def tokens_to_image(x, height, width):
    """(B, H * W, C) -> (B, C, H, W).

    Reshaped to (B, H, W, C) before the transpose: the other order (transpose (0, 2, 1), then
    reshape) makes MXNet 1.9's oneDNN backward of a following convolution fail in hybridized
    graphs ("could not create a primitive descriptor for a reorder primitive").
    """
    return x.reshape((0, height, width, -1)).transpose((0, 3, 1, 2))


class DropPath(HybridBlock):
    """Stochastic depth: drops the whole residual branch of a sample with probability ``rate``
    while training (scaling the kept ones by ``1 / (1 - rate)``); identity at inference.

    Input: (B, tokens, channels).
    """

    def __init__(self, rate, **kwargs):
        super(DropPath, self).__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError('drop path rate must be in [0, 1), got %r' % rate)
        self.rate = rate

    def hybrid_forward(self, F, x):
        if self.rate == 0.0:
            return x
        # one keep-or-drop draw per sample, shared by its tokens and channels (MXNet's
        # variational dropout); its backward is the same mask, without broadcast_mul's
        # reduction of a gradient for the mask
        return F.Dropout(x, p=self.rate, axes=(1, 2))


class Mlp(HybridBlock):
    """fc1 -> GELU -> dropout -> fc2 -> dropout, on the last axis."""

    def __init__(self, in_features, hidden_features, drop=0.0, **kwargs):
        super(Mlp, self).__init__(**kwargs)
        with self.name_scope():
            self.fc1 = token_dense(hidden_features, in_features)
            self.act = nn.GELU()
            self.fc2 = token_dense(in_features, hidden_features)
            self.drop = nn.Dropout(drop)

    def hybrid_forward(self, F, x):
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class PatchEmbed(HybridBlock):
    """Non-overlapping ``patch x patch`` patches -> ``dim`` channels, then LayerNorm
    (epsilon 1e-5, PyTorch's default, as both Swin and PVT v1 build it).

    Input (B, in_channels, H, W); output (B, (H / patch) * (W / patch), dim).
    """

    def __init__(self, patch=4, in_channels=3, dim=96, **kwargs):
        super(PatchEmbed, self).__init__(**kwargs)
        with self.name_scope():
            self.proj = nn.Conv2D(dim, patch, strides=patch, in_channels=in_channels)
            self.norm = LayerNorm(in_channels=dim)

    def hybrid_forward(self, F, x):
        return self.norm(image_to_tokens(self.proj(x)))
