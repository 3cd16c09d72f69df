"""The blocks of the AT-kernel Faster R-CNN (registered in :mod:`.detection`).

The detector is GluonCV's own: :class:`gluoncv.model_zoo.FasterRCNN` (its RPN, proposal layer,
target samplers and generators, RoIAlign and decoders) with the feature pyramid built by
``gluoncv.nn.feature.FPNFeatureExpander`` over the AT-kernel backbone's ``features_only``
stages. :class:`ATKernelFasterRCNN` adds the few places where mmdetection computes differently,
each behind a switch (see docs/detection.md for the quirks table):

* ``anchors='mmdet'``: anchors centred on ``(x * stride, y * stride)`` with exact sizes
  (mmdetection's ``AnchorGenerator``); ``'gluoncv'``: GluonCV's rounded, ``(stride - 1) / 2``
  centred anchors.
* ``roi_align='mmdet'``: RoIAlign with half-pixel alignment, adaptive sampling and mmdet's RoI to
  level mapping (no ``+1`` in widths); ``'gluoncv'``: GluonCV's unaligned RoIAlign with 2 samples.
* ``p6='pool'``: P6 by 1x1/2 max pooling of P5, as upstream's ``FPN(num_outs=5)``; ``'conv'``:
  GluonCV's 3x3/2 convolution (more parameters).
* ``frozen_bn=True``: BatchNorm uses its running statistics (GluonCV's detectors); upstream's
  backbone has no ``norm_eval`` and trains them with 4 images a GPU (``frozen_bn=False``).

Class scores put the background first (GluonCV); the converter moves mmdetection's last
background row to the front.
"""
import mxnet as mx
import numpy as np
from mxnet.gluon import HybridBlock, nn

from ..utils.checks import check_choice, check_image_batch
from ..utils.gluoncv_import import import_gluoncv
from .detection import BACKBONE_PREFIX

__all__ = ['ATKernelFasterRCNN', 'MMDetAnchorGenerator', 'COCO_CLASSES', 'class_names']

gcv = import_gluoncv()
from gluoncv.model_zoo.rcnn.faster_rcnn.faster_rcnn import FasterRCNN  # noqa: E402
from gluoncv.model_zoo.rcnn.rpn.anchor import RPNAnchorGenerator  # noqa: E402
from gluoncv.nn.feature import FPNFeatureExpander  # noqa: E402

COCO_CLASSES = tuple(gcv.data.COCODetection.CLASSES)
FPN_STRIDES = (4, 8, 16, 32, 64)
FROZEN_STAGE_NAMES = ('conv0', 'batchnorm0')
# mmdet's DeltaXYWHBBoxCoder clamps dw, dh at |log(16 / 1000)|
DELTA_CLIP = float(np.abs(np.log(16. / 1000)))


class MMDetAnchorGenerator(RPNAnchorGenerator):
    """GluonCV's anchor block with mmdetection's anchors (``AnchorGenerator``, ``center_offset=0``).

    Anchors of side ``size / sqrt(ratio)`` by ``size * sqrt(ratio)`` (``size = base_size *
    scale``, not rounded) centred on ``(x * stride, y * stride)``, ratio-major as upstream;
    GluonCV centres them on ``x * stride + (stride - 1) / 2`` and rounds the sides.
    """

    def _generate_anchors(self, stride, base_size, ratios, scales, alloc_size):
        ratios = np.asarray(ratios, dtype=np.float32)
        sizes = np.asarray(scales, dtype=np.float32) * base_size
        h_ratios = np.sqrt(ratios)
        ws = (sizes[None, :] / h_ratios[:, None]).reshape(-1)
        hs = (sizes[None, :] * h_ratios[:, None]).reshape(-1)
        base = np.stack([-0.5 * ws, -0.5 * hs, 0.5 * ws, 0.5 * hs], axis=-1)
        height, width = alloc_size
        shift_x, shift_y = np.meshgrid(np.arange(width) * stride, np.arange(height) * stride)
        shifts = np.stack([shift_x.ravel(), shift_y.ravel()] * 2, axis=1)[:, [0, 1, 2, 3]]
        anchors = base[None, :, :] + shifts[:, None, :].astype(np.float32)
        return anchors.reshape((1, 1, height, width, -1)).astype(np.float32)


class _StageGroup(HybridBlock):
    """The backbone's stage outputs as one grouped symbol, which ``FPNFeatureExpander`` takes."""

    def __init__(self, backbone):
        super(_StageGroup, self).__init__(prefix='')
        self.backbone = backbone

    def hybrid_forward(self, F, x):
        return F.Group(list(self.backbone(x)))


def _fpn(backbone, p6):
    """GluonCV's FPN (lateral 1x1 and output 3x3 convolutions with biases) over the stages."""
    stages = _StageGroup(backbone)
    names = stages(mx.sym.var('data')).list_outputs()
    return FPNFeatureExpander(
        network=stages, outputs=names, num_filters=[256] * len(names), use_1x1=True,
        use_upsample=True, use_elewadd=True, use_p6=True, p6_conv=p6 == 'conv', no_bias=False,
        pretrained=False)


def _freeze_batchnorm(block):
    if isinstance(block, nn.BatchNorm):
        block._kwargs['use_global_stats'] = True


def _train_patterns(frozen_stages):
    """``collect_train_params`` pattern: all weights but the frozen stages' (upstream
    ``frozen_stages``: the stem, then stages 1..n) and the BN statistics and anchors."""
    frozen = list(FROZEN_STAGE_NAMES[:2]) if frozen_stages >= 0 else []
    for stage in range(1, frozen_stages + 1):
        frozen += ['layers%d' % stage, 'down%d' % stage]
    skip = '(?!%s(%s)_)' % (BACKBONE_PREFIX, '|'.join(frozen)) if frozen else ''
    return '^%s(?!.*(running_mean|running_var|anchor_)).*$' % skip


def class_names(classes):
    """``classes`` (names, or a count: the COCO names for 80) as a tuple of names."""
    if isinstance(classes, bool) or not isinstance(classes, (int, list, tuple)):
        raise ValueError('classes must be a list of class names or a positive int, got %r'
                         % (classes,))
    if isinstance(classes, int):
        if classes < 1:
            raise ValueError('classes must be positive, got %d' % classes)
        return tuple(COCO_CLASSES) if classes == len(COCO_CLASSES) else tuple(
            'class%d' % i for i in range(classes))
    if not classes or not all(isinstance(c, str) for c in classes):
        raise ValueError('classes must be a non-empty list of class names, got %r' % (classes,))
    return tuple(classes)


class ATKernelFasterRCNN(FasterRCNN):
    """GluonCV's :class:`FasterRCNN` with mmdetection's anchors and RoI pooling as switches.

    Parameters
    ----------
    backbone : HybridBlock
        A ``features_only`` backbone returning the strides 4, 8, 16 and 32 stages.
    classes : sequence of str
        Foreground class names (background is added internally, at index 0).
    anchors : 'mmdet' or 'gluoncv', default 'mmdet'
        Anchor placement (see the module docstring).
    roi_align : 'mmdet' or 'gluoncv', default 'mmdet'
        RoIAlign alignment, sampling and level mapping.
    p6 : 'pool' or 'conv', default 'pool'
        How the FPN's fifth level is made.
    frozen_bn : bool, default True
        Backbone BatchNorm uses running statistics.
    frozen_stages : int, default 1
        Backbone stem and first ``frozen_stages`` stages left out of ``collect_train_params``
        (upstream ``frozen_stages``; 0 freezes the stem only, -1 nothing).
    **kwargs
        :class:`gluoncv.model_zoo.FasterRCNN` arguments.

    Inputs: (1, 3, H, W) images (a batch of ``per_device_batch_size`` in training, with
    ``gt_box`` and ``gt_label``), H and W multiples of 32 (upstream pads to 32).
    Outputs in inference: GluonCV's ``(ids, scores, bboxes)``.
    """

    #: the smallest image side: the backbone's last stage (reduction 32) must be 2x2 for P6
    min_size = 64
    #: FasterRCNN arguments this class fills itself (callers must not give them)
    internal_arguments = ('backbone', 'features', 'top_features', 'box_features')

    def __init__(self, backbone, classes, anchors='mmdet', roi_align='mmdet', p6='pool',
                 frozen_bn=True, frozen_stages=1, **kwargs):
        check_choice(anchors, ('mmdet', 'gluoncv'), 'anchors')
        check_choice(roi_align, ('mmdet', 'gluoncv'), 'roi_align')
        check_choice(p6, ('pool', 'conv'), 'p6')
        if frozen_stages not in (-1, 0, 1, 2, 3, 4):
            raise ValueError('frozen_stages must be -1 (none), 0 (stem) or 1..4, got %r'
                             % (frozen_stages,))
        if frozen_bn:
            backbone.apply(_freeze_batchnorm)
        kwargs.setdefault('clip', DELTA_CLIP)
        super(ATKernelFasterRCNN, self).__init__(
            features=_fpn(backbone, p6), top_features=None, classes=classes,
            box_features=self._shared2fc(), train_patterns=_train_patterns(frozen_stages),
            min_stage=2, max_stage=6, strides=FPN_STRIDES, roi_size=(7, 7), roi_mode='align',
            **kwargs)
        self.anchor_mode, self.roi_align_mode, self.p6_mode = anchors, roi_align, p6
        self.frozen_bn, self.frozen_stages = frozen_bn, frozen_stages
        if anchors == 'mmdet':
            self._use_mmdet_anchors(kwargs)

    def _collect_params_with_prefix(self, prefix=''):
        # GluonCV's RCNN target generator becomes a child on first training use; its
        # box-encoder constants are computed, so saved and loaded files leave them out
        params = super(ATKernelFasterRCNN, self)._collect_params_with_prefix(prefix)
        return {k: v for k, v in params.items()
                if not k.startswith(prefix + '_target_generator.')}

    @staticmethod
    def _shared2fc():
        head = nn.HybridSequential(prefix='box_head_')
        with head.name_scope():
            for _ in range(2):
                head.add(nn.Dense(1024, weight_initializer=mx.init.Normal(0.01)),
                         nn.Activation('relu'))
        return head

    def _use_mmdet_anchors(self, kwargs):
        base_size = kwargs.get('base_size', 16)
        scales = kwargs.get('scales', (2, 4, 8, 16, 32))
        ratios = kwargs.get('ratios', (0.5, 1, 2))
        alloc = kwargs.get('alloc_size', (128, 128))
        with self.rpn.name_scope():
            generators = nn.HybridSequential(prefix='mmdet_anchor_')
            with generators.name_scope():
                for stride, scale in zip(FPN_STRIDES, scales):
                    generators.add(MMDetAnchorGenerator(stride, base_size, ratios, scale, alloc))
                    alloc = (max(alloc[0] // 2, 16),) * 2
        self.rpn.anchor_generator = generators

    def forward(self, x, *args):
        if isinstance(x, mx.nd.NDArray):
            check_image_batch(x, 'faster_rcnn_fpn_atkernel_resnet50', 64, works='800x1344')
            for side in x.shape[2:]:
                if side % 32:
                    raise ValueError(
                        'faster_rcnn_fpn_atkernel_resnet50: input %dx%d: image sides must be '
                        'multiples of 32 (upstream pads to 32; pad the batch, e.g. with '
                        'gluon_convattn.data.coco_detection)' % tuple(x.shape[2:]))
        return super(ATKernelFasterRCNN, self).forward(x, *args)

    def _pyramid_roi_feats(self, F, features, rpn_rois, roi_size, strides, roi_mode='align',
                           roi_canonical_scale=224.0, sampling_ratio=2, eps=1e-6):
        """RoIAlign each RoI on its FPN level (P2-P5), zeros on the others.

        ``roi_align='mmdet'``: mmdet's ``SingleRoIExtractor`` (level ``floor(log2(sqrt(w h) /
        56 + 1e-6))`` with ``w = x2 - x1``; ``RoIAlign(aligned=True, sampling_ratio=0)``);
        ``'gluoncv'``: GluonCV's level rule (``+1`` widths) and unaligned RoIAlign with 2
        samples. Every RoI is pooled on every level and the wrong levels masked out afterwards:
        GluonCV's trick of batch index -1 leaves MXNet's CPU RoIAlign output uninitialised, and
        an empty RoI (which pools to zeros in mmcv) aborts MXNet's aligned RoIAlign, so empty
        RoIs are pooled as a unit box and zeroed.
        """
        _, x1, y1, x2, y2 = F.split(rpn_rois, axis=-1, num_outputs=5)
        if self.roi_align_mode == 'mmdet':
            width, height = x2 - x1, y2 - y1
            aligned, samples = True, 0
            level = F.floor(F.log2(F.sqrt(F.relu(width) * F.relu(height)) / 56. + eps)) + 2
        else:
            width, height = x2 - x1 + 1, y2 - y1 + 1
            aligned, samples = False, sampling_ratio
            level = F.floor(4 + F.log2(F.sqrt(F.relu(width) * F.relu(height))
                                       / roi_canonical_scale + eps))
        valid = F.squeeze((width > 0) * (height > 0), axis=-1)
        level = F.where(valid, F.squeeze(F.clip(level, 2, 5), axis=-1), F.zeros_like(valid))
        unit = F.concat(F.slice_axis(rpn_rois, axis=-1, begin=0, end=1), F.zeros_like(x1),
                        F.zeros_like(x1), F.ones_like(x1), F.ones_like(x1), dim=-1)
        rois = F.where(valid, rpn_rois, unit)
        pooled = []
        for i, stage in enumerate(range(2, 6)):
            feat = F.contrib.ROIAlign(features[i], rois, roi_size, 1. / strides[i],
                                      sample_ratio=samples, aligned=aligned)
            pooled.append(F.where(level == stage, feat, F.zeros_like(feat)))
        return F.ElementWiseSum(*pooled)


