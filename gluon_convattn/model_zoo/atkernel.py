"""AT-kernel ResNets (Koooko96/AT-kernel ``ResNet_ATkernel`` with mmcls' pooling + linear head).

Bottleneck ResNets whose middle 3x3 convolution is replaced by :class:`~gluon_convattn.nn.ATKernel`
in chosen stages: ``at_stages`` switches the four stages (upstream's
``replace_conv2_with_ATkernel``) and ``at_blocks`` the first block of a stage and its other
blocks (upstream's ``stride2or1block``). The classifier is global average pooling and a dense
layer (mmcls' ``GlobalAveragePooling`` neck and ``LinearClsHead``); ``features_only=True`` drops
it and returns the four stage outputs, as upstream's mmdetection backbone does.
"""
import mxnet as mx

from ..nn.atkernel import ATKernel
from ..utils.checks import (check_choice, check_int_list, check_odd,
                            check_positive_int)
from .arguments import build
from .configs import ModelConfig, config_table
from .model_zoo import register_model
from .resnet_trunk import Bottleneck, ResNetTrunk

__all__ = ['ResNetATKernel', 'atkernel_resnet50', 'atkernel_resnet26_tiny']

STEM_MIN_SIZE = {'imagenet': 32, 'small': 8}
STEM_EXAMPLE = {'imagenet': '224x224', 'small': '64x64'}


def _flags(value, length, name):
    if (not isinstance(value, (list, tuple)) or len(value) != length
            or not all(v in (0, 1) for v in value)):
        raise ValueError('%s must be a list of %d flags (0/1 or False/True), got %r'
                         % (name, length, value))
    return tuple(bool(v) for v in value)


def _stem_output(size, stem):
    if stem == 'small':
        return size
    for _ in range(2):          # 7x7/2 convolution, then 3x3/2 max pooling, both padded
        size = (size - 1) // 2 + 1
    return size


class ResNetATKernel(ResNetTrunk):
    """Bottleneck ResNet with AT kernels in place of chosen 3x3 convolutions.

    Parameters
    ----------
    layers : list of 4 int
        Blocks per stage.
    at_stages : list of 4 flags, default (0, 0, 0, 1)
        Stages whose blocks may use the AT kernel (upstream ``replace_conv2_with_ATkernel``).
    at_blocks : list of 2 flags, default (1, 1)
        Whether the first block (which strides in stages 2-4) and the other blocks of those
        stages use it (upstream ``stride2or1block``; its default there, (0, 0), disables the
        AT kernel everywhere).
    stem : 'imagenet' or 'small'
        7x7/2 convolution and max pooling (upstream ``resolution=224``) or a 3x3/1 convolution
        (``resolution`` 32 or 64).
    classes : int, default 1000
        Output classes.
    kernel_size : int, default 3
        Odd AT kernel window (upstream ``ATkernel_size``).
    group_channels : int, default 4
        AT kernel value channels per output channel (upstream ``group_channels``).
    reduction_ratio : int, default 4
        AT kernel MLP reduction (fixed to 4 upstream).
    features_only : bool, default False
        Return the four stage outputs (strides 4, 8, 16, 32 with the ImageNet stem) instead of
        logits; the network then has no classifier.
    impl : str or None
        Operator implementation, see :func:`gluon_convattn.ops.resolve_impl`.

    Inputs: (N, 3, H, W) with H, W >= :attr:`min_size`. A stage whose first block is a strided
    AT kernel average-pools its input while the shortcut convolution rounds up, so that input
    must have even sides; inputs whose sides are multiples of 32 always work.
    """

    def __init__(self, layers, at_stages=(0, 0, 0, 1), at_blocks=(1, 1), stem='imagenet',
                 classes=1000, kernel_size=3, group_channels=4, reduction_ratio=4,
                 features_only=False, impl=None, **kwargs):
        layers = check_int_list(layers, 4, 'layers')
        at_stages = _flags(at_stages, 4, 'at_stages')
        at_blocks = _flags(at_blocks, 2, 'at_blocks')
        check_choice(stem, tuple(STEM_MIN_SIZE), 'stem')
        for value, name in ((kernel_size, 'kernel_size'),
                            (group_channels, 'group_channels'),
                            (reduction_ratio, 'reduction_ratio')):
            check_positive_int(value, name)
        check_odd(kernel_size, 'kernel_size')
        self.at_stages, self.at_blocks, self.stem = at_stages, at_blocks, stem

        def make_conv2(mid, strides, dilation):
            return ATKernel(mid, mid, kernel_size=kernel_size, stride=strides,
                            group_channels=group_channels, reduction_ratio=reduction_ratio,
                            impl=impl)

        def make_block(stage, index, channels, mid, strides, dilation, downsample):
            use_at = at_stages[stage - 1] and at_blocks[min(index, 1)]
            return Bottleneck(channels, mid, strides, dilation, downsample,
                              make_conv2=make_conv2 if use_at else None)

        label = 'AT-kernel ResNet (layers %s, AT stages %s, blocks %s)' % (
            layers, [int(v) for v in at_stages], [int(v) for v in at_blocks])
        super(ResNetATKernel, self).__init__(
            layers, make_block, classes=classes, stem=stem, features_only=features_only,
            label=label, min_size=STEM_MIN_SIZE[stem], works=STEM_EXAMPLE[stem], **kwargs)

    def check_input_size(self, height, width):
        """Raise ValueError unless an input of ``height`` x ``width`` runs through every stage."""
        for side in (height, width):
            size = _stem_output(side, self.stem)
            for stage in range(2, 5):
                if self.at_stages[stage - 1] and self.at_blocks[0]:
                    if size % 2:
                        raise ValueError(
                            '%s: input %dx%d gives stage %d an input of side %d, which its '
                            'strided AT kernel average-pools to %d while the shortcut gives %d '
                            '(upstream fails the same way); use even feature sides, e.g. '
                            'inputs whose sides are multiples of 32 (%s)'
                            % (self._label, height, width, stage, size, size // 2,
                               size // 2 + 1, STEM_EXAMPLE[self.stem]))
                    size //= 2
                else:
                    size = (size - 1) // 2 + 1

    def check_input(self, x):
        super(ResNetATKernel, self).check_input(x)
        if isinstance(x, mx.nd.NDArray):
            self.check_input_size(*x.shape[2:])


CONFIGS = config_table(
    ModelConfig('atkernel_resnet50', family='AT-kernel',
                faithful_to='Koooko96/AT-kernel mmcls `R50_at_0001_11` (`ResNet_ATkernel` + GAP '
                            '+ linear head); golden'),
    ModelConfig('atkernel_resnet26_tiny', family='AT-kernel', input_size=64,
                default_dataset='tiny-imagenet',
                crop_ratio=64 / 72,     # mmcls test pipeline: resize to 72, centre crop 64
                faithful_to='mmcls `R26_at_1000_11` (Tiny ImageNet, 64 px, 200 classes) with '
                            '`stride2or1block` [1,1] as its name says; golden'),
)


@register_model(CONFIGS['atkernel_resnet50'], network=ResNetATKernel)
def atkernel_resnet50(classes=1000, **kwargs):
    """ResNet-50 with AT kernels in every block of stage 4 (R50_at_0001_11, ImageNet 224 px)."""
    return build(ResNetATKernel, dict(layers=[3, 4, 6, 3], at_stages=(0, 0, 0, 1),
                                      at_blocks=(1, 1), stem='imagenet', classes=classes), kwargs)


@register_model(CONFIGS['atkernel_resnet26_tiny'], network=ResNetATKernel)
def atkernel_resnet26_tiny(classes=200, **kwargs):
    """ResNet-26 for 64 px Tiny ImageNet with an AT kernel in stage 1 (R26_at_1000_11).

    The upstream config leaves ``stride2or1block`` at its default (0, 0), which disables the AT
    kernel; pass ``at_blocks=(0, 0)`` for that network (a plain ResNet-26).
    """
    return build(ResNetATKernel, dict(layers=[1, 2, 4, 1], at_stages=(1, 0, 0, 0),
                                      at_blocks=(1, 1), stem='small', classes=classes), kwargs)
