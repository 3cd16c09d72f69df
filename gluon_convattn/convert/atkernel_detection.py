"""Koooko96/AT-kernel mmdetection checkpoints -> ``faster_rcnn_fpn_atkernel_resnet50_coco``.

mmdetection 2.x saves ``{'meta': ..., 'state_dict': ...}`` with four parts:

========================  ===============================================================
upstream                  ours
========================  ===============================================================
``backbone.*``            ``features.backbone_*`` (the AT-kernel converter's names, then the
                          backbone's flat Gluon names, which the FPN block keeps)
``neck.lateral_convs.i``  ``features.P{i+2}_conv_lat`` (``.conv.`` dropped)
``neck.fpn_convs.i``      ``features.P{i+2}_conv1``
``rpn_head.rpn_conv``     ``rpn.rpn_head.conv1.0``
``rpn_head.rpn_cls/reg``  ``rpn.rpn_head.score`` / ``loc`` (same anchor order)
``shared_fcs.0`` / ``1``  ``box_features.0`` / ``2``
``fc_cls``                ``class_predictor``, background row moved from last to first
``fc_reg``                ``box_predictor`` (class-specific rows, no background: unchanged)
========================  ===============================================================
"""
import re

import numpy as np

from .atkernel import convert_atkernel
from .core import ConversionError, check_complete, put

__all__ = ['convert_atkernel_detection', 'is_detector']

PARTS = ('backbone.', 'neck.', 'rpn_head.', 'roi_head.bbox_head.')
RULES = ((r'^neck\.lateral_convs\.(\d)\.conv\.', lambda m: 'features.P%d_conv_lat_'
          % (int(m.group(1)) + 2)),
         (r'^neck\.fpn_convs\.(\d)\.conv\.', lambda m: 'features.P%d_conv1_'
          % (int(m.group(1)) + 2)),
         (r'^rpn_head\.rpn_conv\.', 'rpn.rpn_head.conv1.0.'),
         (r'^rpn_head\.rpn_cls\.', 'rpn.rpn_head.score.'),
         (r'^rpn_head\.rpn_reg\.', 'rpn.rpn_head.loc.'),
         (r'^roi_head\.bbox_head\.shared_fcs\.0\.', 'box_features.0.'),
         (r'^roi_head\.bbox_head\.shared_fcs\.1\.', 'box_features.2.'),
         (r'^roi_head\.bbox_head\.fc_cls\.', 'class_predictor.'),
         (r'^roi_head\.bbox_head\.fc_reg\.', 'box_predictor.'))


def is_detector(target_shapes):
    """True for the Faster R-CNN's parameter names (an RPN is present)."""
    return any(name.startswith('rpn.') for name in target_shapes)


def _backbone_names():
    """Structural names of the AT-kernel backbone -> the flat names the FPN block keeps."""
    from ..model_zoo.atkernel import atkernel_resnet50
    from ..model_zoo.detection import BACKBONE_PREFIX
    backbone = atkernel_resnet50(features_only=True, prefix=BACKBONE_PREFIX)
    return {k: p.name for k, p in backbone._collect_params_with_prefix().items()}


def convert_atkernel_detection(state_dict, target_shapes, model_name):
    """Map an mmdetection Faster R-CNN state dict onto the detector's names; strict."""
    foreign = sorted(k for k in state_dict if not k.startswith(PARTS))
    if foreign:
        raise ConversionError(
            'upstream key %r is not part of an mmdetection Faster R-CNN (%s): %s takes the '
            'checkpoint of faster_rcnn_r50_AT_0001_11_fpn_1x_b4x2_coco'
            % (foreign[0], ', '.join(p + '*' for p in PARTS), model_name))
    flat = _backbone_names()
    backbone_target = {k: target_shapes['features.' + v] for k, v in flat.items()
                       if 'features.' + v in target_shapes}
    if len(backbone_target) != len(flat):
        raise ConversionError('%s: the network has no AT-kernel ResNet-50 backbone' % model_name)
    backbone = convert_atkernel({k: v for k, v in state_dict.items()
                                 if k.startswith('backbone.')}, backbone_target, model_name)
    out = {'features.' + flat[k]: v for k, v in backbone.items()}
    for key, value in state_dict.items():
        if key.startswith('backbone.') or key.endswith('num_batches_tracked'):
            continue
        name = key
        for pattern, repl in RULES:
            name = re.sub(pattern, repl, name)
        if name not in target_shapes:
            raise ConversionError('upstream key %r (-> %r) has no counterpart in %s'
                                  % (key, name, model_name))
        if name.startswith('class_predictor.'):
            value = np.roll(value, 1, axis=0)     # mmdet: background last; GluonCV: first
        put(out, name, value, target_shapes, key)
    return check_complete(out, target_shapes)
