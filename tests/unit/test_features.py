"""``features_only=True`` / ``out_indices`` for every family: shapes, ``feature_info``, and that a
features network given the classifier's weights computes the classifier's feature maps."""
import mxnet as mx
import numpy as np
import pytest

from gluon_convattn.model_zoo import get_model

NARROW_SAN = dict(base_channels=32, share_planes=4)
NARROW_SWIN = dict(img_size=64, embed_dim=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4],
                   window_size=2)
NARROW_PVT = dict(img_size=64, embed_dims=[8, 16, 24, 32], num_heads=[1, 2, 3, 4],
                  depths=[1, 1, 1, 1])


def _trunk_head(net, f):
    return net.fc(net.flat(net.avgpool(f)))


def _san_head(net, f):
    return net.fc(mx.nd.flatten(net.avgpool(f)))


def _mobilenet_head(net, f):
    for layer in list(net.features)[20:]:      # last 1x1 layer, BN, ReLU6, pooling
        f = layer(f)
    return net.output(f)


def _swin_head(net, f):
    tokens = f.reshape((0, 0, -1)).transpose((0, 2, 1))
    return net.head(mx.nd.mean(net.norm(tokens), axis=1))


# name, constructor arguments, input side, stage count, default indices, head on the last stage
CASES = [
    ('resnet50_v1b_atac', {}, 64, 4, (0, 1, 2, 3), _trunk_head),
    ('acmix_resnet26', {'impl': 'composite'}, 128, 4, (0, 1, 2, 3), _trunk_head),
    ('karesnet50_l', {}, 64, 4, (0, 1, 2, 3), _trunk_head),
    ('karesnext50_32x4d_l', {}, 64, 4, (0, 1, 2, 3), _trunk_head),
    ('atkernel_resnet50', {}, 64, 4, (0, 1, 2, 3), _trunk_head),
    ('atkernel_resnet26_tiny', {}, 32, 4, (0, 1, 2, 3), _trunk_head),
    ('san10_pairwise', NARROW_SAN, 128, 5, (1, 2, 3, 4), _san_head),
    ('kamobilenetv2_0.5_l', {}, 64, 5, (1, 2, 3, 4), _mobilenet_head),
    ('acmix_swin_tiny', NARROW_SWIN, 64, 4, (0, 1, 2, 3), _swin_head),
    ('acmix_san10', NARROW_SAN, 128, 5, (1, 2, 3, 4), _san_head),
]
IDS = [c[0] for c in CASES]
# PVT's classifier reads the class token, which its feature maps do not carry: that its last
# map is the classifier's last-stage image tokens is tested in test_pvt.py.
PVT_CASES = [(name, NARROW_PVT, 64, 4, (0, 1, 2, 3), None)
             for name in ('pvt_tiny', 'acmix_pvt_tiny')]
ALL_CASES, ALL_IDS = CASES + PVT_CASES, IDS + [c[0] for c in PVT_CASES]
KEYS = {'num_chs', 'reduction', 'module'}


def _check_outputs(net, outputs, side):
    assert isinstance(outputs, list) and len(outputs) == len(net.feature_info)
    for out, info in zip(outputs, net.feature_info):
        assert set(info) == KEYS
        assert out.shape == (2, info['num_chs'], side // info['reduction'],
                             side // info['reduction']), info


@pytest.mark.parametrize('name,kwargs,side,stages,default,head', ALL_CASES, ids=ALL_IDS)
def test_default_features_are_the_reductions_4_to_32(name, kwargs, side, stages, default, head):
    net = get_model(name, features_only=True, **kwargs)
    assert net.out_indices == default
    reductions = [i['reduction'] for i in net.feature_info]
    first = 1 if name == 'atkernel_resnet26_tiny' else 4     # the 3x3/1 stem keeps the size
    assert reductions == [first * 2 ** i for i in range(4)]
    channels = [i['num_chs'] for i in net.feature_info]
    assert channels == sorted(channels) and len(set(channels)) == 4
    net.initialize()
    x = mx.nd.random.normal(shape=(2, 3, side, side))
    outputs = net(x)
    _check_outputs(net, outputs, side)
    net.hybridize()
    for a, b in zip(outputs, net(x)):
        np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('name,kwargs,side,stages,default,head', CASES, ids=IDS)
def test_features_compute_the_classifiers_stages(name, kwargs, side, stages, default, head,
                                                 tmp_path):
    """A features network loads the classifier's file (its head ignored); its deepest output
    through the classifier's head gives the classifier's logits."""
    full = get_model(name, classes=7, **kwargs)
    full.initialize(mx.init.Xavier())
    x = mx.nd.random.normal(shape=(2, 3, side, side))
    logits = full(x)
    path = str(tmp_path / 'full.params')
    full.save_parameters(path)
    last = stages - 1
    net = get_model(name, pretrained=path, features_only=True, out_indices=(last,), **kwargs)
    outputs = net(x)
    _check_outputs(net, outputs, side)
    np.testing.assert_allclose(head(full, outputs[0]).asnumpy(), logits.asnumpy(), rtol=1e-4,
                               atol=1e-5)


@pytest.mark.parametrize('name,kwargs,side,stages,default,head', ALL_CASES, ids=ALL_IDS)
def test_out_indices_pick_stages_and_later_ones_are_not_built(name, kwargs, side, stages,
                                                              default, head):
    every = get_model(name, features_only=True, out_indices=tuple(range(stages)), **kwargs)
    assert len(every.feature_info) == stages
    picked = get_model(name, features_only=True, out_indices=(0, 2), **kwargs)
    assert picked.feature_info == [every.feature_info[0], every.feature_info[2]]
    picked.initialize()
    _check_outputs(picked, picked(mx.nd.random.normal(shape=(2, 3, side, side))), side)
    assert len(picked.collect_params().keys()) < len(every.collect_params().keys())


@pytest.mark.parametrize('out_indices', [(4,), (0, 0), (), (-1,), ('a',)])
def test_bad_out_indices_name_the_valid_range(out_indices):
    with pytest.raises(ValueError, match='out_indices must be'):
        get_model('karesnet50_l', features_only=True, out_indices=out_indices)


def test_classifier_keeps_feature_info_of_its_stages():
    net = get_model('resnet50_v1b_atac')
    assert [i['num_chs'] for i in net.feature_info] == [256, 512, 1024, 2048]
    assert get_model('resnet50_v1b_atac', dilated=True).feature_info[3]['reduction'] == 8
