"""KAResNet against upstream (dreamcontinue/KAConv ``models/KAResNet.py``, run on the CPU by
``tools/make_golden_kaconv.py``), and every KAConv model's parameter count.

A fixture holds upstream's state-dict manifest, the weight and input seeds and upstream's
float64 logits. The weights are rebuilt from manifest + seed and converted by the KAConv
converter, which fuses the per-tap modules and must consume every upstream key and fill every
parameter of ours with the same shape; the converted file loads strictly.
"""
import os
import sys
import types

import mxnet as mx
import numpy as np
import pytest

from gluon_convattn.convert import ConversionError, convert_state_dict, save_params
from gluon_convattn.convert import load_checkpoint
from gluon_convattn.convert.kaconv import convert_kaconv
from gluon_convattn.model_zoo import get_model, get_model_info, get_model_list
from gluon_convattn.utils import count_params, param_shapes
from support.golden import load_fixture, relative_error, seeded_input, seeded_state_dict

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')

# Released code: trainable parameters of upstream's networks (counted from models/KAResNet.py).
UPSTREAM_PARAMS = {'karesnet50_l': 27827432, 'karesnet50_h': 35560680,
                   'karesnet101_l': 49436200, 'karesnet101_h': 66082344}
# Paper-only networks: the paper's table (millions, two decimals).
PAPER_PARAMS = {'karesnext50_32x4d_l': 31.27e6, 'karesnext50_32x4d_h': 53.03e6,
                'kamobilenetv2_0.5_l': 4.15e6, 'kamobilenetv2_0.5_h': 11.69e6,
                'kamobilenetv2_1.0_l': 9.31e6, 'kamobilenetv2_1.0_h': 29.52e6}


def test_every_kaconv_model_has_a_count():
    family = [n for n in get_model_list() if get_model_info(n).family == 'KAConv']
    assert sorted(family) == sorted(list(UPSTREAM_PARAMS) + list(PAPER_PARAMS))


@pytest.mark.parametrize('name', sorted(UPSTREAM_PARAMS))
def test_parameter_counts_equal_upstream(name):
    assert count_params(get_model(name)) == UPSTREAM_PARAMS[name]


@pytest.mark.parametrize('name', sorted(PAPER_PARAMS))
def test_parameter_counts_match_paper(name):
    count = count_params(get_model(name))
    assert abs(count / PAPER_PARAMS[name] - 1) <= 0.005, '%s: %d parameters' % (name, count)


@pytest.fixture(scope='module', params=['karesnet50_l', 'karesnet50_h'])
def upstream(request):
    """(fixture metadata, upstream logits, upstream-style seeded weights)."""
    meta, expected = load_fixture(FIXTURES, request.param)
    return meta, expected, seeded_state_dict(meta['manifest'], meta['seed'])


@pytest.fixture(scope='module')
def converted(upstream, tmp_path_factory):
    meta, expected, weights = upstream
    path = str(tmp_path_factory.mktemp('kaconv') / (meta['model'] + '.params'))
    save_params(convert_state_dict(meta['model'], weights, **meta['kwargs']), path)
    return meta, expected, path


def _logits(meta, path, hybridize, dtype='float32'):
    net = get_model(meta['model'], pretrained=path, **meta['kwargs'])
    net.cast(dtype)
    if hybridize:
        net.hybridize()
    x = seeded_input(meta['input_shape'], meta['input_seed'])
    return net(mx.nd.array(x, dtype=dtype)).asnumpy()


@pytest.mark.parametrize('hybridize', [False, True], ids=['imperative', 'hybridized'])
def test_logits_match_upstream(converted, hybridize):
    meta, expected, path = converted
    assert np.isfinite(expected).all() and np.abs(expected).max() > 0.1
    err = relative_error(_logits(meta, path, hybridize), expected)
    assert err <= meta['rtol'], '%s: relative error %.3g' % (meta['model'], err)


def test_logits_match_upstream_float64(converted):
    """In float64 only the fixture's float32 storage (~1e-7) separates us from upstream."""
    meta, expected, path = converted
    assert relative_error(_logits(meta, path, False, 'float64'), expected) <= 1e-6


def test_conversion_rejects_what_does_not_fit(upstream):
    """``module.`` prefixes are accepted; a wrong AG, a missing, extra or out-of-range tap
    key and a paper-only model are refused with the culprit named."""
    meta, _, weights = upstream
    name, other = meta['model'], {'karesnet50_l': 'karesnet50_h',
                                  'karesnet50_h': 'karesnet50_l'}[meta['model']]
    shapes = param_shapes(get_model(name), (1, 3, 64, 64))
    plain = convert_kaconv(weights, shapes, name)
    prefixed = convert_kaconv({'module.' + k: v for k, v in weights.items()}, shapes, name)
    assert sorted(plain) == sorted(shapes) == sorted(prefixed)
    assert all(np.array_equal(plain[k], prefixed[k]) for k in plain)
    with pytest.raises(ConversionError, match='AG-%s attention.*%s' % (name[-1].upper(), other)):
        convert_kaconv(weights, param_shapes(get_model(other), (1, 3, 64, 64)), other)
    missing = dict(weights)
    del missing['stage_2.1.conv2.0.agg.fcs.4.weight']
    with pytest.raises(ConversionError, match=r'agg\.fcs\.4\.weight'):
        convert_kaconv(missing, shapes, name)
    gap = dict(weights, **{'stage_1.0.conv2.0.convs.11.1.weight': np.zeros((64, 64, 1, 1))})
    with pytest.raises(ConversionError, match='found taps'):
        convert_kaconv(gap, shapes, name)
    extra = dict(weights, **{'stage_3.2.conv2.0.agg.scale': np.zeros((1,))})
    with pytest.raises(ConversionError, match=r"\['agg\.scale'\] have no counterpart"):
        convert_kaconv(extra, shapes, name)
    with pytest.raises(ConversionError, match='no released upstream'):
        convert_kaconv(weights, shapes, 'kamobilenetv2_1.0_l')


def test_upstream_training_checkpoint_is_read(tmp_path, monkeypatch):
    """train.py pickles a metrics.RecorderMeter (numpy arrays) beside the weights: the shared
    loader reads the weights without importing or running upstream's classes."""
    import torch
    metrics = types.ModuleType('metrics')
    recorder_class = type('RecorderMeter', (), {'__module__': 'metrics'})
    metrics.RecorderMeter = recorder_class
    monkeypatch.setitem(sys.modules, 'metrics', metrics)
    recorder = recorder_class()
    recorder.epoch_losses = np.zeros((100, 2), np.float32) - 1
    weights = {'module.stage_1.0.conv2.0.convs.0.1.weight': torch.randn(4, 4, 1, 1),
               'module.classifier.bias': torch.randn(3)}
    param = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD([param], lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[30, 60, 90])
    path = str(tmp_path / 'best_model.pkl')
    torch.save({'epoch': 7, 'recorder': recorder, 'state_dict': weights,
                'optimizer': optimizer.state_dict(), 'scheduler': scheduler.state_dict()}, path)
    monkeypatch.delitem(sys.modules, 'metrics')
    state = load_checkpoint(path)
    assert sorted(state) == ['classifier.bias', 'stage_1.0.conv2.0.convs.0.1.weight']
    for key, value in weights.items():
        np.testing.assert_array_equal(state[key[len('module.'):]], value.numpy())
    assert 'metrics' not in sys.modules
