"""The AT-kernel Faster R-CNN against upstream (fixture from tools/make_golden_detection.py).

The fixture holds mmdetection's state-dict manifest (``backbone.``, ``neck.``, ``rpn_head.``,
``roi_head.bbox_head.``), the seeds, fixed RoIs and upstream's outputs: the five FPN levels,
the RPN scores and deltas and anchors of each level, and the box head's class scores and deltas
for the RoIs. The weights are rebuilt from the seed, converted with ``gluon_convattn.convert``
(which moves the background class row from last to first) and loaded strictly.
"""
import os

import mxnet as mx
import numpy as np
import pytest

from gluon_convattn.convert import ConversionError, convert_checkpoint, convert_state_dict
from gluon_convattn.convert import save_params
from gluon_convattn.model_zoo import get_model
from gluon_convattn.utils import count_params, load_parameters_checked
from support.golden import load_fixture, relative_error, seeded_input, seeded_state_dict

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')
NAME = 'faster_rcnn_fpn_atkernel_resnet50_coco'
LEVELS = ['P2', 'P3', 'P4', 'P5', 'P6']


@pytest.fixture(scope='module')
def golden(tmp_path_factory):
    meta, flat = load_fixture(FIXTURES, NAME)
    expected, offset = {}, 0
    for name, shape in meta['outputs']:
        size = int(np.prod(shape))
        expected[name] = flat[offset:offset + size].reshape(shape)
        offset += size
    assert offset == flat.size
    weights = seeded_state_dict(meta['manifest'], meta['seed'])
    path = str(tmp_path_factory.mktemp('det') / 'converted.params')
    save_params(convert_state_dict(NAME, weights, **meta['kwargs']), path)
    net = get_model(NAME, **meta['kwargs'])
    load_parameters_checked(net, path)
    x = mx.nd.array(seeded_input(meta['input_shape'], meta['input_seed']))
    return meta, expected, net, weights, net.features(x)


def _nhwc(t, last):
    """Upstream's (1, A * last, H, W) head output in GluonCV's (1, H * W * A, last) layout."""
    return t.transpose(0, 2, 3, 1).reshape(1, -1, last)


def test_fpn_levels_match_upstream(golden):
    meta, expected, _, _, feats = golden
    assert len(feats) == 5
    for level, feat in zip(LEVELS, feats):
        assert relative_error(feat.asnumpy(), expected[level]) <= meta['rtol'], level


def test_rpn_scores_deltas_and_anchors_match_upstream(golden):
    meta, expected, net, _, feats = golden
    for i, (level, feat) in enumerate(zip(LEVELS, feats)):
        _, _, raw_score, raw_delta = net.rpn.rpn_head(feat)
        assert relative_error(raw_score.asnumpy(), _nhwc(expected['rpn_score_' + level], 1)) \
            <= meta['rtol'], level
        assert relative_error(raw_delta.asnumpy(), _nhwc(expected['rpn_delta_' + level], 4)) \
            <= meta['rtol'], level
        anchors = net.rpn.anchor_generator[i](feat).asnumpy()
        np.testing.assert_allclose(anchors[0], expected['anchors_' + level], atol=1e-4)


def test_box_head_scores_and_deltas_for_given_rois_match_upstream(golden):
    meta, expected, net, _, feats = golden
    rois = mx.nd.array(meta['rois'])
    pooled = net._pyramid_roi_feats(mx.nd, feats, rois, net._roi_size, net._strides)
    box_feat = net.box_features(pooled)
    scores = net.class_predictor(box_feat).asnumpy()
    # upstream puts the background last, GluonCV first
    assert relative_error(scores, np.roll(expected['cls_score'], 1, axis=1)) <= meta['rtol']
    deltas = net.box_predictor(box_feat).asnumpy()
    assert relative_error(deltas, expected['bbox_pred']) <= meta['rtol']


def test_gluoncv_roi_align_differs_from_upstream(golden):
    """The switch is real: GluonCV's RoIAlign (unaligned, 2 samples) gives other features."""
    meta, expected, net, _, feats = golden
    net.roi_align_mode = 'gluoncv'
    try:
        pooled = net._pyramid_roi_feats(mx.nd, feats, mx.nd.array(meta['rois']),
                                        net._roi_size, net._strides)
    finally:
        net.roi_align_mode = 'mmdet'
    scores = net.class_predictor(net.box_features(pooled)).asnumpy()
    assert relative_error(scores, np.roll(expected['cls_score'], 1, axis=1)) > 1e-3


def test_parameter_count_equals_the_manifest(golden):
    meta = golden[0]
    upstream = sum(int(np.prod(s)) for k, s in meta['manifest']
                   if not k.endswith(('running_mean', 'running_var', 'num_batches_tracked')))
    assert upstream == meta['upstream']['params'] == 39821920
    assert count_params(get_model(NAME), (1, 3, 224, 224)) == upstream


def test_mmdet_checkpoint_file_converts(golden, tmp_path):
    """From a file shaped like mmdetection's save_checkpoint output to the same scores."""
    torch = pytest.importorskip('torch')
    meta, expected, _, weights, _ = golden
    src, dst = str(tmp_path / 'epoch_12.pth'), str(tmp_path / 'det.params')
    torch.save({'meta': {'epoch': 12, 'CLASSES': ['person']},
                'state_dict': {k: torch.from_numpy(v) for k, v in weights.items()}}, src)
    convert_checkpoint(NAME, src, dst)
    net = get_model(NAME)
    load_parameters_checked(net, dst)
    x = mx.nd.array(seeded_input(meta['input_shape'], meta['input_seed']))
    assert relative_error(net.features(x)[0].asnumpy(), expected['P2']) <= meta['rtol']


@pytest.mark.parametrize('edit, match', [
    (lambda sd: sd.update({'roi_head.mask_head.conv.weight': np.zeros(1)}), 'mask_head'),
    (lambda sd: sd.pop('neck.fpn_convs.3.conv.bias'), 'P5_conv1_bias'),
    (lambda sd: sd.update({'roi_head.bbox_head.fc_cls.weight': np.zeros((91, 1024),
                                                                         np.float32)}),
     'fc_cls.weight'),
])
def test_converter_is_strict(golden, edit, match):
    weights = dict(golden[3])
    edit(weights)
    with pytest.raises(ConversionError, match=match):
        convert_state_dict(NAME, weights)


def test_imagenet_backbone_loads_as_pretrained_base(golden, tmp_path):
    """mmcls' ImageNet checkpoint, converted for atkernel_resnet50, is the detector's
    ``pretrained_base`` (its classifier left out): no hand edit of prefixes."""
    meta, _, _, weights, _ = golden
    backbone = {k: v for k, v in weights.items() if k.startswith('backbone.')}
    backbone['head.fc.weight'] = np.zeros((1000, 2048), np.float32)
    backbone['head.fc.bias'] = np.zeros(1000, np.float32)
    path = str(tmp_path / 'atkernel_resnet50.params')
    save_params(convert_state_dict('atkernel_resnet50', backbone), path)
    params = get_model(NAME, pretrained_base=path).collect_params()
    np.testing.assert_array_equal(params['backbone_conv0_weight'].data().asnumpy(),
                                  weights['backbone.conv1.weight'])
    np.testing.assert_array_equal(params['backbone_layers4_conv0_weight'].data().asnumpy(),
                                  weights['backbone.layer4.0.conv1.weight'])
