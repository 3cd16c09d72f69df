"""Koooko96/AT-kernel (mmcls / mmdet) checkpoints -> :mod:`gluon_convattn.model_zoo.atkernel`.

mmcls saves ``{'state_dict': ...}`` (unwrapped by :func:`core.load_checkpoint`) with the
backbone under ``backbone.`` and the classifier under ``head.fc.``; the ResNet part already has
our structural names (``layer4.0.conv2...``, ``layer1.0.downsample.1...``). The AT kernel's
``emb_K``, ``MLP`` and ``emb_V`` are our ``emb_k``, ``mlp`` and ``emb_v``; BatchNorm and
GroupNorm ``weight``/``bias`` become ``gamma``/``beta``.

A bare backbone state dict (no prefixes, as saved from the backbone alone) converts as well.
For a network built with ``features_only=True`` (no classifier), an mmcls checkpoint's
``head.fc.*`` keys are left out, which is how mmdetection initialises its backbone from an
ImageNet checkpoint; every other key must still fit. mmdetection's Faster R-CNN checkpoint
(``backbone.``, ``neck.``, ``rpn_head.``, ``roi_head.bbox_head.``) is converted by
:mod:`.atkernel_detection`.
"""
import re

from .core import ConversionError, register_converter, rename

__all__ = ['convert_atkernel']

RULES = ((r'^backbone\.', ''), (r'^head\.fc\.', 'fc.'), (r'\.emb_K\.', '.emb_k.'),
         (r'\.MLP\.', '.mlp.'), (r'\.emb_V\.', '.emb_v.'))
CLASSIFIER_PREFIX = 'head.fc.'


@register_converter('AT-kernel')
def convert_atkernel(state_dict, target_shapes, model_name):
    """Map an AT-kernel state dict (numpy arrays) onto our parameter names; strict.

    The detector (``faster_rcnn_fpn_atkernel_resnet50_coco``) is handed to
    :func:`.atkernel_detection.convert_atkernel_detection`."""
    from .atkernel_detection import convert_atkernel_detection, is_detector
    if is_detector(target_shapes):
        return convert_atkernel_detection(state_dict, target_shapes, model_name)
    has_classifier = any(name.startswith('fc.') for name in target_shapes)
    if not has_classifier:
        state_dict = {k: v for k, v in state_dict.items() if not k.startswith(CLASSIFIER_PREFIX)}
    mmcls_layout = any(k.startswith('backbone.') for k in state_dict)
    foreign = sorted(k for k in state_dict if not k.startswith(('backbone.', CLASSIFIER_PREFIX)))
    if mmcls_layout and foreign:
        raise ConversionError(
            'upstream key %r is neither backbone.* nor head.fc.*: %s takes an mmcls classifier '
            'checkpoint or a bare backbone state dict' % (foreign[0], model_name))
    _check_middle_layers(state_dict, target_shapes)
    return rename(state_dict, target_shapes, RULES)


def _check_middle_layers(state_dict, target_shapes):
    """Name the block whose middle layer is an AT kernel on one side and a 3x3 convolution on
    the other (the checkpoint was trained with other at_stages/at_blocks switches)."""
    ours_at = {name.split('.conv2.')[0] for name in target_shapes if '.conv2.emb_k.' in name}
    for key in sorted(state_dict):
        match = re.match(r'^(?:backbone\.)?(layer\d+\.\d+)\.conv2\.(weight|emb_K\.)', key)
        if match is None:
            continue
        block, theirs_at = match.group(1), match.group(2) != 'weight'
        if theirs_at != (block in ours_at):
            raise ConversionError(
                'upstream key %r: the checkpoint has %s in %s where this network has %s; build '
                'the model with the at_stages/at_blocks the checkpoint was trained with (the '
                'Tiny ImageNet config as released: at_blocks=(0, 0))'
                % (key, 'an AT kernel' if theirs_at else 'a 3x3 convolution', block,
                   'an AT kernel' if block in ours_at else 'a 3x3 convolution'))
