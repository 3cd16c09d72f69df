"""Faster R-CNN with FPN on the AT-kernel ResNet-50 (Koooko96/AT-kernel's mmdetection config).

``faster_rcnn_fpn_atkernel_resnet50_coco`` is GluonCV's own detector (see
:mod:`.faster_rcnn`, imported when the model is built, so that importing the model zoo does not
import GluonCV): ``FasterRCNN`` with its RPN, samplers, target generators, RoIAlign and
decoders, ``FPNFeatureExpander`` over the AT-kernel backbone's ``features_only`` stages, and
mmdetection's anchors, RoIAlign and P6 behind switches (docs/detection.md).
"""
import mxnet as mx

from ..utils.params import load_parameters_checked
from .atkernel import atkernel_resnet50
from .configs import ModelConfig, config_table
from .model_zoo import _pretrained_file, get_model_info, register_model

__all__ = ['faster_rcnn_fpn_atkernel_resnet50_coco', 'BACKBONE_PREFIX']

BACKBONE_PREFIX = 'backbone_'


def _load_pretrained_base(backbone, pretrained_base, root, ctx):
    """Load ImageNet ``atkernel_resnet50`` weights (classifier left out) into the backbone."""
    info = get_model_info('atkernel_resnet50')
    path, sha256 = _pretrained_file(info, pretrained_base, root)
    load_parameters_checked(backbone, path, ctx=ctx, cast_dtype=True, sha256=sha256,
                            ignore_extra=('fc.',))


CONFIGS = config_table(
    ModelConfig('faster_rcnn_fpn_atkernel_resnet50_coco', family='AT-kernel',
                faithful_to='mmdetection `faster_rcnn_r50_AT_0001_11_fpn_1x_b4x2_coco` '
                            "(GluonCV's Faster R-CNN + FPN on `atkernel_resnet50` features; "
                            '[docs/detection.md](docs/detection.md)); golden FPN, RPN, box head',
                input_size=224, default_dataset='coco'),
)


@register_model(CONFIGS['faster_rcnn_fpn_atkernel_resnet50_coco'],
                network='gluon_convattn.model_zoo.faster_rcnn:ATKernelFasterRCNN')
def faster_rcnn_fpn_atkernel_resnet50_coco(classes=80, pretrained_base=False,
                                           ctx=mx.cpu(), root='~/.mxnet/models', anchors='mmdet',
                                           roi_align='mmdet', p6='pool', frozen_bn=True,
                                           frozen_stages=1, impl=None, **kwargs):
    """Faster R-CNN + FPN on the AT-kernel ResNet-50 (R50_at_0001_11), COCO, 39,821,920 params.

    Parameters
    ----------
    classes : list of str or int, default the 80 COCO classes
        Foreground classes.
    pretrained_base : bool or str, default False
        ImageNet backbone weights: True for ``<root>/atkernel_resnet50.params``, or a path
        (``scripts/convert_weights.py --model atkernel_resnet50`` converts upstream's mmcls
        checkpoint). Nothing is downloaded.
    ctx, root
        Where ``pretrained_base`` is loaded and looked for.
    anchors, roi_align, p6, frozen_bn, frozen_stages
        See :class:`ATKernelFasterRCNN`.
    impl : str or None
        AT kernel operator implementation.
    **kwargs
        :class:`gluoncv.model_zoo.FasterRCNN` arguments (``per_device_batch_size``, ...).
    """
    from .faster_rcnn import ATKernelFasterRCNN, class_names
    classes = class_names(classes)
    backbone = atkernel_resnet50(features_only=True, impl=impl, prefix=BACKBONE_PREFIX)
    if pretrained_base:
        _load_pretrained_base(backbone, pretrained_base, root, ctx)
    defaults = dict(short=800, max_size=1333, rpn_channel=256, base_size=16,
                    scales=(2, 4, 8, 16, 32), ratios=(0.5, 1, 2), alloc_size=(384, 384),
                    rpn_nms_thresh=0.7, rpn_train_pre_nms=2000, rpn_train_post_nms=1000,
                    rpn_test_pre_nms=1000, rpn_test_post_nms=1000, rpn_min_size=0,
                    num_sample=512, pos_iou_thresh=0.5, pos_ratio=0.25, nms_thresh=0.5,
                    nms_topk=-1, post_nms=100, max_num_gt=100)
    defaults.update(kwargs)
    return ATKernelFasterRCNN(backbone, classes, anchors=anchors, roi_align=roi_align, p6=p6,
                              frozen_bn=frozen_bn, frozen_stages=frozen_stages, **defaults)
