"""ATAC networks (YimianDai/open-atac): pre-activation CIFAR ResNets and ResNet-50 V1b.

Both networks swap the ReLUs of chosen stages for :class:`~gluon_convattn.nn.ChaATAC`.
``act_layers`` says how many positions use ``act_type``; with the default ``act_order='bac'``
they are counted from the end of the network, and the other positions use ``replace_act``:

* CIFAR ResNet V2 (``ResNet20V2ATAC`` upstream): the positions are the three stages (both
  activations of every block) and the activation after the final batch norm, so
  ``act_layers=1`` changes only that last activation and ``act_layers=4`` all of them;
  ``act_order='pre'`` counts from the start instead.
* ResNet-50 V1b (``ResNet50_v1bATAC`` upstream): the positions are the four stages; in a
  ChaATAC stage the two activations inside each bottleneck (``relu1``, ``relu2``) are ChaATAC
  and the one after the residual sum (``relu3``) stays a ReLU. The released ImageNet run used
  ``r=2, act_layers=2`` (stages 3 and 4).

Attribute names are the original ones (``features``/``output``, ``msAA1``/``msAA2``; GluonCV
ResNetV1b names for ResNet-50), so ``.params`` files saved by the original networks load
with ``load_parameters(..., allow_missing=False, ignore_extra=False)``.
"""
from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock
from mxnet.gluon.nn import BatchNorm

from ..data.cifar import CIFAR_MEAN, CIFAR_STD
from ..data.digits import DIGITS_MEAN, DIGITS_STD
from ..nn.atac import ChaATAC
from ..utils.checks import check_choice, check_image_batch, check_positive_int
from .arguments import build
from .configs import ModelConfig, Weights, config_table
from .model_zoo import register_model
from .network_block import NetworkBlock
from .resnet_trunk import Bottleneck, ResNetTrunk

__all__ = ['ACT_TYPES', 'ACT_ORDERS', 'make_activation', 'uses_act_type', 'PreActBlockATAC',
           'CIFARResNetV2ATAC', 'ResNetV1bATAC', 'cifar_resnet20_v2_atac',
           'cifar_resnet56_v2_atac', 'cifar_resnet110_v2_atac', 'resnet50_v1b_atac']

ACT_TYPES = ('relu', 'prelu', 'elu', 'selu', 'gelu', 'swish', 'ChaATAC')
ACT_ORDERS = ('bac', 'pre')
_PLAIN_ACTIVATIONS = {
    'relu': lambda: nn.Activation('relu'),
    'prelu': nn.PReLU,
    'elu': nn.ELU,
    'selu': nn.SELU,
    'gelu': nn.GELU,
    'swish': nn.Swish,
}


def make_activation(act_type, channels, r=2, useReLU=True, useGlobal=False):
    """The activation block named ``act_type`` for a ``channels``-channel feature map."""
    check_choice(act_type, ACT_TYPES, 'act_type')
    if act_type == 'ChaATAC':
        return ChaATAC(channels, r=r, useReLU=useReLU, useGlobal=useGlobal)
    return _PLAIN_ACTIVATIONS[act_type]()


def uses_act_type(position, act_layers, act_order, positions):
    """Whether activation position ``position`` (0-based, of ``positions``) gets ``act_type``.

    ``'bac'`` gives it to the last ``act_layers`` positions, ``'pre'`` to the first ones.
    """
    if act_order == 'bac':
        return position >= positions - act_layers
    return position < act_layers


def _check_act_layers(act_layers, positions):
    if (not isinstance(act_layers, int) or isinstance(act_layers, bool)
            or not 0 <= act_layers <= positions):
        raise ValueError('act_layers must be an int in 0..%d (how many of the %d activation '
                         'positions, counted from the end with act_order="bac", use act_type), '
                         'got %r' % (positions, positions, act_layers))


class PreActBlockATAC(HybridBlock):
    """Pre-activation residual block, BN -> act -> 3x3 conv twice (upstream ``ResBlockV2ATAC``).

    Parameters
    ----------
    channels : int
        Output channels.
    in_channels : int
        Input channels; a 1x1 projection shortcut is added when they differ from ``channels``.
    stride : int
        Stride of the first convolution (and of the projection).
    act_type : str
        Activation of the block, one of :data:`ACT_TYPES`.
    r, useReLU, useGlobal
        ChaATAC arguments (used when ``act_type='ChaATAC'``).
    norm_layer, norm_kwargs : BatchNorm class and its arguments.
    """

    def __init__(self, channels, in_channels, stride, act_type, r=2, useReLU=True,
                 useGlobal=False, norm_layer=BatchNorm, norm_kwargs=None, **kwargs):
        super(PreActBlockATAC, self).__init__(**kwargs)
        norm_kwargs = norm_kwargs or {}
        self.bn1 = norm_layer(**norm_kwargs)
        self.conv1 = nn.Conv2D(channels, 3, stride, 1, use_bias=False, in_channels=in_channels)
        self.bn2 = norm_layer(**norm_kwargs)
        self.conv2 = nn.Conv2D(channels, 3, 1, 1, use_bias=False, in_channels=channels)
        if channels != in_channels:
            self.downsample = nn.Conv2D(channels, 1, stride, use_bias=False,
                                        in_channels=in_channels)
        else:
            self.downsample = None
        self.msAA1 = make_activation(act_type, in_channels, r, useReLU, useGlobal)
        self.msAA2 = make_activation(act_type, channels, r, useReLU, useGlobal)

    def hybrid_forward(self, F, x):
        residual = x
        x = self.conv1(self.msAA1(self.bn1(x)))
        x = self.conv2(self.msAA2(self.bn2(x)))
        if self.downsample is not None:
            residual = self.downsample(residual)
        return x + residual


class CIFARResNetV2ATAC(NetworkBlock):
    """Pre-activation ResNet for 32x32 images with ATAC activations (upstream ``ResNet20V2ATAC``).

    ``features``: BN (no scale/shift) -> 3x3 conv -> stages -> BN -> act -> global pooling ->
    flatten; ``output``: the classifier.

    Parameters
    ----------
    layers : list of int
        Blocks per stage (``[3, 3, 3]`` is ResNet-20, ``[9]*3`` ResNet-56, ``[18]*3`` ResNet-110).
    channels : list of int
        Stem width followed by one width per stage (``[16, 16, 32, 64]``).
    classes : int, default 10
        Output classes.
    act_type : str, default 'ChaATAC'
        One of 'relu', 'prelu', 'elu', 'selu', 'gelu', 'swish', 'ChaATAC'.
    r : int, default 2
        ChaATAC reduction ratio; must divide the widths of the stages that use ChaATAC.
    useReLU : bool, default True
        ChaATAC's inner ReLU.
    useGlobal : bool, default False
        ChaATAC pools globally first (per-channel weights).
    act_layers : int, default 4
        How many activation positions (the stages, then the final activation) use
        ``act_type``; 0..len(layers) + 1.
    act_order : 'bac' or 'pre', default 'bac'
        Count ``act_layers`` from the end ('bac') or from the start ('pre').
    replace_act : str, default 'relu'
        Activation of the other positions.
    norm_layer, norm_kwargs : BatchNorm class and its arguments.
    """

    min_size = 8

    def __init__(self, layers, channels, classes=10, act_type='ChaATAC', r=2, useReLU=True,
                 useGlobal=False, act_layers=4, act_order='bac', replace_act='relu',
                 norm_layer=BatchNorm, norm_kwargs=None, **kwargs):
        super(CIFARResNetV2ATAC, self).__init__(**kwargs)
        if not isinstance(layers, (list, tuple)) or not layers:
            raise ValueError('layers must be a non-empty list of block counts, got %r'
                             % (layers,))
        for value in layers:
            check_positive_int(value, 'every entry of layers')
        if not isinstance(channels, (list, tuple)) or len(channels) != len(layers) + 1:
            raise ValueError('channels must list the stem width and one width per stage '
                             '(%d values for layers=%r), got %r'
                             % (len(layers) + 1, list(layers), channels))
        for value in channels:
            check_positive_int(value, 'every entry of channels')
        check_positive_int(classes, 'classes')
        check_positive_int(r, 'r')
        check_choice(act_type, ACT_TYPES, 'act_type')
        check_choice(replace_act, ACT_TYPES, 'replace_act')
        check_choice(act_order, ACT_ORDERS, 'act_order')
        positions = len(layers) + 1
        _check_act_layers(act_layers, positions)
        norm_kwargs = norm_kwargs or {}
        self._label = 'CIFARResNetV2ATAC(layers=%s)' % list(layers)

        def act_of(position):
            return (act_type if uses_act_type(position, act_layers, act_order, positions)
                    else replace_act)

        with self.name_scope():
            self.features = nn.HybridSequential(prefix='')
            self.features.add(norm_layer(scale=False, center=False, **norm_kwargs))
            self.features.add(nn.Conv2D(channels[0], 3, 1, 1, use_bias=False))
            in_channels = channels[0]
            for i, depth in enumerate(layers):
                stage = nn.HybridSequential(prefix='stage%d_' % (i + 1))
                with stage.name_scope():
                    for index in range(depth):
                        stage.add(PreActBlockATAC(
                            channels[i + 1], in_channels, 2 if i and not index else 1,
                            act_of(i), r, useReLU, useGlobal, norm_layer, norm_kwargs,
                            prefix=''))
                        in_channels = channels[i + 1]
                self.features.add(stage)
            self.features.add(norm_layer(**norm_kwargs))
            self.features.add(make_activation(act_of(len(layers)), in_channels, r, useReLU,
                                              useGlobal))
            self.features.add(nn.GlobalAvgPool2D())
            self.features.add(nn.Flatten())
            self.output = nn.Dense(classes, in_units=in_channels)

    def forward(self, x, *args):
        check_image_batch(x, self._label, self.min_size, works='32x32')
        return super(CIFARResNetV2ATAC, self).forward(x, *args)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


class ResNetV1bATAC(ResNetTrunk):
    """ResNet V1b with ChaATAC in the last ``act_layers`` stages (upstream ``ResNet50_v1bATAC``).

    Built on :class:`~gluon_convattn.model_zoo.resnet_trunk.ResNetTrunk`, whose attribute names
    are upstream's (GluonCV ``ResNetV1b``/``BottleneckV1b``).

    Parameters
    ----------
    layers : list of 4 int
        Bottlenecks per stage (``[3, 4, 6, 3]`` for ResNet-50).
    classes : int, default 1000
        Output classes.
    act_type : 'ChaATAC' or 'relu', default 'ChaATAC'
        Activation of the selected stages (``relu1`` and ``relu2`` of every bottleneck).
    r : int, default 2
        ChaATAC reduction ratio; must divide 64 (the narrowest bottleneck width).
    act_layers : int, default 2
        How many stages, counted from the last, use ``act_type``; 0..4.
    last_gamma : bool, default False
        Initialise the last BN gamma of every bottleneck with zeros.
    dilated : bool, default False
        Stages 3 and 4 keep stride 1 and use dilation 2 and 4.
    avg_down : bool, default False
        Shortcut projections average-pool before a stride-1 1x1 convolution.
    final_drop : float, default 0.0
        Dropout before the classifier.
    use_global_stats : bool, default False
        The trunk's BatchNorm layers use their running statistics in training too (the
        ChaATAC layers keep plain BatchNorm, as upstream).
    norm_layer, norm_kwargs : BatchNorm class and its arguments.
    features_only : bool, default False
        Return the four stage outputs instead of logits.
    """

    min_size = 32

    def __init__(self, layers, classes=1000, act_type='ChaATAC', r=2, act_layers=2,
                 last_gamma=False, dilated=False, avg_down=False, final_drop=0.0,
                 use_global_stats=False, norm_layer=BatchNorm, norm_kwargs=None, **kwargs):
        check_choice(act_type, ('ChaATAC', 'relu'), 'act_type')
        check_positive_int(r, 'r')
        _check_act_layers(act_layers, 4)
        if not 0.0 <= final_drop < 1.0:
            raise ValueError('final_drop must be in [0, 1), got %r' % (final_drop,))
        norm_kwargs = dict(norm_kwargs or {})
        if use_global_stats:
            norm_kwargs['use_global_stats'] = True

        def chaatac(channels):
            return ChaATAC(channels, r=r, useReLU=True, useGlobal=False)

        def make_block(stage, index, channels, mid, strides, dilation, downsample):
            act = (chaatac if act_type == 'ChaATAC'
                   and uses_act_type(stage - 1, act_layers, 'bac', 4) else None)
            extra = {'make_act1': act, 'make_act2': act} if act else {}
            return Bottleneck(channels, mid, strides, dilation, downsample,
                              norm_layer=norm_layer, norm_kwargs=norm_kwargs,
                              last_gamma=last_gamma, **extra)

        super(ResNetV1bATAC, self).__init__(layers, make_block, classes=classes,
                                            dilated=dilated, avg_down=avg_down,
                                            final_drop=final_drop, norm_layer=norm_layer,
                                            norm_kwargs=norm_kwargs, min_size=self.min_size,
                                            label='ResNetV1bATAC(layers=%s, act_layers=%d)'
                                            % (list(layers), act_layers), **kwargs)


_DIGITS = Weights(
    tag='digits', file='cifar_resnet20_v2_atac-digits.params',
    sha256='5c59de48315b70708b7da741e4cc1e400e4061c20a4f0f5dab640dbc5bbb0c1a',
    source='trained here: python scripts/train_cifar.py --model cifar_resnet20_v2_atac '
           '--dataset digits --save-dir runs/digits (10 epochs, 176.5 s on 2 CPU cores shared '
           'with other jobs, MXNet 1.9.1 CPU)',
    classes=10, mean=DIGITS_MEAN, std=DIGITS_STD, accuracy=0.9972,
    metric='top-1 accuracy on the digits validation split (360 images, '
           'gluon_convattn.data.Digits(train=False))',
    log='cifar_resnet20_v2_atac-digits.log')

CONFIGS = config_table(
    ModelConfig('cifar_resnet20_v2_atac', family='ATAC', input_size=32, mean=CIFAR_MEAN,
                std=CIFAR_STD, default_dataset='cifar10', weights=(_DIGITS,),
                faithful_to='YimianDai/open-atac `ResNet20V2ATAC` (`--blocks 3`); `.params` '
                            'loads unchanged; golden'),
    ModelConfig('cifar_resnet56_v2_atac', family='ATAC', input_size=32, mean=CIFAR_MEAN,
                std=CIFAR_STD, default_dataset='cifar10',
                faithful_to='`ResNet20V2ATAC` `--blocks 9`; count'),
    ModelConfig('cifar_resnet110_v2_atac', family='ATAC', input_size=32, mean=CIFAR_MEAN,
                std=CIFAR_STD, default_dataset='cifar10',
                faithful_to='`ResNet20V2ATAC` `--blocks 18`; count'),
    ModelConfig('resnet50_v1b_atac', family='ATAC',
                faithful_to='`ResNet50_v1bATAC` r=2, act_layers=2 (the released run); '
                            '`.params` loads unchanged; golden', seed_flops='4.4G'),
)


def _cifar_resnet(blocks, classes, kwargs):
    return build(CIFARResNetV2ATAC, dict(layers=[blocks] * 3, channels=[16, 16, 32, 64],
                                         classes=classes), kwargs)


@register_model(CONFIGS['cifar_resnet20_v2_atac'], network=CIFARResNetV2ATAC)
def cifar_resnet20_v2_atac(classes=10, **kwargs):
    """ATAC ResNet-20 V2 for CIFAR (3 blocks per stage); see :class:`CIFARResNetV2ATAC`."""
    return _cifar_resnet(3, classes, kwargs)


@register_model(CONFIGS['cifar_resnet56_v2_atac'], network=CIFARResNetV2ATAC)
def cifar_resnet56_v2_atac(classes=10, **kwargs):
    """ATAC ResNet-56 V2 for CIFAR (9 blocks per stage); see :class:`CIFARResNetV2ATAC`."""
    return _cifar_resnet(9, classes, kwargs)


@register_model(CONFIGS['cifar_resnet110_v2_atac'], network=CIFARResNetV2ATAC)
def cifar_resnet110_v2_atac(classes=10, **kwargs):
    """ATAC ResNet-110 V2 for CIFAR (18 blocks per stage); see :class:`CIFARResNetV2ATAC`."""
    return _cifar_resnet(18, classes, kwargs)


@register_model(CONFIGS['resnet50_v1b_atac'], network=ResNetV1bATAC)
def resnet50_v1b_atac(classes=1000, **kwargs):
    """ATAC-ResNet-50 V1b (ChaATAC in stages 3 and 4 by default); see :class:`ResNetV1bATAC`."""
    return build(ResNetV1bATAC, dict(layers=[3, 4, 6, 3], classes=classes), kwargs)
