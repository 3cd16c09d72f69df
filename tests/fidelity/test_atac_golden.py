"""ATAC networks against upstream outputs (fixtures from tools/make_golden_atac.py).

Upstream ATAC is MXNet/Gluon: each fixture holds the key/shape manifest of the ``.params`` file
the original network's ``save_parameters`` writes, the weight and input seeds, the upstream
logits and parameter counts. The test writes the same file again (seeded weights under the
upstream keys, ``mx.nd.save``), loads it into our network with ``allow_missing=False,
ignore_extra=False`` and runs it imperatively and hybridized.
"""
import os

import mxnet as mx
import pytest

from gluon_convattn.model_zoo import get_model, get_model_info
from gluon_convattn.utils import count_params, param_shapes
from support.golden import load_fixture, relative_error, seeded_input, seeded_state_dict

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')
CIFAR = ['cifar_resnet20_v2_atac', 'cifar_resnet20_v2_atac_act_layers_2',
         'cifar_resnet20_v2_atac_pre_global', 'cifar_resnet20_v2_atac_prelu']
RESNET50 = ['resnet50_v1b_atac', 'resnet50_v1b_atac_dilated_avg_down']
NAMES = CIFAR + RESNET50


def _upstream_params_file(meta, path):
    """The .params file the upstream network would save with the fixture's seeded weights."""
    weights = seeded_state_dict(meta['manifest'], meta['seed'])
    mx.nd.save(path, {key: mx.nd.array(value) for key, value in weights.items()})
    return path


@pytest.mark.parametrize('name', NAMES)
def test_upstream_params_load_strictly_and_logits_match(name, tmp_path):
    meta, expected = load_fixture(FIXTURES, name)
    path = _upstream_params_file(meta, str(tmp_path / (name + '.params')))
    net = get_model(meta['model'], **meta['kwargs'])
    net.load_parameters(path, allow_missing=False, ignore_extra=False)
    x = mx.nd.array(seeded_input(meta['input_shape'], meta['input_seed']))
    errors = {}
    for mode in ('imperative', 'hybridized'):
        net.hybridize(active=mode == 'hybridized')
        errors[mode] = relative_error(net(x).asnumpy(), expected)
    assert max(errors.values()) <= meta['rtol'], errors


@pytest.mark.parametrize('name', NAMES)
def test_parameters_equal_upstream_layer_by_layer(name):
    meta, _ = load_fixture(FIXTURES, name)
    net = get_model(meta['model'], **meta['kwargs'])
    size = get_model_info(meta['model']).input_size
    shapes = param_shapes(net, (1, 3, size, size))
    assert shapes == {key: tuple(shape) for key, shape in meta['manifest']}
    assert count_params(net, (1, 3, size, size)) == meta['upstream']['trainable_params']
    assert (count_params(net, (1, 3, size, size), trainable_only=False)
            == meta['upstream']['params_with_bn_stats'])


def test_released_configurations_have_the_published_sizes():
    """reference.md: 27,934,760 trainable (28,006,312 with BN statistics) for the released
    ATAC-ResNet-50 (r 2, act_layers 2), 310,310 with BN statistics for ResNet-20."""
    for name, total in (('resnet50_v1b_atac', 28006312), ('cifar_resnet20_v2_atac', 310310)):
        meta, _ = load_fixture(FIXTURES, name)
        assert meta['kwargs'] == {}
        assert meta['upstream']['params_with_bn_stats'] == total
    meta, _ = load_fixture(FIXTURES, 'resnet50_v1b_atac')
    assert meta['upstream']['trainable_params'] == 27934760


def test_fixtures_exercise_eval_mode_batch_norm(tmp_path):
    """The seeded running statistics matter: with fresh (0, 1) statistics the logits differ."""
    meta, expected = load_fixture(FIXTURES, 'cifar_resnet20_v2_atac')
    net = get_model(meta['model'], **meta['kwargs'])
    net.load_parameters(_upstream_params_file(meta, str(tmp_path / 'w.params')))
    for key, param in net._collect_params_with_prefix().items():
        if key.endswith(('running_mean', 'running_var')):
            param.set_data(mx.nd.full(param.shape, float(key.endswith('running_var'))))
    x = mx.nd.array(seeded_input(meta['input_shape'], meta['input_seed']))
    assert relative_error(net(x).asnumpy(), expected) > 100 * meta['rtol']
