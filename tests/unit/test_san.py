"""SAN: the SAM layer against a numpy reference, the bottleneck, the network and its checks."""
import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon.block import HybridBlock

from gluon_convattn.model_zoo import get_model, get_model_info, get_model_list
from gluon_convattn.model_zoo.san import SAN
from gluon_convattn.nn import SAM, SANBottleneck

BN_EPS = 1e-5
SMALL = dict(base_channels=32)       # stages of 32..512 channels instead of 64..1024


# ---------------------------------------------------------------- numpy reference of the SAM
def _conv1x1(p, prefix, x):
    out = np.einsum('oi,ni...->no...', p[prefix + 'weight'][:, :, 0, 0], x)
    bias = p.get(prefix + 'bias')
    return out if bias is None else out + bias.reshape((1, -1) + (1,) * (x.ndim - 2))


def _bn(p, prefix, x):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    scale = p[prefix + 'gamma'] / np.sqrt(p[prefix + 'running_var'] + BN_EPS)
    return ((x - p[prefix + 'running_mean'].reshape(shape)) * scale.reshape(shape)
            + p[prefix + 'beta'].reshape(shape))


def _taps(x, k, stride, dilation):
    """(N, C, k*k, Ho*Wo) window taps of reflection-padded x and (N, C, Ho*Wo) window centres."""
    pad = (dilation * (k - 1) + 1) // 2
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode='reflect')
    ho = (x.shape[2] - 1) // stride + 1
    wo = (x.shape[3] - 1) // stride + 1
    taps = np.stack([padded[:, :, i * dilation:i * dilation + (ho - 1) * stride + 1:stride,
                            j * dilation:j * dilation + (wo - 1) * stride + 1:stride]
                     for i in range(k) for j in range(k)], axis=2)
    centre = x[:, :, ::stride, ::stride]
    return taps.reshape(taps.shape[:3] + (-1,)), centre.reshape(centre.shape[:2] + (-1,)), ho, wo


def _conv_w(p, x):
    x = np.maximum(_bn(p, 'conv_w.0.', x), 0)
    x = np.maximum(_bn(p, 'conv_w.3.', _conv1x1(p, 'conv_w.2.', x)), 0)
    return _conv1x1(p, 'conv_w.5.', x)


def sam_reference(p, x, sa_type, k, stride, dilation):
    """SAN's SAM in numpy: reflection padding, inference-mode BatchNorm."""
    n, _, h, w = x.shape
    x1, x2, x3 = (_conv1x1(p, 'conv%d.' % i, x) for i in (1, 2, 3))
    taps2, _, ho, wo = _taps(x2, k, stride, dilation)
    centre1 = _taps(x1, k, stride, dilation)[1]
    if sa_type == 0:
        grid = np.stack(np.meshgrid(np.linspace(-1, 1, w), np.linspace(-1, 1, h)))[None]
        pos_taps, pos_centre, _, _ = _taps(_conv1x1(p, 'conv_p.', grid), k, stride, dilation)
        relation = np.concatenate([centre1[:, :, None] - taps2,
                                   np.repeat(pos_centre[:, :, None] - pos_taps, n, 0)], 1)
        logits = _conv_w(p, relation)
        weights = np.exp(logits - logits.max(2, keepdims=True))
        weights /= weights.sum(2, keepdims=True)
    else:
        patch = np.concatenate([centre1[:, :, None], taps2.reshape(n, -1, 1, ho * wo)], 1)
        weights = _conv_w(p, patch).reshape(n, -1, k * k, ho * wo)
    taps3 = _taps(x3, k, stride, dilation)[0]
    cw = weights.shape[1]
    out = (taps3.reshape(n, -1, cw, k * k, ho * wo) * weights[:, None]).sum(3)
    return out.reshape(n, -1, ho, wo)


def _randomize(block, rs):
    params = {}
    for name, param in block._collect_params_with_prefix().items():
        if name.endswith('running_var'):
            value = rs.uniform(0.5, 1.5, param.shape)
        elif name.endswith('gamma'):
            value = rs.uniform(0.5, 1.5, param.shape)
        else:
            value = rs.standard_normal(param.shape) * 0.5
        param.set_data(mx.nd.array(value))
        params[name] = value
    return params


SAM_CASES = [  # sa_type, kernel, stride, dilation
    (0, 3, 1, 1), (1, 3, 1, 1), (0, 5, 2, 1), (1, 3, 2, 1), (1, 5, 1, 2), (0, 3, 2, 2)]


@pytest.mark.parametrize('sa_type,k,stride,dilation', SAM_CASES)
def test_sam_matches_numpy_reference(sa_type, k, stride, dilation):
    rs = np.random.RandomState(k * 10 + stride + sa_type)
    layer = SAM(sa_type, 6, 3, 16, share_planes=8, kernel_size=k, stride=stride,
                dilation=dilation)
    layer.initialize()
    params = _randomize(layer, rs)
    x = rs.standard_normal((2, 6, 7, 8))
    expected = sam_reference(params, x, sa_type, k, stride, dilation)
    ho, wo = (7 - 1) // stride + 1, (8 - 1) // stride + 1
    assert expected.shape == (2, 16, ho, wo)
    got = layer(mx.nd.array(x)).asnumpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    layer.hybridize()
    np.testing.assert_allclose(layer(mx.nd.array(x)).asnumpy(), got, rtol=1e-5, atol=1e-5)


def test_sam_pairwise_weights_are_a_softmax_over_the_window():
    """A constant value map comes back unchanged from pairwise attention (weights sum to one)."""
    layer = SAM(0, 4, 2, 8, share_planes=4, kernel_size=3)
    layer.initialize(mx.init.Normal(1.0))
    layer.conv3.weight.set_data(mx.nd.zeros(layer.conv3.weight.shape))
    layer.conv3.bias.set_data(mx.nd.arange(8))
    out = layer(mx.nd.random.normal(shape=(1, 4, 5, 5))).asnumpy()
    np.testing.assert_allclose(out, np.broadcast_to(np.arange(8.)[None, :, None, None],
                                                    out.shape), rtol=1e-5)


@pytest.mark.parametrize('kwargs,match', [
    (dict(sa_type=2), 'sa_type'),
    (dict(kernel_size=4), 'kernel_size'),
    (dict(kernel_size=0), 'kernel_size'),
    (dict(out_planes=12), 'share_planes'),
    (dict(stride=0), 'stride'),
    (dict(rel_planes=1.5), 'rel_planes'),
    (dict(impl='cuda'), 'impl'),
])
def test_sam_rejects_bad_arguments(kwargs, match):
    args = dict(sa_type=0, in_planes=8, rel_planes=2, out_planes=16, share_planes=8)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        SAM(**args)


def test_sam_too_small_for_reflection_padding():
    layer = SAM(1, 4, 2, 8, kernel_size=7)
    layer.initialize()
    with pytest.raises(ValueError, match='reflection padding'):
        layer(mx.nd.zeros((1, 4, 3, 3)))


def test_bottleneck_is_residual_and_keeps_shape():
    block = SANBottleneck(1, 32, kernel_size=3)
    block.initialize(mx.init.Normal(0.5))
    x = mx.nd.random.normal(shape=(2, 32, 6, 6))
    assert block(x).shape == x.shape
    block.conv.weight.set_data(mx.nd.zeros(block.conv.weight.shape))
    block.conv.bias.set_data(mx.nd.zeros(block.conv.bias.shape))
    np.testing.assert_allclose(block(x).asnumpy(), x.asnumpy())


def test_bottleneck_rejects_too_few_planes():
    with pytest.raises(ValueError, match='planes'):
        SANBottleneck(0, 8)


# ---------------------------------------------------------------- the network
@pytest.fixture(scope='module')
def small_nets():
    nets = {}
    for sa_type in (0, 1):
        net = SAN(sa_type, [1, 1, 1, 1, 1], classes=10, **SMALL)
        net.initialize(mx.init.Xavier())
        nets[sa_type] = net
    return nets


@pytest.mark.filterwarnings('ignore:Cannot decide type')   # SymbolBlock.imports on 'data'
@pytest.mark.parametrize('sa_type', [0, 1])
def test_network_imperative_equals_hybridized_and_exports(sa_type, small_nets, tmp_path):
    net = small_nets[sa_type]
    x = mx.nd.random.normal(shape=(2, 3, 128, 160), scale=0.1)
    eager = net(x).asnumpy()
    assert eager.shape == (2, 10) and np.isfinite(eager).all()
    net.hybridize()
    try:
        np.testing.assert_allclose(net(x).asnumpy(), eager, rtol=1e-4, atol=1e-5)
        prefix = str(tmp_path / 'san')
        net.export(prefix)
    finally:
        net.hybridize(False)
    imported = mx.gluon.SymbolBlock.imports(prefix + '-symbol.json', ['data'],
                                            prefix + '-0000.params')
    np.testing.assert_allclose(imported(x).asnumpy(), eager, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('sa_type', [0, 1])
def test_network_backward_reaches_every_parameter(sa_type, small_nets):
    net = small_nets[sa_type]
    x = mx.nd.random.normal(shape=(2, 3, 128, 128), scale=0.1)
    with mx.autograd.record():
        loss = net(x).sum()
    loss.backward()
    for name, param in net.collect_params().items():
        if param.grad_req == 'null':
            continue
        grad = param.grad().asnumpy()
        assert np.isfinite(grad).all(), name
        assert np.abs(grad).max() > 0, name


def test_network_input_checks(small_nets):
    net = small_nets[0]
    with pytest.raises(ValueError, match=r'at least 128x128 \(e\.g\. 224x224\), got 127x128'):
        net(mx.nd.zeros((1, 3, 127, 128)))
    with pytest.raises(ValueError, match=r'\(N, 3, H, W\)'):
        net(mx.nd.zeros((1, 1, 128, 128)))
    with pytest.raises(ValueError, match=r'\(N, 3, H, W\)'):
        net(mx.nd.zeros((3, 128, 128)))


def test_min_size_is_the_smallest_size_that_works(small_nets):
    """Below 128 px the last stage (4x4 features, padding 3) cannot reflect-pad the 7x7 window:
    bypassing the network's check lets the window operator refuse it."""
    net = small_nets[1]
    assert net.min_size == 128
    with pytest.raises(ValueError, match='reflection padding'):
        HybridBlock.forward(net, mx.nd.zeros((1, 3, 127, 127)))
    assert net(mx.nd.zeros((1, 3, 128, 128))).shape == (1, 10)


def test_registered_models():
    names = [n for n in get_model_list() if get_model_info(n).family == 'SAN']
    assert sorted(names) == sorted('san%d_%s' % (d, t) for d in (10, 15, 19)
                                   for t in ('pairwise', 'patchwise'))
    for name in names:
        info = get_model_info(name)
        assert (info.input_size, info.min_size) == (224, 128)
        net = get_model(name, classes=7)
        assert net.min_size == info.min_size
        assert net.fc.weight.shape == (7, 2048)
        assert net.layer0[0].sam.sa_type == (1 if name.endswith('patchwise') else 0)


@pytest.mark.parametrize('kwargs,match', [
    (dict(sa_type=3), 'sa_type'),
    (dict(layers=[1, 1, 1, 1]), 'layers'),
    (dict(layers=[1, 1, -1, 1, 1]), 'layers'),
    (dict(kernels=[3, 7, 7, 7]), 'kernels'),
    (dict(kernels=[3, 7, 6, 7, 7]), 'kernels'),
    (dict(base_channels=24), 'base_channels'),
    (dict(classes=0), 'classes'),
    (dict(impl='fast'), 'impl'),
])
def test_network_rejects_bad_arguments(kwargs, match):
    args = dict(sa_type=0, layers=[1, 1, 1, 1, 1])
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        SAN(**args)


def test_min_size_follows_the_kernels():
    assert SAN(0, [1] * 5, kernels=[3, 3, 3, 3, 3], **SMALL).min_size == 64
    assert SAN(0, [1] * 5, kernels=[9, 3, 3, 3, 3], **SMALL).min_size == 64
    assert SAN(0, [1] * 5, kernels=[3, 3, 3, 3, 9], **SMALL).min_size == 160
