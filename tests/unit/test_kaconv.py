"""KAConv, AGL, AGH and the KAConv networks.

The fused layer is checked against two references fed the same upstream-style per-tap weights:
a numpy transcription of the layer's definition (eval mode) and the per-branch MXNet form
(``scripts/benchmarks/kaconv.py``: one padded-and-cropped strided 1x1 convolution, BatchNorm
and ReLU per tap, one attention output layer per tap), forward and backward, training and
inference mode, imperative and hybridized, in float64.
"""
import math
import os
import sys

import mxnet as mx
import numpy as np
import pytest

from gluon_convattn.convert.kaconv import fuse_kaconv
from gluon_convattn.model_zoo import get_model
from gluon_convattn.model_zoo.kaconv import KAMobileNetV2, KAResNet
from gluon_convattn.nn.kaconv import AGH, AGL, KAConv

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'scripts'))
from benchmarks.kaconv import PerBranchKAConv  # noqa: E402

SMALL_AG = dict(reduction=2, min_width=3)


def _upstream_style(block):
    """A per-branch block's parameters under upstream's names (BN gamma/beta -> weight/bias)."""
    return {k.replace('.gamma', '.weight').replace('.beta', '.bias'): p.data().asnumpy()
            for k, p in block._collect_params_with_prefix().items()}


def _random_pair(in_channels, channels, dtype='float64', **kwargs):
    """A per-branch KAConv with random weights and BN statistics, and ours holding the same."""
    ref = PerBranchKAConv(in_channels, channels, **kwargs)
    ref.initialize(mx.init.Normal(0.5))
    rs = np.random.RandomState(7)
    for name, p in ref._collect_params_with_prefix().items():
        if name.endswith('running_var'):
            p.set_data(mx.nd.array(rs.uniform(0.5, 1.5, p.shape)))
        elif name.endswith('running_mean'):
            p.set_data(mx.nd.array(rs.normal(0, 0.3, p.shape)))
    ours = KAConv(in_channels, channels, **kwargs)
    ours.initialize()
    fused = fuse_kaconv(_upstream_style(ref), ag=kwargs['ag'])
    params = ours._collect_params_with_prefix()
    assert sorted(fused) == sorted(params)
    for name, value in fused.items():
        params[name].set_data(mx.nd.array(value))
    ref.cast(dtype)
    ours.cast(dtype)
    return ref, ours


def _forward_backward(net, x, train):
    x = x.copy()
    x.attach_grad()
    with mx.autograd.record(train_mode=train):
        y = net(x)
        loss = (y * mx.nd.sin(mx.nd.arange(y.size, dtype=y.dtype)).reshape(y.shape)).sum()
    loss.backward()
    grads = {k: (p.grad().asnumpy() if p.grad_req != 'null' else p.data().asnumpy())
             for k, p in net._collect_params_with_prefix().items()}
    return y.asnumpy(), x.grad.asnumpy(), grads


CONFIGS = [  # kernel_size, strides, dilation, groups, ag, hybridize
    (3, 1, 1, 1, 'L', False), (3, 1, 1, 1, 'H', True), (3, 2, 1, 1, 'L', True),
    (3, 2, 1, 1, 'H', False), (5, 3, 1, 1, 'L', False), (3, 2, 2, 1, 'H', False),
    (1, 1, 1, 1, 'L', False), (5, 1, 1, 2, 'H', False), (3, 2, 1, 4, 'L', False),
    (3, 1, 1, 8, 'H', False), (3, 2, 1, 8, 'L', True), (3, 3, 2, 2, 'L', False),
]


@pytest.mark.parametrize('k,s,d,g,ag,hybridize', CONFIGS)
def test_fused_equals_per_branch(k, s, d, g, ag, hybridize):
    ref, ours = _random_pair(8, 8, kernel_size=k, strides=s, dilation=d, groups=g, ag=ag,
                             **SMALL_AG)
    if hybridize:
        ref.hybridize()
        ours.hybridize()
    x = mx.nd.array(np.random.RandomState(1).standard_normal((3, 8, 7, 10)), dtype='float64')
    for train in (True, False):
        y_ref, dx_ref, grads_ref = _forward_backward(ref, x, train)
        y, dx, grads = _forward_backward(ours, x, train)
        assert y.shape == (3, 8, math.ceil(7 / s), math.ceil(10 / s))
        np.testing.assert_allclose(y, y_ref, rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(dx, dx_ref, rtol=1e-9, atol=1e-11)
        fused_grads = fuse_kaconv({k.replace('.gamma', '.weight').replace('.beta', '.bias'): v
                                   for k, v in grads_ref.items()}, ag=ag)
        for name, p in ours._collect_params_with_prefix().items():
            if p.grad_req != 'null':
                np.testing.assert_allclose(grads[name], fused_grads[name], rtol=1e-9,
                                           atol=1e-11, err_msg=name)


def _np_kaconv(x, w, k, s, d, g, ag, eps=1e-5):
    """The layer's definition in numpy, eval mode, from upstream-style per-tap weights."""
    n, cin, h, wd = x.shape
    p = (k // 2) * d
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))

    def bn(t, pre, axis=1):
        shape = [1] * t.ndim
        shape[axis] = -1
        scale = w[pre + 'weight'] / np.sqrt(w[pre + 'running_var'] + eps)
        return ((t - w[pre + 'running_mean'].reshape(shape)) * scale.reshape(shape)
                + w[pre + 'bias'].reshape(shape))

    feats = []
    for b in range(k * k):
        a, c = (b // k) * d, (b % k) * d
        xs = xp[:, :, a:a + h, c:c + wd][:, :, ::s, ::s]
        wt = w['convs.%d.1.weight' % b][:, :, 0, 0]
        cout = wt.shape[0]
        out = np.concatenate([np.einsum('oi,nihw->nohw', wt[j * cout // g:(j + 1) * cout // g],
                                        xs[:, j * cin // g:(j + 1) * cin // g])
                              for j in range(g)], axis=1)
        feats.append(np.maximum(bn(out, 'convs.%d.2.' % b), 0))
    pooled = np.stack([f.mean(axis=(2, 3)) for f in feats], axis=2)          # (N, C, B)
    fc = w['agg.fc.0.weight']
    if ag == 'L':
        hidden = np.maximum(bn(np.einsum('lcb,ncb->nl', fc[..., 0], pooled), 'agg.fc.1.'), 0)
        logits = [hidden @ w['agg.fcs.%d.weight' % b][:, :, 0, 0].T for b in range(k * k)]
    else:
        hidden = np.maximum(bn(np.einsum('lc,ncb->nlb', fc[:, :, 0, 0], pooled), 'agg.fc.1.'), 0)
        logits = [np.einsum('clb,nlb->nc', w['agg.fcs.%d.weight' % b][..., 0], hidden)
                  for b in range(k * k)]
    logits = np.stack([z + w['agg.fcs.%d.bias' % b] for b, z in enumerate(logits)], axis=2)
    att = np.exp(logits - logits.max(axis=2, keepdims=True))
    att /= att.sum(axis=2, keepdims=True)
    return sum(f * att[:, :, b, None, None] for b, f in enumerate(feats))


@pytest.mark.parametrize('k,s,d,g,ag', [(3, 1, 1, 1, 'L'), (3, 2, 1, 2, 'H'),
                                        (5, 2, 1, 1, 'H'), (3, 3, 2, 4, 'L')])
def test_matches_numpy_definition(k, s, d, g, ag):
    ref, ours = _random_pair(8, 12, kernel_size=k, strides=s, dilation=d, groups=g, ag=ag,
                             **SMALL_AG)
    x = np.random.RandomState(2).standard_normal((2, 8, 9, 6))
    expected = _np_kaconv(x, _upstream_style(ref), k, s, d, g, ag)
    got = ours(mx.nd.array(x, dtype='float64')).asnumpy()
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize('ag_class', [AGL, AGH])
def test_attention_is_a_softmax_over_taps(ag_class):
    ag = ag_class(40, branches=9)
    ag.initialize(mx.init.Normal(0.1))
    assert ag.width == 32 and ag_class(1024).width == 64
    weights = ag(mx.nd.random.normal(shape=(3, 40, 9))).asnumpy()
    assert weights.shape == (3, 40, 9) and (weights > 0).all()
    np.testing.assert_allclose(weights.sum(axis=2), 1.0, rtol=1e-5)
    assert weights.std(axis=2).min() > 1e-4         # not uniform: it depends on its input


@pytest.mark.parametrize('kwargs,match', [
    (dict(kernel_size=4), 'kernel_size must be odd'),
    (dict(kernel_size=0), 'kernel_size must be an int >= 1'),
    (dict(groups=3), 'groups=3 must divide in_channels=8'),
    (dict(ag='M'), "ag must be one of 'L', 'H'"),
    (dict(strides=0), 'strides must be an int >= 1'),
])
def test_constructor_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        KAConv(8, 16, **kwargs)


def test_constructor_rejects_channels_not_divisible_by_groups():
    with pytest.raises(ValueError, match='groups=4 must divide channels=6'):
        KAConv(8, 6, groups=4)
    with pytest.raises(ValueError, match='min_width must be an int >= 1'):
        AGL(16, min_width=0)


def test_forward_rejects_wrong_input_shape():
    layer = KAConv(8, 8)
    layer.initialize()
    with pytest.raises(ValueError, match=r'takes \(N, 8, H, W\) inputs, got \(2, 4, 5, 5\)'):
        layer(mx.nd.zeros((2, 4, 5, 5)))
    with pytest.raises(ValueError, match='got \\(8, 5, 5\\)'):
        layer(mx.nd.zeros((8, 5, 5)))


@pytest.mark.parametrize('name', ['karesnet50_h', 'kamobilenetv2_0.5_l'])
def test_networks_reject_bad_images(name):
    net = get_model(name, classes=10)
    net.initialize()
    with pytest.raises(ValueError, match=r'\(N, 3, H, W\)'):
        net(mx.nd.zeros((1, 1, 64, 64)))
    with pytest.raises(ValueError, match='at least 32x32'):
        net(mx.nd.zeros((1, 3, 16, 64)))


def test_network_constructors_reject_bad_arguments():
    with pytest.raises(ValueError, match="ag must be one of"):
        KAResNet([3, 4, 6, 3], ag='h')
    with pytest.raises(ValueError, match='cardinality must be an int >= 1'):
        KAResNet([3, 4, 6, 3], cardinality=0)
    with pytest.raises(ValueError, match='multiplier must be a number'):
        KAMobileNetV2(0.01)


def test_paper_network_runs_hybridized_and_exports(tmp_path):
    net = get_model('kamobilenetv2_0.5_l', classes=7)
    net.initialize(mx.init.Xavier())
    x = mx.nd.random.normal(shape=(2, 3, 32, 32))
    eager = net(x).asnumpy()
    net.hybridize()
    hybrid = net(x).asnumpy()
    assert eager.shape == (2, 7) and np.isfinite(eager).all()
    np.testing.assert_allclose(hybrid, eager, rtol=1e-4, atol=1e-5)
    prefix = str(tmp_path / 'net')
    net.export(prefix)
    loaded = mx.gluon.SymbolBlock.imports(prefix + '-symbol.json', ['data'],
                                          prefix + '-0000.params')
    np.testing.assert_allclose(loaded(x).asnumpy(), eager, rtol=1e-4, atol=1e-5)


def test_paper_network_layouts():
    """Grouped KAConv (32 groups, 2x ResNet's width) in ResNeXt; depthwise KAConv on the
    expanded channels in MobileNetV2; no BatchNorm after KAConv (it normalises itself)."""
    next50 = get_model('karesnext50_32x4d_l')
    conv2 = next50.layer1[0].conv2
    assert (conv2._in_channels, conv2._groups, next50.layer1[0].bn2) == (128, 32, None)
    assert next50.layer4[0].conv2._channels == 1024
    mobile = get_model('kamobilenetv2_1.0_h')
    first, second = mobile.features[3], mobile.features[4]      # t = 1, then t = 6 stride 2
    nn = mx.gluon.nn
    assert [type(b) for b in first.out] == [KAConv, nn.Conv2D, nn.BatchNorm]
    assert [type(b) for b in second.out] == [nn.Conv2D, nn.BatchNorm, nn.HybridLambda, KAConv,
                                             nn.Conv2D, nn.BatchNorm]
    kaconv = second.out[3]
    assert (kaconv._channels, kaconv._groups, kaconv._stride) == (96, 96, 2)


@pytest.mark.parametrize('ag', ['L', 'H'])
@pytest.mark.parametrize('hybridize', [False, True])
def test_float32_training_step_reaches_every_parameter(ag, hybridize):
    """float32 runs through MKL-DNN, which the float64 comparisons above never reach (its
    backward once failed for AG-H: a 1-D convolution followed by BatchNorm)."""
    layer = KAConv(16, 16, kernel_size=3, strides=1, ag=ag)
    layer.initialize(mx.init.Xavier())
    if hybridize:
        layer.hybridize()
    x = mx.nd.random.normal(shape=(2, 16, 8, 8))
    with mx.autograd.record():
        loss = (layer(x) * mx.nd.random.normal(shape=(2, 16, 8, 8))).sum()
    loss.backward()
    for name, param in layer.collect_params().items():
        if param.grad_req != 'null':
            grad = param.grad().asnumpy()
            assert np.isfinite(grad).all() and np.abs(grad).max() > 0, name
