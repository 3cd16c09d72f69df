"""PVT v1 and ACmix-PVT: spatial-reduction attention (plain and with ACmix's convolution path)
against a numpy transcription of upstream's ``Attention``, the network's shapes, features,
input and argument checks, backward and export."""
import mxnet as mx
import numpy as np
import pytest

from gluon_convattn.model_zoo import get_model
from gluon_convattn.nn.pvt import SpatialReductionAttention
from net_checks import assert_export_round_trip, outputs_and_grads
from test_acmix import shift_conv_reference

NARROW = dict(img_size=64, embed_dims=[8, 16, 24, 32], num_heads=[1, 2, 3, 4],
              depths=[1, 1, 2, 1])


def _layer_norm(x, gamma, beta, eps):
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _dense(p, name, x):
    return x @ p[name + '.weight'].T + p[name + '.bias']


def _image(tokens, h, w):
    return tokens.transpose(0, 2, 1).reshape(tokens.shape[0], -1, h, w)


def sra_reference(p, x, h, w, heads, sr, cls_token, acmix):
    """Upstream's ``Attention.forward`` written out, plus ACmix's path over q and the repeated
    reduced k, v."""
    b, n, c = x.shape
    q = _dense(p, 'q', x)
    if sr > 1:
        img = _image(x, h, w)[:, :, :h // sr * sr, :w // sr * sr]   # the strided conv's floor
        img = img.reshape(b, c, h // sr, sr, w // sr, sr)
        red = np.einsum('ncyiXj,ocij->noyX', img, p['sr.weight'])
        red = red + p['sr.bias'].reshape(1, -1, 1, 1)
        red = _layer_norm(red.reshape(b, c, -1).transpose(0, 2, 1), p['norm.gamma'],
                          p['norm.beta'], 1e-5)
        kv = _dense(p, 'kv', red)
    else:
        kv = _dense(p, 'kv', x)
    k, v = kv[..., :c], kv[..., c:]
    split = lambda t: t.reshape(b, t.shape[1], heads, -1).transpose(0, 2, 1, 3)  # noqa: E731
    logits = split(q) @ split(k).transpose(0, 1, 3, 2) * (c // heads) ** -0.5
    att = np.exp(logits - logits.max(-1, keepdims=True))
    att /= att.sum(-1, keepdims=True)
    out = _dense(p, 'proj', (att @ split(v)).transpose(0, 2, 1, 3).reshape(b, n, c))
    if not acmix:
        return out
    grid = lambda t, hh, ww: _image(t[:, int(cls_token):], hh, ww)  # noqa: E731
    up = lambda t: np.repeat(np.repeat(grid(t, h // sr, w // sr), sr, 2), sr, 3)  # noqa: E731
    conv = shift_conv_reference(p, grid(q, h, w), up(k), up(v), heads, 3)
    conv = conv.reshape(b, c, -1).transpose(0, 2, 1)
    if cls_token:
        conv = np.concatenate([np.zeros((b, 1, c)), conv], 1)
    return p['rate1'] * out + p['rate2'] * conv


@pytest.mark.parametrize('dim,heads,h,w,sr,cls_token,acmix', [
    (8, 2, 8, 8, 4, False, False), (8, 2, 8, 8, 4, False, True), (6, 3, 4, 6, 2, False, True),
    (8, 4, 4, 4, 1, True, False), (8, 4, 4, 4, 1, True, True), (6, 2, 3, 5, 1, False, True),
    (4, 2, 5, 7, 2, False, False)])
def test_attention_matches_numpy_reference(dim, heads, h, w, sr, cls_token, acmix):
    rs = np.random.RandomState(dim * 10 + sr)
    layer = SpatialReductionAttention(dim, (h, w), heads, qkv_bias=True, sr_ratio=sr,
                                      cls_token=cls_token, acmix=acmix)
    layer.initialize()
    params = {}
    for name, param in layer._collect_params_with_prefix().items():
        params[name] = rs.standard_normal(param.shape) * (0.5 if param.shape != (1,) else 1.0)
        param.set_data(mx.nd.array(params[name]))
    x = rs.standard_normal((2, cls_token + h * w, dim))
    expected = sra_reference(params, x, h, w, heads, sr, cls_token, acmix)
    got = layer(mx.nd.array(x)).asnumpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    layer.hybridize()
    np.testing.assert_allclose(layer(mx.nd.array(x)).asnumpy(), got, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('kwargs,match', [
    (dict(dim=6, resolution=(4, 4), num_heads=4), 'multiple of num_heads'),
    (dict(dim=8, resolution=(6, 6), num_heads=2, sr_ratio=4, acmix=True), 'dividing'),
    (dict(dim=8, resolution=(4, 4), num_heads=2, sr_ratio=2, cls_token=True), 'class token'),
])
def test_attention_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SpatialReductionAttention(**kwargs)


# In the last block only the class token reaches the logits, and ACmix's convolution path
# gives the class token nothing: that block's fc, dep_conv and rate2 get no gradient from the
# classifier (they do from the features, below).
_LAST_CONV_PATH = ('block4.0.attn.fc.', 'block4.0.attn.dep_conv.', 'block4.0.attn.rate2')


@pytest.mark.parametrize('name', ['pvt_tiny', 'acmix_pvt_tiny'])
def test_network_backward_reaches_every_parameter_and_hybridizes(name):
    net = get_model(name, classes=5, drop_path_rate=0.0, **NARROW)
    net.initialize(mx.init.Normal(0.2))
    (out, grads), (out_hybrid, grads_hybrid) = outputs_and_grads(
        net, mx.nd.random.normal(shape=(2, 3, 64, 64)))
    assert out.shape == (2, 5)
    np.testing.assert_allclose(out_hybrid, out, rtol=1e-5, atol=1e-5)
    for key, grad in grads.items():
        assert np.isfinite(grad).all(), key
        assert (np.abs(grad).max() == 0) == key.startswith(_LAST_CONV_PATH), key
        np.testing.assert_allclose(grads_hybrid[key], grad, rtol=1e-4, atol=1e-6)


def test_features_backward_reaches_every_parameter():
    net = get_model('acmix_pvt_tiny', features_only=True, drop_path_rate=0.0, **NARROW)
    net.initialize(mx.init.Normal(0.2))
    net.hybridize()
    with mx.autograd.record():
        loss = sum((f ** 2).sum() for f in net(mx.nd.random.normal(shape=(2, 3, 64, 64))))
    loss.backward()
    for key, param in net._collect_params_with_prefix().items():
        grad = param.grad().asnumpy()
        assert np.isfinite(grad).all() and np.abs(grad).max() > 0, key


def test_acmix_pvt_with_rate2_zero_is_pvt():
    """ACmix leaves PVT's attention as it is: with rate1 = 1 and rate2 = 0 the network
    computes plain PVT on the same weights."""
    plain = get_model('pvt_tiny', classes=4, **NARROW)
    mixed = get_model('acmix_pvt_tiny', classes=4, **NARROW)
    plain.initialize(mx.init.Normal(0.2))
    mixed.initialize()
    shared = plain._collect_params_with_prefix()
    for key, param in mixed._collect_params_with_prefix().items():
        if key in shared:
            param.set_data(shared[key].data())
        elif key.endswith('rate1'):
            param.set_data(mx.nd.ones((1,)))
        elif key.endswith('rate2'):
            param.set_data(mx.nd.zeros((1,)))
    x = mx.nd.random.normal(shape=(1, 3, 64, 64))
    np.testing.assert_allclose(mixed(x).asnumpy(), plain(x).asnumpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('name', ['pvt_small', 'acmix_pvt_small'])
def test_features_only(name):
    net = get_model(name, features_only=True, out_indices=(0, 2, 3), **NARROW)
    net.initialize()
    assert [f['reduction'] for f in net.feature_info] == [4, 16, 32]
    assert [f['module'] for f in net.feature_info] == ['block1', 'block3', 'block4']
    net.hybridize()
    features = net(mx.nd.random.normal(shape=(2, 3, 64, 64)))
    assert [f.shape for f in features] == [(2, info['num_chs'], 64 // info['reduction'],
                                            64 // info['reduction'])
                                           for info in net.feature_info]
    assert [f['num_chs'] for f in net.feature_info] == [8, 24, 32]
    assert not hasattr(net, 'head')


def test_features_are_the_stage_outputs_the_classifier_reads():
    """The last feature map is the last stage's image tokens (class token removed)."""
    kwargs = dict(NARROW, drop_path_rate=0.0)
    full = get_model('pvt_tiny', classes=3, **kwargs)
    full.initialize(mx.init.Normal(0.2))
    features = get_model('pvt_tiny', features_only=True, **kwargs)
    features.initialize()
    shared = full._collect_params_with_prefix()
    for key, param in features._collect_params_with_prefix().items():
        param.set_data(shared[key].data())
    x = mx.nd.random.normal(shape=(1, 3, 64, 64))
    maps = features(x)
    assert len(maps) == 4
    cls = full.cls_token.data()                                   # (1, 1, C): a batch of one
    tokens = mx.nd.concat(cls, full.patch_embed4(maps[2]), dim=1) + full.pos_embed4.data()
    tokens = full.block4(tokens)
    np.testing.assert_allclose(maps[3].asnumpy().reshape(1, 32, -1).transpose(0, 2, 1),
                               tokens[:, 1:].asnumpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('kwargs,match', [
    (dict(img_size=60), 'multiple of patch_size'),
    (dict(out_indices=(0, 4)), 'out_indices'),
    (dict(out_indices=(1, 1)), 'out_indices'),
    (dict(depths=[2, 2, 2]), 'one per stage'),
])
def test_network_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        get_model('pvt_tiny', **kwargs)


def test_network_checks_the_construction_size():
    net = get_model('acmix_pvt_tiny', **NARROW)
    net.initialize()
    with pytest.raises(ValueError, match='built for 64x64.*img_size=96'):
        net(mx.nd.zeros((1, 3, 96, 96)))
    with pytest.raises(ValueError, match=r'\(N, 3, H, W\)'):
        net(mx.nd.zeros((1, 1, 64, 64)))


def test_export_round_trip(tmp_path):
    net = get_model('acmix_pvt_tiny', classes=4, **NARROW)
    net.initialize(mx.init.Normal(0.2))
    assert_export_round_trip(net, mx.nd.random.normal(shape=(2, 3, 64, 64)),
                             str(tmp_path / 'acmix_pvt'), atol=1e-5)
