"""faster_rcnn_fpn_atkernel_resnet50_coco: structure, counts, switches and input checks."""
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

from gluon_convattn.model_zoo import get_model, get_model_info
from gluon_convattn.utils import count_params

NAME = 'faster_rcnn_fpn_atkernel_resnet50_coco'
# Koooko96/AT-kernel mmdetection config, learnable parameters without BN statistics
UPSTREAM = {'backbone': 21576896, 'neck': 3344384, 'rpn_head': 593935, 'bbox_head': 14306705}


def _part(name):
    if name.startswith('features.backbone_'):
        return 'backbone'
    if name.startswith('features.P'):
        return 'neck'
    if name.startswith('rpn.'):
        return 'rpn_head'
    return 'bbox_head'


@pytest.fixture(scope='module')
def coco_net():
    return get_model(NAME)


def test_parameter_count_equals_upstream_part_by_part(coco_net):
    assert count_params(coco_net, (1, 3, 224, 224)) == sum(UPSTREAM.values()) == 39821920
    parts = dict.fromkeys(UPSTREAM, 0)
    for name, p in coco_net._collect_params_with_prefix().items():
        if p.grad_req != 'null':
            parts[_part(name)] += int(np.prod(p.shape))
    assert parts == UPSTREAM


def test_registered_as_a_coco_detector(coco_net):
    info = get_model_info(NAME)
    assert (info.family, info.default_dataset) == ('AT-kernel', 'coco')
    assert len(coco_net.classes) == 80 and coco_net.classes[0] == 'person'


def test_frozen_stages_leave_stem_and_stage1_out_of_training(coco_net):
    train = set(coco_net.collect_train_params().keys())
    every = set(coco_net.collect_params().keys())
    frozen = every - train
    assert any(n.startswith('backbone_layers1_') for n in frozen)
    assert not any(n.startswith('backbone_layers2_') and n.endswith('weight') for n in frozen)
    assert 'backbone_conv0_weight' in frozen
    assert not any(n.endswith(('running_mean', 'running_var')) for n in train)
    unfrozen = get_model(NAME, frozen_stages=-1).collect_train_params().keys()
    assert any(n.startswith('backbone_layers1_') for n in unfrozen)


def _global_stats_flags(net):
    """use_global_stats of every BatchNorm node in the FPN block's graph."""
    graph = net.features._cached_graph[1]
    return {name: attrs.get('use_global_stats') for name, attrs in graph.attr_dict().items()
            if 'batchnorm' in name and 'use_global_stats' in attrs}


def test_frozen_bn_switch():
    frozen, trained = _global_stats_flags(get_model(NAME)), \
        _global_stats_flags(get_model(NAME, frozen_bn=False))
    assert len(frozen) == len(trained) > 50
    assert set(frozen.values()) == {'True'} and set(trained.values()) == {'False'}


def test_mmdet_anchors_are_centred_on_the_grid_with_exact_sizes():
    net = get_model(NAME, classes=['a'])
    net.initialize()
    anchors = net.rpn.anchor_generator[0].anchors.data().asnumpy().reshape(384, 384, 3, 4)
    s2 = np.sqrt(2.)
    np.testing.assert_allclose(anchors[0, 0], [[-16 * s2, -8 * s2, 16 * s2, 8 * s2],
                                               [-16, -16, 16, 16],
                                               [-8 * s2, -16 * s2, 8 * s2, 16 * s2]], rtol=1e-6)
    np.testing.assert_allclose(anchors[2, 1, 1], [4 - 16, 8 - 16, 4 + 16, 8 + 16])
    p6 = net.rpn.anchor_generator[4].anchors.data().asnumpy().reshape(-1, 3, 4)
    np.testing.assert_allclose(p6[0, 1], [-256, -256, 256, 256])
    gluon = get_model(NAME, classes=['a'], anchors='gluoncv')
    gluon.initialize()
    theirs = gluon.rpn.anchor_generator[0].anchors.data().asnumpy().reshape(384, 384, 3, 4)
    assert not np.allclose(theirs[0, 0], anchors[0, 0])
    np.testing.assert_allclose(theirs[0, 0, 1], [-14, -14, 17, 17])   # centre (4 - 1) / 2


@pytest.mark.parametrize('options', [{}, {'anchors': 'gluoncv', 'roi_align': 'gluoncv',
                                          'p6': 'conv'}])
def test_inference_returns_ids_scores_boxes_and_training_runs(options):
    mx.random.seed(0)
    net = get_model(NAME, classes=['a', 'b'], per_device_batch_size=1, rpn_test_post_nms=50,
                    rpn_train_post_nms=64, num_sample=32, **options)
    net.initialize()
    x = mx.nd.random.uniform(shape=(1, 3, 64, 96))
    for hybridize in (False, True):
        if hybridize:
            net.hybridize()
        ids, scores, boxes = net(x)
        assert ids.shape[:2] == scores.shape[:2] == boxes.shape[:2]
        assert (ids.shape[2], scores.shape[2], boxes.shape[2]) == (1, 1, 4)
        assert set(np.unique(ids.asnumpy())) <= {-1., 0., 1.}
    gt_box = mx.nd.array([[[8, 8, 40, 40]]])
    gt_label = mx.nd.array([[[1]]])
    net.hybridize()     # a new graph for the training signature, as GluonCV's script does
    with autograd.train_mode():
        outs = net(x, gt_box, gt_label)
    cls_pred, box_pred = outs[0], outs[1]
    assert cls_pred.shape == (1, 32, 3)
    assert box_pred.shape[2:] == (2, 4)


def test_p6_conv_adds_gluoncv_parameters():
    extra = count_params(get_model(NAME, p6='conv'), (1, 3, 224, 224)) - 39821920
    assert extra == 256 * 256 * 9 + 256


@pytest.mark.parametrize('shape, match', [((1, 3, 100, 128), 'multiples of 32'),
                                          ((1, 1, 128, 128), r'\(N, 3, H, W\)'),
                                          ((1, 3, 32, 32), 'at least')])
def test_bad_input_shape_is_rejected_clearly(shape, match):
    net = get_model(NAME, classes=['a'])
    net.initialize()
    with pytest.raises(ValueError, match=match):
        net(mx.nd.zeros(shape))


@pytest.mark.parametrize('kwargs, match', [({'anchors': 'detectron'}, 'anchors'),
                                           ({'roi_align': 'v2'}, 'roi_align'),
                                           ({'p6': 'none'}, 'p6'),
                                           ({'frozen_stages': 5}, 'frozen_stages'),
                                           ({'classes': []}, 'classes'),
                                           ({'classes': ['a', 3]}, 'classes')])
def test_bad_arguments_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        get_model(NAME, **kwargs)


def test_missing_pretrained_base_says_how_to_convert(tmp_path):
    with pytest.raises(FileNotFoundError, match='convert_weights.py --model atkernel_resnet50'):
        get_model(NAME, pretrained_base=True, root=str(tmp_path))


def test_empty_rois_pool_to_zeros():
    """MXNet 1.9's CPU RoIAlign aborts on an empty aligned RoI and leaves RoIs with batch index
    -1 uninitialised; the detector pools neither way, so empty RoIs (w = x2 - x1 <= 0 for mmdet,
    x2 - x1 + 1 <= 0 for GluonCV) give exact zeros and the others their level's features."""
    feats = [mx.nd.ones((1, 2, 64 // s, 64 // s)) for s in (4, 8, 16, 32, 64)]
    for mode, empty in (('mmdet', [[0, 5, 5, 5, 5], [0, 3, 8, 3, 20]]),
                        ('gluoncv', [[0, 5, 5, 3, 3], [0, 3, 8, 1, 20]])):
        net = get_model(NAME, classes=['a'], roi_align=mode)
        rois = mx.nd.array(empty + [[0, 4, 4, 36, 36]])
        pooled = net._pyramid_roi_feats(mx.nd, feats, rois, (7, 7), net._strides).asnumpy()
        assert (pooled[:2] == 0).all(), mode
        np.testing.assert_allclose(pooled[2], 1, rtol=1e-6)
