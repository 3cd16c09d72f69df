"""The ResNet-50-style trunk shared by ATAC, ACmix-ResNet, KAResNet and AT-kernel.

Attribute names follow GluonCV's ``ResNetV1b`` (``conv1 bn1 relu maxpool layer1..layer4 avgpool
flat fc``; blocks ``conv1 bn1 relu1 conv2 bn2 relu2 conv3 bn3 relu3 downsample``), which are
also torchvision's names for the weighted layers, so converted PyTorch checkpoints need few
renames. Families differ only in what sits in a block's middle (``conv2``) and its activations.
"""
from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock
from mxnet.gluon.nn import BatchNorm

from ..utils.checks import check_image_batch, check_positive_int
from .features import check_out_indices, stage_feature_info
from .network_block import NetworkBlock

__all__ = ['Bottleneck', 'ResNetTrunk', 'relu']


def relu(channels):
    """Default activation factory: a plain ReLU (``channels`` is unused)."""
    return nn.Activation('relu')


def _stage_reductions(stem, dilated):
    """Input-to-output size ratio of the four stages: the ImageNet stem reduces by 4, the small
    one not at all; stages 2-4 halve unless dilated (stages 3 and 4)."""
    first = 4 if stem == 'imagenet' else 1
    return [first * 2 ** min(i, 1 if dilated else i) for i in range(4)]


class Bottleneck(HybridBlock):
    """1x1 -> middle -> 1x1 bottleneck with the stride on the middle layer (ResNet V1b/V1.5).

    Parameters
    ----------
    channels : int
        Output channels (``mid_channels * 4`` in ResNet-50).
    mid_channels : int
        Channels of the middle layer.
    strides : int
        Stride of the middle layer.
    dilation : int
        Dilation (and padding) of the default 3x3 middle convolution.
    downsample : HybridBlock or None
        Shortcut projection; identity when None.
    make_conv2 : callable or None
        ``make_conv2(mid_channels, strides, dilation)`` returns the middle layer; a 3x3
        convolution when None.
    bn2 : bool
        Whether a BatchNorm follows the middle layer (False where it normalises itself).
    make_act1, make_act2, make_act3 : callable
        ``make_act(channels)`` returns the activation after bn1, bn2 and the residual sum.
    norm_layer, norm_kwargs : BatchNorm class and its arguments.
    last_gamma : bool
        Initialise bn3's gamma with zeros.
    """
    expansion = 4

    def __init__(self, channels, mid_channels, strides=1, dilation=1, downsample=None,
                 make_conv2=None, bn2=True, make_act1=relu, make_act2=relu, make_act3=relu,
                 norm_layer=BatchNorm, norm_kwargs=None, last_gamma=False, **kwargs):
        super(Bottleneck, self).__init__(**kwargs)
        norm_kwargs = norm_kwargs or {}
        self.conv1 = nn.Conv2D(mid_channels, kernel_size=1, use_bias=False)
        self.bn1 = norm_layer(in_channels=mid_channels, **norm_kwargs)
        self.relu1 = make_act1(mid_channels)
        if make_conv2 is None:
            self.conv2 = nn.Conv2D(mid_channels, kernel_size=3, strides=strides,
                                   padding=dilation, dilation=dilation, use_bias=False)
        else:
            self.conv2 = make_conv2(mid_channels, strides, dilation)
        self.bn2 = norm_layer(in_channels=mid_channels, **norm_kwargs) if bn2 else None
        self.relu2 = make_act2(mid_channels) if bn2 else None
        self.conv3 = nn.Conv2D(channels, kernel_size=1, use_bias=False)
        self.bn3 = norm_layer(in_channels=channels,
                              **dict(norm_kwargs, **({'gamma_initializer': 'zeros'}
                                                     if last_gamma else {})))
        self.relu3 = make_act3(channels)
        self.downsample = downsample

    def hybrid_forward(self, F, x):
        residual = x
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.conv2(out)
        if self.bn2 is not None:
            out = self.relu2(self.bn2(out))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            residual = self.downsample(x)
        return self.relu3(out + residual)


class ResNetTrunk(NetworkBlock):
    """Stem, four bottleneck stages and a classifier (GluonCV ``ResNetV1b`` layout).

    Parameters
    ----------
    layers : list of 4 int
        Blocks per stage.
    make_block : callable
        ``make_block(stage, index, channels, mid_channels, strides, dilation, downsample)``
        returns one block (``stage`` 1..4, ``index`` 0.. within the stage); typically a
        :class:`Bottleneck` with family-specific middle layer and activations.
    classes : int
        Output classes.
    stem : 'imagenet' or 'small'
        7x7/2 convolution and 3x3/2 max pooling, or a 3x3/1 convolution without pooling (for
        32 and 64 px inputs).
    dilated : bool
        Stages 3 and 4 keep stride 1 with dilation 2 and 4 (GluonCV's dilated ResNet).
    avg_down : bool
        Shortcut projections average-pool before a stride-1 1x1 convolution.
    final_drop : float
        Dropout before the classifier.
    features_only : bool
        Return stage outputs instead of logits (a detection backbone; no classifier): a list
        of NCHW arrays, described by :attr:`feature_info`.
    out_indices : tuple of int, default (0, 1, 2, 3)
        The stages (``layer1`` .. ``layer4``, reductions 4, 8, 16, 32 with the ImageNet stem)
        whose outputs ``features_only`` returns; stages after the last one are not built.
    norm_layer, norm_kwargs : BatchNorm class and its arguments.
    label : str, optional
        The network's name in input errors (the class name by default).
    min_size : int, default 32
        The smallest input height/width; ``forward`` rejects smaller inputs.
    works : str, default '224x224'
        An input size that works, for the error message.
    """

    internal_arguments = ('make_block', 'label', 'min_size', 'works')   # given by subclasses

    def __init__(self, layers, make_block, classes=1000, stem='imagenet', dilated=False,
                 avg_down=False, final_drop=0.0, features_only=False, out_indices=(0, 1, 2, 3),
                 norm_layer=BatchNorm, norm_kwargs=None, label=None, min_size=32,
                 works='224x224', **kwargs):
        super(ResNetTrunk, self).__init__(**kwargs)
        self._label = label or type(self).__name__
        self.min_size, self._works = min_size, works
        if len(layers) != 4:
            raise ValueError('layers must list 4 stage depths, got %r' % (layers,))
        if not features_only:
            check_positive_int(classes, 'classes')
        if stem not in ('imagenet', 'small'):
            raise ValueError("stem must be 'imagenet' or 'small', got %r" % (stem,))
        norm_kwargs = norm_kwargs or {}
        self.features_only = features_only
        self.out_indices = check_out_indices(out_indices, 4)
        built = self.out_indices[-1] + 1 if features_only else 4
        reductions = _stage_reductions(stem, dilated)
        self.feature_info = stage_feature_info(
            [64 * 2 ** i * Bottleneck.expansion for i in range(4)], reductions,
            ['layer%d' % (i + 1) for i in range(4)], self.out_indices)
        with self.name_scope():
            if stem == 'imagenet':
                self.conv1 = nn.Conv2D(64, kernel_size=7, strides=2, padding=3, use_bias=False)
                self.maxpool = nn.MaxPool2D(pool_size=3, strides=2, padding=1)
            else:
                self.conv1 = nn.Conv2D(64, kernel_size=3, strides=1, padding=1, use_bias=False)
                self.maxpool = None
            self.bn1 = norm_layer(in_channels=64, **norm_kwargs)
            self.relu = nn.Activation('relu')
            in_channels = 64
            for stage, depth in enumerate(layers[:built], start=1):
                strides = 1 if stage == 1 or (dilated and stage > 2) else 2
                dilation = {3: 2, 4: 4}.get(stage, 1) if dilated else 1
                mid = 64 * 2 ** (stage - 1)
                channels = mid * Bottleneck.expansion
                setattr(self, 'layer%d' % stage, self._make_stage(
                    stage, depth, make_block, in_channels, channels, mid, strides, dilation,
                    avg_down, norm_layer, norm_kwargs))
                in_channels = channels
            if not features_only:
                self.avgpool = nn.GlobalAvgPool2D()
                self.flat = nn.Flatten()
                self.drop = nn.Dropout(final_drop) if final_drop > 0.0 else None
                self.fc = nn.Dense(classes, in_units=in_channels)

    @staticmethod
    def _make_stage(stage, depth, make_block, in_channels, channels, mid, strides, dilation,
                    avg_down, norm_layer, norm_kwargs):
        downsample = None
        if strides != 1 or in_channels != channels:
            downsample = nn.HybridSequential(prefix='down%d_' % stage)
            with downsample.name_scope():
                if avg_down:
                    pool = strides if dilation == 1 else 1
                    downsample.add(nn.AvgPool2D(pool_size=pool, strides=pool, ceil_mode=True,
                                                count_include_pad=False))
                    downsample.add(nn.Conv2D(channels, kernel_size=1, strides=1,
                                             use_bias=False))
                else:
                    downsample.add(nn.Conv2D(channels, kernel_size=1, strides=strides,
                                             use_bias=False))
                downsample.add(norm_layer(in_channels=channels, **norm_kwargs))
        seq = nn.HybridSequential(prefix='layers%d_' % stage)
        with seq.name_scope():
            first_dilation = 1 if dilation in (1, 2) else 2
            seq.add(make_block(stage, 0, channels, mid, strides, first_dilation, downsample))
            for index in range(1, depth):
                seq.add(make_block(stage, index, channels, mid, 1, dilation, None))
        return seq

    def check_input(self, x):
        """Raise ValueError unless ``x`` (an NDArray; symbols pass) is an image batch the
        network takes; subclasses add their own conditions after calling this."""
        check_image_batch(x, self._label, self.min_size, works=self._works)

    def forward(self, x, *args):
        self.check_input(x)
        return super(ResNetTrunk, self).forward(x, *args)

    def hybrid_forward(self, F, x):
        x = self.relu(self.bn1(self.conv1(x)))
        if self.maxpool is not None:
            x = self.maxpool(x)
        if self.features_only:
            stages = []
            for index in range(self.out_indices[-1] + 1):
                x = getattr(self, 'layer%d' % (index + 1))(x)
                stages.append(x)
            return [stages[i] for i in self.out_indices]
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.flat(self.avgpool(x))
        if self.drop is not None:
            x = self.drop(x)
        return self.fc(x)
