"""ChaATAC and the ATAC networks: values, attribute trees, act_layers semantics, argument checks."""
import mxnet as mx
import numpy as np
import pytest

from gluon_convattn.model_zoo import get_model
from gluon_convattn.model_zoo.atac import uses_act_type
from gluon_convattn.nn import ChaATAC
from gluon_convattn.utils import count_params, param_shapes


def _randomize(net, seed):
    """Non-trivial weights and BN statistics, so inference-mode BN is exercised."""
    rs = np.random.RandomState(seed)
    for name, param in sorted(net._collect_params_with_prefix().items()):
        if name.endswith('running_var'):
            value = rs.uniform(0.5, 1.5, param.shape)
        else:
            value = rs.normal(0, 0.5, param.shape)
        param.set_data(mx.nd.array(value))


def _reference_chaatac(x, params, use_relu, use_global, eps=1e-5):
    """numpy ChaATAC in inference mode; params keyed by 'conv1', 'bn1', 'conv2', 'bn2'."""
    def conv1x1(v, w):
        return np.einsum('oc,nchw->nohw', w[:, :, 0, 0], v)

    def bn(v, p):
        mean, var, gamma, beta = (p[k].reshape(1, -1, 1, 1)
                                  for k in ('running_mean', 'running_var', 'gamma', 'beta'))
        return (v - mean) / np.sqrt(var + eps) * gamma + beta
    h = x.mean(axis=(2, 3), keepdims=True) if use_global else x
    h = bn(conv1x1(h, params['conv1']), params['bn1'])
    if use_relu:
        h = np.maximum(h, 0)
    h = bn(conv1x1(h, params['conv2']), params['bn2'])
    return x / (1 + np.exp(-h))


@pytest.mark.parametrize('use_relu,use_global', [(True, False), (False, False), (True, True)])
def test_chaatac_matches_numpy_reference(use_relu, use_global):
    layer = ChaATAC(8, r=2, useReLU=use_relu, useGlobal=use_global)
    layer.initialize()
    _randomize(layer, 1)
    values = {k: v.data().asnumpy() for k, v in layer._collect_params_with_prefix().items()}
    first = 1 if use_global else 0
    second = first + (3 if use_relu else 2)

    def group(index):
        return {k.rsplit('.', 1)[1]: v for k, v in values.items()
                if k.startswith('module.%d.' % index)}
    params = {'conv1': values['module.%d.weight' % first], 'bn1': group(first + 1),
              'conv2': values['module.%d.weight' % second], 'bn2': group(second + 1)}
    x = np.random.RandomState(2).standard_normal((2, 8, 5, 6)).astype(np.float32)
    expected = _reference_chaatac(x.astype(np.float64), params, use_relu, use_global)
    out = layer(mx.nd.array(x)).asnumpy()
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    layer.hybridize()
    np.testing.assert_allclose(layer(mx.nd.array(x)).asnumpy(), out, rtol=1e-5, atol=1e-6)


def test_chaatac_keeps_the_original_attribute_tree():
    assert sorted(param_shapes(ChaATAC(16, 4, True, False), (1, 16, 4, 4)).items()) == sorted({
        'module.0.weight': (4, 16, 1, 1),
        'module.1.gamma': (4,), 'module.1.beta': (4,),
        'module.1.running_mean': (4,), 'module.1.running_var': (4,),
        'module.3.weight': (16, 4, 1, 1),
        'module.4.gamma': (16,), 'module.4.beta': (16,),
        'module.4.running_mean': (16,), 'module.4.running_var': (16,)}.items())
    # GlobalAvgPool2D first shifts the indices; without the ReLU the second conv is module.3
    names = set(param_shapes(ChaATAC(16, 4, False, True), (1, 16, 4, 4)))
    assert {'module.1.weight', 'module.3.weight', 'module.4.gamma'} <= names


@pytest.mark.parametrize('kwargs,match', [
    (dict(channels=16, r=3), 'r=3 must divide channels=16'),
    (dict(channels=16, r=0), 'r must be an int >= 1'),
    (dict(channels=0, r=1), 'channels must be an int >= 1'),
    (dict(channels=16, r=True), 'r must be an int'),
])
def test_chaatac_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ChaATAC(**kwargs)


def test_chaatac_rejects_an_input_with_other_channels():
    layer = ChaATAC(16)
    layer.initialize()
    with pytest.raises(ValueError, match=r'takes a batch of shape \(N, 16, H, W\), got \(1, 8'):
        layer(mx.nd.zeros((1, 8, 4, 4)))


def _chaatac_positions(net):
    """Structural names of the ChaATAC blocks in ``net``."""
    found = []

    def walk(block, prefix):
        for name, child in block._children.items():
            path = prefix + name
            if isinstance(child, ChaATAC):
                found.append(path)
            walk(child, path + '.')
    walk(net, '')
    return found


@pytest.mark.parametrize('act_layers,act_order,stages,final', [
    (4, 'bac', (1, 2, 3), True), (2, 'bac', (3,), True), (1, 'bac', (), True),
    (0, 'bac', (), False), (1, 'pre', (1,), False), (3, 'pre', (1, 2, 3), False),
    (4, 'pre', (1, 2, 3), True),
])
def test_cifar_act_layers_selects_stages(act_layers, act_order, stages, final):
    net = get_model('cifar_resnet20_v2_atac', act_layers=act_layers, act_order=act_order)
    expected = ['features.%d.%d.msAA%d' % (stage + 1, block, k)
                for stage in stages for block in range(3) for k in (1, 2)]
    if final:
        expected.append('features.6')
    assert sorted(_chaatac_positions(net)) == sorted(expected)


def test_uses_act_type_counts_from_the_end_for_bac():
    assert [uses_act_type(p, 2, 'bac', 4) for p in range(4)] == [False, False, True, True]
    assert [uses_act_type(p, 2, 'pre', 4) for p in range(4)] == [True, True, False, False]


@pytest.mark.parametrize('act_layers,stages', [(2, (3, 4)), (1, (4,)), (4, (1, 2, 3, 4)),
                                               (0, ())])
def test_resnet50_act_layers_selects_stages_and_keeps_relu3(act_layers, stages):
    net = get_model('resnet50_v1b_atac', act_layers=act_layers)
    depth = {1: 3, 2: 4, 3: 6, 4: 3}
    expected = ['layer%d.%d.relu%d' % (stage, block, k)
                for stage in stages for block in range(depth[stage]) for k in (1, 2)]
    assert sorted(_chaatac_positions(net)) == sorted(expected)


def test_resnet50_r_sets_the_chaatac_width():
    net = get_model('resnet50_v1b_atac', r=4, act_layers=1)
    shapes = param_shapes(net, (1, 3, 64, 64))
    assert shapes['layer4.0.relu1.module.0.weight'] == (128, 512, 1, 1)
    assert shapes['layer4.2.relu2.module.3.weight'] == (512, 128, 1, 1)


@pytest.mark.parametrize('name,trainable,total', [
    # counted from upstream ResNet20V2ATAC(layers=[blocks] * 3) with MXNet 1.9.1
    ('cifar_resnet56_v2_atac', 958698, 968870),
    ('cifar_resnet110_v2_atac', 1936458, 1956710),
])
def test_deeper_cifar_networks_have_upstream_sizes(name, trainable, total):
    net = get_model(name)
    assert count_params(net, (1, 3, 32, 32)) == trainable
    assert count_params(net, (1, 3, 32, 32), trainable_only=False) == total


@pytest.mark.parametrize('act_type', ['relu', 'prelu', 'elu', 'selu', 'gelu', 'swish'])
def test_cifar_plain_activations_run(act_type):
    net = get_model('cifar_resnet20_v2_atac', act_type=act_type, classes=7)
    net.initialize()
    assert net(mx.nd.ones((2, 3, 32, 32))).shape == (2, 7)
    assert _chaatac_positions(net) == []


@pytest.mark.parametrize('name,kwargs,match', [
    ('cifar_resnet20_v2_atac', dict(r=3), 'r=3 must divide channels=16'),
    ('cifar_resnet20_v2_atac', dict(r=0), 'r must be an int >= 1'),
    ('cifar_resnet20_v2_atac', dict(act_layers=5), 'act_layers must be an int in 0..4'),
    ('cifar_resnet20_v2_atac', dict(act_layers=-1), 'act_layers must be an int in 0..4'),
    ('cifar_resnet20_v2_atac', dict(act_type='mish'), "act_type must be one of .*'mish'"),
    ('cifar_resnet20_v2_atac', dict(replace_act='tanh'), 'replace_act must be one of'),
    ('cifar_resnet20_v2_atac', dict(act_order='post'), 'act_order must be one of'),
    ('cifar_resnet20_v2_atac', dict(classes=0), 'classes must be an int >= 1'),
    ('resnet50_v1b_atac', dict(r=3), 'r=3 must divide channels=256'),
    ('resnet50_v1b_atac', dict(act_layers=7), 'act_layers must be an int in 0..4'),
    ('resnet50_v1b_atac', dict(act_type='prelu'), 'act_type must be one of'),
    ('resnet50_v1b_atac', dict(final_drop=1.5), 'final_drop must be in'),
])
def test_networks_reject_bad_arguments_at_construction(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        get_model(name, **kwargs)


@pytest.mark.parametrize('name,shape,match', [
    ('cifar_resnet20_v2_atac', (1, 1, 32, 32), r'batch of shape \(N, 3, H, W\)'),
    ('cifar_resnet20_v2_atac', (3, 32, 32), r'batch of shape \(N, 3, H, W\)'),
    ('cifar_resnet20_v2_atac', (1, 3, 4, 4), 'at least 8x8'),
    ('resnet50_v1b_atac', (1, 3, 16, 16), 'at least 32x32'),
])
def test_networks_reject_bad_inputs(name, shape, match):
    net = get_model(name)
    net.initialize()
    with pytest.raises(ValueError, match=match):
        net(mx.nd.zeros(shape))
    net.hybridize()
    with pytest.raises(ValueError, match=match):
        net(mx.nd.zeros(shape))


def test_resnet50_options_reach_the_trunk():
    net = get_model('resnet50_v1b_atac', last_gamma=True, use_global_stats=True, final_drop=0.2,
                    avg_down=True, classes=5)
    net.initialize()
    params = net._collect_params_with_prefix()
    assert (params['layer2.0.bn3.gamma'].data().asnumpy() == 0).all()
    assert net.layer1[0].bn1._kwargs['use_global_stats'] is True
    # upstream's ChaATAC layers keep plain BatchNorm
    assert net.layer3[0].relu1.module[1]._kwargs['use_global_stats'] is False
    assert isinstance(net.layer2[0].downsample[0], mx.gluon.nn.AvgPool2D)
    assert net.drop is not None and net(mx.nd.ones((1, 3, 32, 32))).shape == (1, 5)


def test_cifar_network_trains_hybridizes_and_exports(tmp_path):
    net = get_model('cifar_resnet20_v2_atac', classes=3)
    net.initialize(mx.init.MSRAPrelu())
    net.hybridize()
    x = mx.nd.array(np.random.RandomState(0).standard_normal((4, 3, 16, 16)))
    y = mx.nd.array([0, 1, 2, 0])
    trainer = mx.gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.05})
    loss_fn = mx.gluon.loss.SoftmaxCrossEntropyLoss()
    losses = []
    for _ in range(5):
        with mx.autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(4)
        losses.append(loss.mean().asscalar())
    assert losses[-1] < losses[0]
    out = net(x).asnumpy()
    net.export(str(tmp_path / 'atac'), epoch=0)
    imported = mx.gluon.SymbolBlock.imports(str(tmp_path / 'atac-symbol.json'), ['data'],
                                            str(tmp_path / 'atac-0000.params'))
    np.testing.assert_allclose(imported(x).asnumpy(), out, rtol=1e-5, atol=1e-6)
