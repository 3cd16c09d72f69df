"""The ACmix seed table's rows without released code: ACmix on SAN-10/15/19 and on PVT-T/S.

The layer is checked against SAN's SAM (its attention, golden-tested against upstream SAN)
plus a numpy transcription of ACmix's convolution path; the networks' counts and FLOPs against
the seed table, their growth over the base networks against the layers they add, and shapes,
features, backward and export."""
import mxnet as mx
import numpy as np
import pytest

from gluon_convattn.model_zoo import get_model
from gluon_convattn.nn.acmix_san import ACmixSAM
from gluon_convattn.nn.san import SAM
from gluon_convattn.utils import count_params
from gluon_convattn.utils.summary import summarize
from net_checks import assert_export_round_trip, outputs_and_grads
from test_acmix import _conv1x1, shift_conv_reference

# ACmix seed table (LeapLabTHU/ACmix README): parameters and FLOPs at 224 px.
SEED = {'acmix_san10': (12.1e6, 1.9e9), 'acmix_san15': (16.6e6, 2.7e9),
        'acmix_san19': (21.2e6, 3.4e9), 'acmix_pvt_tiny': (13e6, 2.0e9),
        'acmix_pvt_small': (25e6, 3.9e9)}
BASE = {'acmix_san10': 'san10_patchwise', 'acmix_san15': 'san15_patchwise',
        'acmix_san19': 'san19_patchwise', 'acmix_pvt_tiny': 'pvt_tiny',
        'acmix_pvt_small': 'pvt_small'}
SAN_LAYERS = {'acmix_san10': [2, 1, 2, 4, 1], 'acmix_san15': [3, 2, 3, 5, 2],
              'acmix_san19': [3, 3, 4, 6, 3]}
PVT_DEPTHS = {'acmix_pvt_tiny': [2, 2, 2, 2], 'acmix_pvt_small': [3, 4, 6, 3]}
NARROW_SAN = dict(base_channels=32)


def _randomize(block, rs):
    params = {}
    for name, param in block._collect_params_with_prefix().items():
        params[name] = rs.standard_normal(param.shape) * (0.5 if param.shape != (1,) else 1.0)
        param.set_data(mx.nd.array(params[name]))
    return params


@pytest.mark.parametrize('stride', [1, 2])
def test_acmix_sam_is_sam_plus_the_convolution_path(stride):
    rs = np.random.RandomState(stride)
    layer = ACmixSAM(1, 16, 4, 16, share_planes=4, kernel_size=3, stride=stride)
    layer.initialize()
    params = _randomize(layer, rs)
    sam = SAM(1, 16, 4, 16, share_planes=4, kernel_size=3, stride=stride)
    sam.initialize()
    for name, param in sam._collect_params_with_prefix().items():
        if name.endswith(('running_mean', 'running_var')):
            param.set_data(mx.nd.array(params[name] ** 2))
            layer._collect_params_with_prefix()[name].set_data(mx.nd.array(params[name] ** 2))
        else:
            param.set_data(mx.nd.array(params[name]))
    x = rs.standard_normal((2, 16, 8, 10))
    q, k, v = (_conv1x1(params, 'conv%d.' % i, x) for i in (1, 2, 3))
    conv = shift_conv_reference(params, q, k, _conv1x1(params, 'conv_v.', v), 1, 3, stride)
    expected = params['rate1'] * sam(mx.nd.array(x)).asnumpy() + params['rate2'] * conv
    assert expected.shape == (2, 16, 8 // stride, 10 // stride)
    got = layer(mx.nd.array(x)).asnumpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    layer.hybridize()
    np.testing.assert_allclose(layer(mx.nd.array(x)).asnumpy(), got, rtol=1e-5, atol=1e-5)


def test_acmix_sam_rejects_an_even_convolution_kernel():
    with pytest.raises(ValueError, match='kernel_conv'):
        ACmixSAM(1, 16, 4, 16, kernel_conv=4)


def _san_added(layers, base=64, share=8):
    """Parameters ACmixSAM adds to each SAM: conv_v (mid -> rel, bias), fc (3 -> 9), dep_conv
    (mid x 9 x 3 x 3) and the two rates."""
    widths = [base] + [base * 4 * 2 ** i for i in range(4)]
    total = 0
    for planes, blocks in zip(widths, layers):
        mid, rel = planes // 4, planes // 16
        total += blocks * (mid * rel + rel + 27 + mid * 81 + 2)
    return total


def _pvt_added(depths, dims=(64, 128, 320, 512), heads=(1, 2, 5, 8)):
    """Parameters ACmix adds to each PVT attention: fc (3 * heads -> 9, bias), dep_conv
    (dim x 9 x 3 x 3) and the two rates."""
    return sum(d * (3 * h * 9 + 9 + dim * 81 + 2) for d, dim, h in zip(depths, dims, heads))


@pytest.mark.parametrize('name', sorted(SEED))
def test_counts_meet_the_seed_table_and_grow_by_the_added_layers(name):
    count, base = count_params(get_model(name)), count_params(get_model(BASE[name]))
    added = _san_added(SAN_LAYERS[name]) if name in SAN_LAYERS else \
        _pvt_added(PVT_DEPTHS[name])
    assert count - base == added
    seed = SEED[name][0]
    if name in SAN_LAYERS:
        assert abs(count / seed - 1) <= 0.01, (count, seed)           # within 1%
    else:
        assert round(count / 1e6) == seed / 1e6, (count, seed)        # the table's rounding


@pytest.mark.parametrize('name', sorted(SEED))
def test_flops_meet_the_seed_table(name):
    """Multiply-adds at 224 px (utils.summary's count, traced from the graph: nothing runs)
    within 0.1G of the table."""
    assert abs(summarize(name)[-1].macs - SEED[name][1]) <= 0.1e9


def test_san_network_backward_reaches_every_parameter_and_hybridizes():
    net = get_model('acmix_san10', classes=4, **NARROW_SAN)
    net.initialize(mx.init.Xavier())
    runs = outputs_and_grads(net, mx.nd.random.normal(shape=(2, 3, 128, 128)))
    assert runs[0][0].shape == (2, 4)
    np.testing.assert_allclose(runs[1][0], runs[0][0], rtol=1e-4, atol=1e-5)
    # (imperative and hybridized gradients differ by up to ~2% here, as for san10_patchwise:
    # BatchNorm over a batch of 2 at 4x4 in the last stage amplifies float32 round-off)
    for _, grads in runs:
        for key, grad in grads.items():
            assert np.isfinite(grad).all() and np.abs(grad).max() > 0, key


@pytest.mark.parametrize('name', ['san10_patchwise', 'acmix_san10'])
def test_san_features_only(name):
    net = get_model(name, features_only=True, out_indices=(2, 4), **NARROW_SAN)
    net.initialize()
    assert net.feature_info == [{'num_chs': 256, 'reduction': 8, 'module': 'layer2'},
                                {'num_chs': 1024, 'reduction': 32, 'module': 'layer4'}]
    net.hybridize()
    features = net(mx.nd.random.normal(shape=(1, 3, 128, 160)))
    assert [f.shape for f in features] == [(1, 256, 16, 20), (1, 1024, 4, 5)]
    assert not hasattr(net, 'fc')


def test_san_features_only_rejects_bad_indices():
    with pytest.raises(ValueError, match='out_indices.*0..4'):
        get_model('acmix_san10', features_only=True, out_indices=(0, 5))


def test_san_export_round_trip(tmp_path):
    net = get_model('acmix_san10', classes=3, **NARROW_SAN)
    net.initialize(mx.init.Xavier())
    assert_export_round_trip(net, mx.nd.random.normal(shape=(1, 3, 128, 128)),
                             str(tmp_path / 'acmix_san10'), atol=1e-5)
