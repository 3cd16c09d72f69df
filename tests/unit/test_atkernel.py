"""AT kernel layer, AT-kernel ResNets and the AT-kernel converter (numpy references)."""
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd
from mxnet.gluon import nn

from gluon_convattn import ops
from gluon_convattn.convert import ConversionError
from gluon_convattn.convert.atkernel import convert_atkernel
from gluon_convattn.model_zoo import get_model, get_model_info
from gluon_convattn.model_zoo.atkernel import ResNetATKernel
from gluon_convattn.nn import ATKernel
from gluon_convattn.nn.atkernel import CentreTapsConv, ChannelGroupNorm, GroupNormAggregation
from gluon_convattn.utils import count_params, param_shapes

EPS = 1e-5


# ---------------------------------------------------------------- numpy reference of upstream's
# AT_kernel definition: Q repeated over the taps, concatenated with the unfolded K, MLP, GN,
# V unfolded, product summed over taps and group channels.

def _conv1x1(x, w, b=None):
    out = np.einsum('oc,nc...->no...', w[:, :, 0, 0], x)
    if b is not None:
        out += b.reshape((1, -1) + (1,) * (x.ndim - 2))
    return out


def _bn(x, p, prefix):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    scale = p[prefix + 'gamma'] / np.sqrt(p[prefix + 'running_var'] + EPS)
    return ((x - p[prefix + 'running_mean'].reshape(shape)) * scale.reshape(shape)
            + p[prefix + 'beta'].reshape(shape))


def _unfold(x, k):
    n, c, h, w = x.shape
    pad = (k - 1) // 2
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    return np.stack([xp[:, :, i:i + h, j:j + w] for i in range(k) for j in range(k)], axis=2)


def _group_norm(x, groups, gamma, beta):
    n, c = x.shape[:2]
    g = x.reshape(n, groups, -1)
    g = (g - g.mean(axis=2, keepdims=True)) / np.sqrt(g.var(axis=2, keepdims=True) + EPS)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return g.reshape(x.shape) * gamma.reshape(shape) + beta.reshape(shape)


def at_kernel_reference(x, p, k, stride, channels, group_channels):
    if stride > 1:
        n, c, h, w = x.shape
        x = x[:, :, :h // stride * stride, :w // stride * stride]
        x = x.reshape(n, c, h // stride, stride, w // stride, stride).mean(axis=(3, 5))
    keys = _unfold(np.maximum(_bn(_conv1x1(x, p['emb_k.0.weight']), p, 'emb_k.1.'), 0), k)
    query = np.repeat(x[:, :, None], k * k, axis=2)
    hidden = _conv1x1(np.concatenate([query, keys], axis=1), p['mlp.0.weight'], p['mlp.0.bias'])
    hidden = np.maximum(_bn(hidden, p, 'mlp.1.'), 0)
    attn = _group_norm(_conv1x1(hidden, p['mlp.3.weight'], p['mlp.3.bias']), channels,
                       p['mlp.4.gamma'], p['mlp.4.beta'])
    values = _unfold(_bn(_conv1x1(x, p['emb_v.0.weight']), p, 'emb_v.1.'), k)
    n, _, taps, h, w = values.shape
    return (attn * values).reshape(n, channels, group_channels, taps, h, w).sum(axis=(2, 3))


def _randomize(block, seed):
    """Random values for every parameter (BN statistics included); returns name -> array."""
    rs = np.random.RandomState(seed)
    values = {}
    for name, param in block._collect_params_with_prefix().items():
        if name.endswith('running_var'):
            v = 0.5 + rs.random_sample(param.shape)
        elif name.endswith(('gamma',)):
            v = 1.0 + 0.2 * rs.standard_normal(param.shape)
        else:
            v = 0.5 * rs.standard_normal(param.shape)
        param.set_data(mx.nd.array(v))
        values[name] = v
    return values


@pytest.mark.parametrize('in_ch,ch,k,stride,gc,size', [
    (8, 8, 3, 1, 4, (5, 6)),
    (8, 4, 5, 1, 2, (6, 6)),
    (12, 12, 3, 2, 3, (7, 8)),
])
@pytest.mark.parametrize('hybridize', [False, True])
def test_layer_matches_upstream_definition(in_ch, ch, k, stride, gc, size, hybridize):
    layer = ATKernel(in_ch, ch, kernel_size=k, stride=stride, group_channels=gc)
    layer.initialize()
    params = _randomize(layer, seed=in_ch + k)
    if hybridize:
        layer.hybridize()
    x = np.random.RandomState(1).standard_normal((2, in_ch) + size)
    out = layer(mx.nd.array(x)).asnumpy()
    expected = at_kernel_reference(x, params, k, stride, ch, gc)
    assert out.shape == (2, ch, size[0] // stride, size[1] // stride)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_centre_taps_conv_equals_conv_over_concatenation_with_gradients():
    """Projecting the keys before taking their (zero-padded) window taps equals the 1x1
    convolution over the concatenation of the repeated centre and the taps of the keys."""
    c, hidden, taps = 6, 5, 9
    rs = np.random.RandomState(3)
    centre, keys = rs.standard_normal((2, c, 3, 4)), rs.standard_normal((2, c, 3, 4))
    ours = CentreTapsConv(hidden, c, kernel_size=3)
    plain = nn.Conv2D(hidden, 1, in_channels=2 * c)
    for block in (ours, plain):
        block.initialize()
    plain.weight.set_data(ours.weight.data())
    plain.bias.set_data(mx.nd.array(rs.standard_normal(hidden)))
    ours.bias.set_data(plain.bias.data())
    head = mx.nd.array(rs.standard_normal((2, hidden, taps, 12)))
    inputs = [mx.nd.array(centre), mx.nd.array(keys)]
    for x in inputs:
        x.attach_grad()
    with autograd.record():
        loss = (ours(*inputs) * head).sum()
    loss.backward()
    grads = [x.grad.asnumpy() for x in inputs] + [ours.weight.grad().asnumpy(),
                                                  ours.bias.grad().asnumpy()]
    repeated = mx.nd.array(np.repeat(centre.reshape(2, c, 1, 12), taps, axis=2))
    concat_in = [repeated, mx.nd.array(keys)]
    for x in concat_in:
        x.attach_grad()
    with autograd.record():
        tap_values = ops.unfold(mx.nd, concat_in[1], kernel_size=3, padding=1)
        out = plain(mx.nd.concat(concat_in[0], tap_values, dim=1))
        loss_ref = (out * head).sum()
    loss_ref.backward()
    np.testing.assert_allclose(ours(*inputs).asnumpy(), out.asnumpy(), rtol=1e-5, atol=1e-5)
    expected = [concat_in[0].grad.asnumpy().sum(axis=2).reshape(centre.shape),
                concat_in[1].grad.asnumpy(), plain.weight.grad().asnumpy(),
                plain.bias.grad().asnumpy()]
    for got, want in zip(grads, expected):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('impl', ['composite', 'kernel'])
def test_group_norm_aggregation_equals_aggregating_the_normalised_weights(impl):
    """The affine moved behind the aggregation (gamma times the aggregation of the normalised
    logits, plus beta times the window sum of the values) gives the unfused values and
    gradients, borders (zero padding) included."""
    groups, channels, k = 3, 6, 3
    rs = np.random.RandomState(5)
    logits = rs.standard_normal((2, channels, k * k, 20))
    values = rs.standard_normal((2, channels, 4, 5))
    fused = GroupNormAggregation(groups, channels, k, impl=impl)
    plain = ChannelGroupNorm(groups, channels)
    for block in (fused, plain):
        block.initialize(ctx=mx.cpu())
        block.cast('float64')
    gamma, beta = 1 + rs.standard_normal(channels), rs.standard_normal(channels)
    for block in (fused, plain):
        block.gamma.set_data(mx.nd.array(gamma, dtype='float64'))
        block.beta.set_data(mx.nd.array(beta, dtype='float64'))
    head = mx.nd.array(rs.standard_normal((2, channels, 4, 5)), dtype='float64')

    def run(forward, block):
        inputs = [mx.nd.array(a, dtype='float64') for a in (logits, values)]
        for x in inputs:
            x.attach_grad()
        with autograd.record():
            out = forward(*inputs)
            (out * head).sum().backward()
        return [out.asnumpy()] + [x.grad.asnumpy() for x in inputs] + [
            block.gamma.grad().asnumpy(), block.beta.grad().asnumpy()]

    got = run(fused, fused)
    want = run(lambda a, v: ops.aggregation(mx.nd, v, plain(a), kernel_size=k, padding=1,
                                            impl='composite'), plain)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-10)


def test_channel_group_norm_has_per_channel_affine():
    norm = ChannelGroupNorm(num_groups=3, channels=6)
    norm.initialize()
    params = _randomize(norm, seed=5)
    assert {k: v.shape for k, v in params.items()} == {'gamma': (6,), 'beta': (6,)}
    x = np.random.RandomState(2).standard_normal((2, 6, 4, 5))
    np.testing.assert_allclose(norm(mx.nd.array(x)).asnumpy(),
                               _group_norm(x, 3, params['gamma'], params['beta']),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.filterwarnings('ignore:Cannot decide type')  # SymbolBlock.imports, harmless
def test_layer_trains_and_exports(tmp_path):
    layer = ATKernel(8, 8, stride=2)
    layer.initialize(mx.init.Xavier())
    layer.hybridize()
    x = mx.nd.random.normal(shape=(2, 8, 6, 6))
    x.attach_grad()
    with autograd.record():
        y = layer(x)
    y.backward(mx.nd.random.normal(shape=y.shape))
    for name, param in layer.collect_params().items():
        if param.grad_req != 'null':
            grad = param.grad().asnumpy()
            assert np.isfinite(grad).all() and np.abs(grad).max() > 0, name
    assert np.abs(x.grad.asnumpy()).max() > 0
    layer.export(str(tmp_path / 'atk'))
    loaded = nn.SymbolBlock.imports(str(tmp_path / 'atk-symbol.json'), ['data'],
                                    str(tmp_path / 'atk-0000.params'))
    x = mx.nd.random.normal(shape=(1, 8, 8, 8))
    np.testing.assert_allclose(loaded(x).asnumpy(), layer(x).asnumpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('kwargs,argument', [
    (dict(kernel_size=4), 'kernel_size'),
    (dict(group_channels=0), 'group_channels'),
    (dict(stride=0), 'stride'),
    (dict(reduction_ratio=16), 'reduction_ratio'),
    (dict(impl='cuda'), 'impl'),
])
def test_layer_rejects_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        ATKernel(8, 8, **kwargs)


def test_layer_rejects_bad_input():
    layer = ATKernel(8, 8, stride=2)
    layer.initialize()
    with pytest.raises(ValueError, match=r'\(N, 8, H, W\)'):
        layer(mx.nd.zeros((1, 4, 8, 8)))
    with pytest.raises(ValueError, match='stride 2'):
        layer(mx.nd.zeros((1, 8, 1, 8)))


# ---------------------------------------------------------------------------------- networks

def _at_blocks(net):
    return sorted('layer%d.%d' % (stage, index)
                  for stage in range(1, 5)
                  for index, block in enumerate(getattr(net, 'layer%d' % stage))
                  if isinstance(block.conv2, ATKernel))


def test_switches_place_the_at_kernel():
    assert _at_blocks(get_model('atkernel_resnet50')) == ['layer4.0', 'layer4.1', 'layer4.2']
    assert _at_blocks(get_model('atkernel_resnet50', at_blocks=(1, 0))) == ['layer4.0']
    assert _at_blocks(get_model('atkernel_resnet50', at_blocks=(0, 1))) == ['layer4.1',
                                                                            'layer4.2']
    assert _at_blocks(get_model('atkernel_resnet26_tiny')) == ['layer1.0']
    assert _at_blocks(get_model('atkernel_resnet26_tiny', at_blocks=(0, 0))) == []
    net = get_model('atkernel_resnet26_tiny', at_stages=(0, 1, 0, 0), kernel_size=5,
                    group_channels=2)
    assert _at_blocks(net) == ['layer2.0', 'layer2.1']
    layer = net.layer2[0].conv2
    assert (layer.kernel_size, layer.group_channels, layer.stride) == (5, 2, 2)


def test_parameter_counts_equal_upstream():
    # trainable counts of upstream's ResNet_ATkernel + head.fc (shared/reference.md)
    assert count_params(get_model('atkernel_resnet50'), (1, 3, 224, 224)) == 23625896
    assert count_params(get_model('atkernel_resnet26_tiny'), (1, 3, 64, 64)) == 12040888


def test_features_mode_returns_four_stages():
    net = get_model('atkernel_resnet50', features_only=True)
    net.initialize(mx.init.Xavier())   # Gluon's default uniform(0.07) underflows to denormals
    assert 'fc.weight' not in net._collect_params_with_prefix()
    for hybridize in (False, True):
        if hybridize:
            net.hybridize()
        outs = [o.asnumpy() for o in net(mx.nd.random.normal(shape=(1, 3, 64, 64)))]
        assert [o.shape for o in outs] == [(1, 256, 16, 16), (1, 512, 8, 8), (1, 1024, 4, 4),
                                           (1, 2048, 2, 2)]
        assert all(np.isfinite(o).all() for o in outs)
    tiny = get_model('atkernel_resnet26_tiny', features_only=True)
    tiny.initialize(mx.init.Xavier())
    outs = [o.asnumpy() for o in tiny(mx.nd.random.normal(shape=(2, 3, 16, 16)))]
    assert [o.shape for o in outs] == [(2, 256, 16, 16), (2, 512, 8, 8), (2, 1024, 4, 4),
                                       (2, 2048, 2, 2)]


@pytest.mark.parametrize('kwargs,argument', [
    (dict(layers=[3, 4, 6]), 'layers'),
    (dict(layers=[3, 4, 0, 3]), 'layers'),
    (dict(at_stages=(0, 0, 1)), 'at_stages'),
    (dict(at_stages=(0, 0, 2, 1)), 'at_stages'),
    (dict(at_blocks=(1, 1, 1)), 'at_blocks'),
    (dict(group_channels=0), 'group_channels'),
    (dict(kernel_size=2), 'kernel_size'),
    (dict(stem='cifar'), 'stem'),
    (dict(classes=0), 'classes'),
])
def test_network_rejects_bad_arguments(kwargs, argument):
    kwargs = dict(dict(layers=[3, 4, 6, 3]), **kwargs)
    with pytest.raises(ValueError, match=argument):
        ResNetATKernel(**kwargs)


@pytest.mark.parametrize('shape,message', [
    ((1, 3, 48, 48), r'stage 4 an input of side 3.*multiples of 32'),
    ((1, 3, 64, 80), r'stage 4 an input of side 5'),
    ((1, 3, 16, 16), r'at least 32x32'),
    ((1, 1, 64, 64), r'\(N, 3, H, W\)'),
    ((3, 64, 64), r'\(N, 3, H, W\)'),
])
def test_network_rejects_bad_input(shape, message):
    net = get_model('atkernel_resnet50')
    net.initialize()
    with pytest.raises(ValueError, match=message):
        net(mx.nd.zeros(shape))


def test_registry_entries():
    r50, tiny = get_model_info('atkernel_resnet50'), get_model_info('atkernel_resnet26_tiny')
    assert (r50.family, r50.input_size, r50.default_dataset) == ('AT-kernel', 224, 'imagenet')
    assert (tiny.family, tiny.input_size, tiny.default_dataset) == ('AT-kernel', 64,
                                                                    'tiny-imagenet')
    assert get_model('atkernel_resnet26_tiny').fc._units == 200


# --------------------------------------------------------------------------------- converter

def _upstream_layout(shapes):
    """An mmcls-style state dict for our shapes (names mapped back to upstream's)."""
    names = {'emb_k': 'emb_K', 'mlp': 'MLP', 'emb_v': 'emb_V'}
    out = {}
    for name, shape in shapes.items():
        parts = name.split('.')
        parts = [names.get(p, p) for p in parts]
        if parts[-1] in ('gamma', 'beta'):
            parts[-1] = {'gamma': 'weight', 'beta': 'bias'}[parts[-1]]
        key = ('head.' if parts[0] == 'fc' else 'backbone.') + '.'.join(parts)
        out[key] = np.full(shape, len(out), np.float32)
    return out


@pytest.fixture(scope='module')
def tiny_shapes():
    return param_shapes(get_model('atkernel_resnet26_tiny'), (1, 3, 64, 64))


def test_converter_maps_every_key(tiny_shapes):
    sd = _upstream_layout(tiny_shapes)
    sd['backbone.layer1.0.conv2.MLP.1.num_batches_tracked'] = np.zeros((), np.int64)
    out = convert_atkernel(sd, tiny_shapes, 'atkernel_resnet26_tiny')
    assert set(out) == set(tiny_shapes)
    assert out['layer1.0.conv2.mlp.4.gamma'] is sd['backbone.layer1.0.conv2.MLP.4.weight']
    assert out['fc.bias'] is sd['head.fc.bias']


def test_converter_is_strict(tiny_shapes):
    sd = _upstream_layout(tiny_shapes)
    with pytest.raises(ConversionError, match='backbone.layer1.0.conv2.RelPos'):
        convert_atkernel(dict(sd, **{'backbone.layer1.0.conv2.RelPos.rel_width':
                                     np.zeros((3, 4), np.float32)}), tiny_shapes, 'm')
    with pytest.raises(ConversionError, match='neck.lateral'):
        convert_atkernel(dict(sd, **{'neck.lateral.weight': np.zeros(3)}), tiny_shapes, 'm')
    missing = dict(sd)
    del missing['backbone.layer1.0.conv2.emb_V.1.running_var']
    with pytest.raises(ConversionError, match=r'layer1.0.conv2.emb_v.1.running_var'):
        convert_atkernel(missing, tiny_shapes, 'm')
    wrong = dict(sd, **{'head.fc.weight': np.zeros((1000, 2048), np.float32)})
    with pytest.raises(ConversionError, match='head.fc.weight'):
        convert_atkernel(wrong, tiny_shapes, 'm')


def test_converter_features_mode_takes_bare_backbone_and_drops_the_head(tiny_shapes):
    backbone = {k: v for k, v in tiny_shapes.items() if not k.startswith('fc.')}
    sd = _upstream_layout(tiny_shapes)
    from_mmcls = convert_atkernel(sd, backbone, 'm')
    bare = {k[len('backbone.'):]: v for k, v in sd.items() if k.startswith('backbone.')}
    from_bare = convert_atkernel(bare, backbone, 'm')
    assert set(from_mmcls) == set(from_bare) == set(backbone)
    assert all(from_mmcls[k] is from_bare[k] for k in backbone)
    with pytest.raises(ConversionError, match="'fc.bias'"):
        convert_atkernel(bare, tiny_shapes, 'm')


def test_converter_names_a_block_trained_with_other_switches(tiny_shapes):
    plain = param_shapes(get_model('atkernel_resnet26_tiny', at_blocks=(0, 0)), (1, 3, 64, 64))
    with pytest.raises(ConversionError, match=r"'backbone.layer1.0.conv2.weight'.*3x3 "
                                              r"convolution in layer1.0.*at_blocks=\(0, 0\)"):
        convert_atkernel(_upstream_layout(plain), tiny_shapes, 'm')
    with pytest.raises(ConversionError, match=r'an AT kernel in layer1.0 where this network has '
                                              r'a 3x3 convolution'):
        convert_atkernel(_upstream_layout(tiny_shapes), plain, 'm')
