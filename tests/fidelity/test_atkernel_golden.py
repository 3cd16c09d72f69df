"""AT-kernel networks against upstream outputs (fixtures from tools/make_golden_atkernel.py).

Each fixture holds the upstream state-dict manifest in mmcls' checkpoint layout
(``backbone.*``, ``head.fc.*``), the weight and input seeds, the upstream logits and the
upstream trainable-parameter count. The weights are rebuilt from the seeds, converted with
``gluon_convattn.convert``, loaded strictly and run imperatively and hybridized.
"""
import os

import mxnet as mx
import numpy as np
import pytest

from gluon_convattn.convert import convert_checkpoint, convert_state_dict, save_params
from gluon_convattn.model_zoo import get_model, get_model_info
from gluon_convattn.utils import count_params, load_parameters_checked
from support.golden import load_fixture, relative_error, seeded_input, seeded_state_dict

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')
NAMES = ['atkernel_resnet50', 'atkernel_resnet26_tiny', 'atkernel_resnet26_tiny_at_blocks_00']


def _load_converted(meta, tmp_path, **extra_kwargs):
    kwargs = dict(meta['kwargs'], **extra_kwargs)
    weights = seeded_state_dict(meta['manifest'], meta['seed'])
    converted = convert_state_dict(meta['model'], weights, **kwargs)
    path = str(tmp_path / ('%s.params' % meta['model']))
    save_params(converted, path)
    net = get_model(meta['model'], **kwargs)
    load_parameters_checked(net, path)
    return net, weights


@pytest.mark.parametrize('name', NAMES)
def test_logits_match_upstream(name, tmp_path):
    meta, expected = load_fixture(FIXTURES, name)
    net, _ = _load_converted(meta, tmp_path)
    x = mx.nd.array(seeded_input(meta['input_shape'], meta['input_seed']))
    imperative = net(x).asnumpy()
    net.hybridize()
    hybridized = net(x).asnumpy()
    assert relative_error(imperative, expected) <= meta['rtol']
    assert relative_error(hybridized, expected) <= meta['rtol']


@pytest.mark.parametrize('name', NAMES)
def test_parameter_count_equals_upstream(name):
    meta, _ = load_fixture(FIXTURES, name)
    size = get_model_info(meta['model']).input_size
    net = get_model(meta['model'], **meta['kwargs'])
    assert count_params(net, (1, 3, size, size)) == meta['upstream']['trainable_params']
    assert count_params(net, (1, 3, size, size)) == sum(
        int(np.prod(shape)) for key, shape in meta['manifest']
        if not key.endswith(('running_mean', 'running_var', 'num_batches_tracked')))


def test_features_mode_loads_the_classification_checkpoint(tmp_path):
    """The detection backbone takes the mmcls checkpoint (head left out) and its last stage,
    pooled and passed through upstream's head.fc, gives upstream's logits."""
    meta, expected = load_fixture(FIXTURES, 'atkernel_resnet50')
    net, weights = _load_converted(meta, tmp_path, features_only=True)
    net.hybridize()
    stages = net(mx.nd.array(seeded_input(meta['input_shape'], meta['input_seed'])))
    assert len(stages) == 4
    pooled = stages[-1].asnumpy().mean(axis=(2, 3))
    logits = pooled @ weights['head.fc.weight'].T + weights['head.fc.bias']
    assert relative_error(logits, expected) <= meta['rtol']


def test_mmcls_checkpoint_file_converts(tmp_path):
    """The whole path from a file shaped like mmcv's save_checkpoint output."""
    torch = pytest.importorskip('torch')
    meta, expected = load_fixture(FIXTURES, 'atkernel_resnet26_tiny_at_blocks_00')
    weights = seeded_state_dict(meta['manifest'], meta['seed'])
    src, dst = str(tmp_path / 'epoch_100.pth'), str(tmp_path / 'converted.params')
    torch.save({'meta': {'epoch': 100, 'mmcv_version': '1.3.4', 'CLASSES': ['n01443537']},
                'state_dict': {k: torch.from_numpy(v) for k, v in weights.items()}}, src)
    convert_checkpoint(meta['model'], src, dst, **meta['kwargs'])
    net = get_model(meta['model'], **meta['kwargs'])
    load_parameters_checked(net, dst)
    x = mx.nd.array(seeded_input(meta['input_shape'], meta['input_seed']))
    assert relative_error(net(x).asnumpy(), expected) <= meta['rtol']
