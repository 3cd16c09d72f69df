"""KAConv networks: KAResNet (released code), KAResNeXt and KAMobileNetV2 (paper only).

* ``karesnet50_l/_h``, ``karesnet101_l/_h``: dreamcontinue/KAConv ``models/KAResNet.py``, a
  ResNet-50/101 whose bottleneck middle layer (1x1-BN-ReLU -> KAConv -> 1x1-BN, projection
  shortcut where the width changes, ReLU after the sum) is a 3x3 :class:`~gluon_convattn.nn.KAConv`
  that normalises and activates itself. Upstream's KAConv always builds AG-L; the ``_h`` models
  put AG-H in its place (the paper's KAResNet-H).
* ``karesnext50_32x4d_l/_h``: GluonCV's ResNeXt-50 32x4d with a grouped KAConv (32 groups per
  tap) in place of the grouped 3x3 convolution and its BatchNorm and ReLU.
* ``kamobilenetv2_{0.5,1.0}_{l,h}``: GluonCV's MobileNetV2 with a depthwise KAConv in place of
  the depthwise 3x3 convolution and its BatchNorm and ReLU6.

The paper-only networks follow the reading in ``docs/kaconv.md``: attention over all channels
of the block, per-tap attention outputs without bias; it reproduces the paper's parameter
counts (KAMobileNetV2 0.5x with attention width at least 33, see there).
"""
import math

from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock

from ..nn.kaconv import AG_TYPES, KAConv
from ..utils.checks import check_choice, check_image_batch, check_positive_int
from .arguments import build
from .configs import ModelConfig, config_table
from .features import check_out_indices, stage_feature_info
from .model_zoo import register_model
from .network_block import NetworkBlock
from .resnet_trunk import Bottleneck, ResNetTrunk

__all__ = ['KAResNet', 'KAMobileNetV2', 'KALinearBottleneck', 'karesnet50_l', 'karesnet50_h',
           'karesnet101_l', 'karesnet101_h', 'karesnext50_32x4d_l', 'karesnext50_32x4d_h',
           'kamobilenetv2_0_5_l', 'kamobilenetv2_0_5_h', 'kamobilenetv2_1_0_l',
           'kamobilenetv2_1_0_h']

MIN_SIZE = 32


class KAResNet(ResNetTrunk):
    """Bottleneck ResNet (GluonCV ``ResNetV1b`` layout) with KAConv as every middle layer.

    Parameters
    ----------
    layers : list of 4 int
        Blocks per stage ([3, 4, 6, 3] for 50 layers, [3, 4, 23, 3] for 101).
    ag : 'L' or 'H', default 'L'
        Attention generator of every KAConv.
    classes : int, default 1000
        Output classes.
    cardinality : int, default 1
        Groups of each tap's 1x1 convolution (32 for ResNeXt-50 32x4d).
    bottleneck_width : int, default 64
        Channels per group in the first stage; a stage of base width ``w`` has
        ``cardinality * floor(w * bottleneck_width / 64)`` middle channels (GluonCV's ResNeXt
        rule; 64 with cardinality 1 is ResNet).
    kernel_size : int, default 3
        KAConv neighbourhood.
    reduction, min_width : int, default 16, 32
        Attention width ``max(channels // reduction, min_width)``.
    attention_bias : bool, default True
        Biases in the attention output layers (upstream: True).
    last_gamma : bool, default False
        Initialise each block's last BatchNorm scale with zeros.
    conv_layer : class, default :class:`~gluon_convattn.nn.KAConv`
        The KAConv implementation (the benchmark passes the per-branch reference).
    **kwargs
        :class:`~gluon_convattn.model_zoo.resnet_trunk.ResNetTrunk` options (``stem``,
        ``dilated``, ``features_only``, ...).

    Inputs: (N, 3, H, W) with H, W >= 32.
    """

    def __init__(self, layers, ag='L', classes=1000, cardinality=1, bottleneck_width=64,
                 kernel_size=3, reduction=16, min_width=32, attention_bias=True,
                 last_gamma=False, conv_layer=KAConv, **kwargs):
        check_choice(ag, tuple(AG_TYPES), 'ag')
        for value, name in ((cardinality, 'cardinality'),
                            (bottleneck_width, 'bottleneck_width')):
            check_positive_int(value, name)
        def make_conv2(mid, strides, dilation):
            return conv_layer(mid, mid, kernel_size, strides, dilation, groups=cardinality,
                              ag=ag, reduction=reduction, min_width=min_width,
                              attention_bias=attention_bias)

        def make_block(stage, index, channels, mid, strides, dilation, downsample):
            width = cardinality * int(math.floor(mid * bottleneck_width / 64))
            return Bottleneck(channels, width, strides, dilation, downsample,
                              make_conv2=make_conv2, bn2=False, last_gamma=last_gamma)

        label = 'KAResNet (layers %s, AG-%s, cardinality %d)' % (list(layers), ag, cardinality)
        super(KAResNet, self).__init__(layers, make_block, classes=classes, label=label,
                                       min_size=MIN_SIZE, **kwargs)


def _relu6():
    return nn.HybridLambda(lambda F, x: F.clip(x, 0, 6), prefix='relu6_')


def _conv_bn(seq, channels, in_channels, kernel=1, strides=1, act=True):
    """Append conv (no bias) -> BatchNorm [-> ReLU6] to ``seq`` (GluonCV MobileNetV2's unit)."""
    seq.add(nn.Conv2D(channels, kernel, strides, kernel // 2, use_bias=False,
                      in_channels=in_channels),
            nn.BatchNorm(in_channels=channels))
    if act:
        seq.add(_relu6())


class KALinearBottleneck(HybridBlock):
    """MobileNetV2's inverted residual with a depthwise KAConv as its middle layer:
    [1x1 expand -> BN -> ReLU6] -> depthwise KAConv -> 1x1 project -> BN (+ input).

    Parameters
    ----------
    in_channels, channels : int
        Input and output channels.
    t : int
        Expansion ratio (no expansion layer when 1).
    strides : int
        Stride of the KAConv.
    ag : 'L' or 'H'
        Attention generator.
    min_width : int
        Smallest attention width.
    attention_bias : bool
        Biases in the attention output layers.
    """

    def __init__(self, in_channels, channels, t, strides, ag, min_width=32,
                 attention_bias=False, **kwargs):
        super(KALinearBottleneck, self).__init__(**kwargs)
        self.use_shortcut = strides == 1 and in_channels == channels
        mid = in_channels * t
        with self.name_scope():
            self.out = nn.HybridSequential()
            if t != 1:
                _conv_bn(self.out, mid, in_channels)
            self.out.add(KAConv(mid, mid, 3, strides, groups=mid, ag=ag, min_width=min_width,
                                attention_bias=attention_bias))
            _conv_bn(self.out, channels, mid, act=False)

    def hybrid_forward(self, F, x):
        out = self.out(x)
        return out + x if self.use_shortcut else out


# (expansion t, base output channels, repeats, stride of the first) as in MobileNetV2 Table 2
_MOBILENETV2_STAGES = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def _mobilenetv2_blocks(width):
    """(reduction after the block, (expansion, stride), output channels) of every inverted
    residual, in order; the stem convolution reduces by 2."""
    blocks, reduction = [], 2
    for t, c, repeats, strides in _MOBILENETV2_STAGES:
        for i in range(repeats):
            stride = strides if i == 0 else 1
            reduction *= stride
            blocks.append((reduction, (t, stride), width(c)))
    return blocks


class KAMobileNetV2(NetworkBlock):
    """MobileNetV2 (GluonCV layout and width rule) with depthwise KAConvs.

    Parameters
    ----------
    multiplier : float
        Width multiplier; channels are ``int(c * multiplier)``, the last 1x1 layer has
        ``max(1280, int(1280 * multiplier))`` channels (GluonCV's rule).
    ag : 'L' or 'H', default 'L'
        Attention generator of every KAConv.
    classes : int, default 1000
        Output classes.
    min_width : int, default 32
        Smallest attention width.
    attention_bias : bool, default False
        Biases in the attention output layers.
    features_only : bool, default False
        Return stage outputs as a list of NCHW arrays instead of logits (no last 1x1 layer,
        pooling or classifier); see :attr:`feature_info`.
    out_indices : tuple of int, default (1, 2, 3, 4)
        Indices of the five reductions 2, 4, 8, 16, 32; each output is the last inverted
        residual at that reduction (16, 24, 32, 96 and 320 base channels, as timm's
        MobileNetV2 features). The default picks reductions 4-32. Blocks after the last one
        are not built.

    Inputs: (N, 3, H, W) with H, W >= 32.
    """

    def __init__(self, multiplier, ag='L', classes=1000, min_width=32, attention_bias=False,
                 features_only=False, out_indices=(1, 2, 3, 4), **kwargs):
        super(KAMobileNetV2, self).__init__(**kwargs)
        check_choice(ag, tuple(AG_TYPES), 'ag')
        check_positive_int(classes, 'classes')
        if not isinstance(multiplier, (int, float)) or multiplier * 16 < 1:
            raise ValueError('multiplier must be a number >= 1/16 (every layer needs a '
                             'channel), got %r' % (multiplier,))
        self.min_size = MIN_SIZE
        self._label = 'KAMobileNetV2 %gx (AG-%s)' % (multiplier, ag)

        def width(c):
            return int(c * multiplier)

        last = max(1280, width(1280))
        blocks = _mobilenetv2_blocks(width)
        # per reduction: the position in ``features`` of its last block, and that block's width
        taps = {}
        for position, (reduction, _, channels) in enumerate(blocks, start=3):
            taps[reduction] = (position, channels)
        reductions = sorted(taps)
        self.features_only = features_only
        self.out_indices = check_out_indices(out_indices, len(reductions))
        self.feature_info = stage_feature_info(
            [taps[r][1] for r in reductions], reductions,
            ['features.%d' % taps[r][0] for r in reductions], self.out_indices)
        self._taps = [taps[reductions[i]][0] for i in self.out_indices]
        with self.name_scope():
            self.features = nn.HybridSequential(prefix='features_')
            with self.features.name_scope():
                in_channels = width(32)
                _conv_bn(self.features, in_channels, 3, kernel=3, strides=2)
                for position, (_, t_stride, channels) in enumerate(blocks, start=3):
                    if features_only and position > self._taps[-1]:
                        break
                    self.features.add(KALinearBottleneck(in_channels, channels, *t_stride, ag,
                                                         min_width, attention_bias))
                    in_channels = channels
                if not features_only:
                    _conv_bn(self.features, last, in_channels)
                    self.features.add(nn.GlobalAvgPool2D())
            if not features_only:
                self.output = nn.HybridSequential(prefix='output_')
                with self.output.name_scope():
                    self.output.add(nn.Conv2D(classes, 1, use_bias=False, in_channels=last),
                                    nn.Flatten())

    def forward(self, x, *args):
        check_image_batch(x, self._label, self.min_size)
        return super(KAMobileNetV2, self).forward(x, *args)

    def hybrid_forward(self, F, x):
        if not self.features_only:
            return self.output(self.features(x))
        outputs = []
        for position, layer in enumerate(self.features):
            x = layer(x)
            if position in self._taps:
                outputs.append(x)
        return outputs


_KARESNET = 'dreamcontinue/KAConv `models/KAResNet.py` `ResNet(depth=%d)`%s; %s'
_PAPER = 'paper %s (no released code; reading in `docs/kaconv.md`)'
CONFIGS = config_table(
    ModelConfig('karesnet50_l', family='KAConv', faithful_to=_KARESNET % (50, ' (AG-L)', 'golden'),
                seed_flops='4.15G'),
    ModelConfig('karesnet50_h', family='KAConv',
                faithful_to=_KARESNET % (50, ' with AG-H in every KAConv', 'golden'),
                seed_flops='4.16G'),
    ModelConfig('karesnet101_l', family='KAConv', faithful_to=_KARESNET % (101, '', 'count'),
                seed_flops='7.90G'),
    ModelConfig('karesnet101_h', family='KAConv',
                faithful_to=_KARESNET % (101, ' with AG-H', 'count'), seed_flops='7.92G'),
    ModelConfig('karesnext50_32x4d_l', family='KAConv', faithful_to=_PAPER % '31.27M',
                seed_flops='4.34G'),
    ModelConfig('karesnext50_32x4d_h', family='KAConv', faithful_to=_PAPER % '53.03M',
                seed_flops='4.36G'),
    ModelConfig('kamobilenetv2_0.5_l', family='KAConv',
                faithful_to=_PAPER % '4.15M (-0.19 %)',
                seed_flops='180.52M', flops_note='kamobilenetv2'),
    ModelConfig('kamobilenetv2_0.5_h', family='KAConv',
                faithful_to=_PAPER % '11.69M (-0.11 %)',
                seed_flops='189.00M', flops_note='kamobilenetv2'),
    ModelConfig('kamobilenetv2_1.0_l', family='KAConv', faithful_to=_PAPER % '9.31M',
                seed_flops='378.71M', flops_note='kamobilenetv2'),
    ModelConfig('kamobilenetv2_1.0_h', family='KAConv', faithful_to=_PAPER % '29.52M',
                seed_flops='401.46M', flops_note='kamobilenetv2'),
)


def _karesnet(layers, ag, classes, kwargs):
    return build(KAResNet, dict(layers=layers, ag=ag, classes=classes), kwargs)


@register_model(CONFIGS['karesnet50_l'], network=KAResNet)
def karesnet50_l(classes=1000, **kwargs):
    """KAResNet50-L (27.8M parameters, top-1 error 22.27% in the paper)."""
    return _karesnet([3, 4, 6, 3], 'L', classes, kwargs)


@register_model(CONFIGS['karesnet50_h'], network=KAResNet)
def karesnet50_h(classes=1000, **kwargs):
    """KAResNet50-H (35.6M parameters, top-1 error 21.92% in the paper)."""
    return _karesnet([3, 4, 6, 3], 'H', classes, kwargs)


@register_model(CONFIGS['karesnet101_l'], network=KAResNet)
def karesnet101_l(classes=1000, **kwargs):
    """KAResNet101-L (49.4M parameters, top-1 error 21.80% in the paper)."""
    return _karesnet([3, 4, 23, 3], 'L', classes, kwargs)


@register_model(CONFIGS['karesnet101_h'], network=KAResNet)
def karesnet101_h(classes=1000, **kwargs):
    """KAResNet101-H (66.1M parameters, top-1 error 21.28% in the paper)."""
    return _karesnet([3, 4, 23, 3], 'H', classes, kwargs)


def _karesnext(ag, classes, kwargs):
    return build(KAResNet, dict(layers=[3, 4, 6, 3], ag=ag, classes=classes, cardinality=32,
                                bottleneck_width=4, attention_bias=False), kwargs)


@register_model(CONFIGS['karesnext50_32x4d_l'], network=KAResNet)
def karesnext50_32x4d_l(classes=1000, **kwargs):
    """KAResNeXt50 32x4d with AG-L (31.27M parameters, top-1 error 21.97% in the paper)."""
    return _karesnext('L', classes, kwargs)


@register_model(CONFIGS['karesnext50_32x4d_h'], network=KAResNet)
def karesnext50_32x4d_h(classes=1000, **kwargs):
    """KAResNeXt50 32x4d with AG-H (53.03M parameters, top-1 error 21.23% in the paper)."""
    return _karesnext('H', classes, kwargs)


# 0.5x: the paper's counts need attention width >= 33 (docs/kaconv.md, "KAMobileNetV2 0.5x")
_MOBILENET_MIN_WIDTH = {0.5: 33, 1.0: 32}


def _kamobilenetv2(multiplier, ag, classes, kwargs):
    return build(KAMobileNetV2, dict(multiplier=multiplier, ag=ag, classes=classes,
                                     min_width=_MOBILENET_MIN_WIDTH[multiplier]), kwargs)


@register_model(CONFIGS['kamobilenetv2_0.5_l'], network=KAMobileNetV2)
def kamobilenetv2_0_5_l(classes=1000, **kwargs):
    """KAMobileNetV2 0.5x with AG-L (4.15M parameters, top-1 error 33.72% in the paper)."""
    return _kamobilenetv2(0.5, 'L', classes, kwargs)


@register_model(CONFIGS['kamobilenetv2_0.5_h'], network=KAMobileNetV2)
def kamobilenetv2_0_5_h(classes=1000, **kwargs):
    """KAMobileNetV2 0.5x with AG-H (11.69M parameters, top-1 error 33.09% in the paper)."""
    return _kamobilenetv2(0.5, 'H', classes, kwargs)


@register_model(CONFIGS['kamobilenetv2_1.0_l'], network=KAMobileNetV2)
def kamobilenetv2_1_0_l(classes=1000, **kwargs):
    """KAMobileNetV2 1.0x with AG-L (9.31M parameters, top-1 error 26.83% in the paper)."""
    return _kamobilenetv2(1.0, 'L', classes, kwargs)


@register_model(CONFIGS['kamobilenetv2_1.0_h'], network=KAMobileNetV2)
def kamobilenetv2_1_0_h(classes=1000, **kwargs):
    """KAMobileNetV2 1.0x with AG-H (29.52M parameters, top-1 error 27.01% in the paper)."""
    return _kamobilenetv2(1.0, 'H', classes, kwargs)
