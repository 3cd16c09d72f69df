"""ACmix against upstream LeapLabTHU/ACmix (run on the CPU by tools/make_golden_acmix.py).

Each fixture holds upstream's state-dict manifest, the weight and input seeds and upstream's
float64 logits. The weights are rebuilt from manifest + seed, converted with the ACmix converter
(which must consume every upstream key and fill every parameter of ours with the same shape)
and loaded strictly; our float32 logits must match within 1e-4 relative error. For Swin the
fixture records upstream's ``relative_position_index`` and ``attn_mask`` buffers by digest: the
converter's reconstruction of them must hash the same, and is then fed to the converter, which
checks and drops them.

Our attention drops the logit term ``q . pe_centre`` (constant over each window, cancelled by
the softmax) that upstream computes; the ResNet fixture (stride 1 and 2 layers) is the proof
that the outputs agree.
"""
import os

import mxnet as mx
import numpy as np
import pytest

from gluon_convattn.convert import (ConversionError, convert_checkpoint, convert_state_dict,
                                    save_params)
from gluon_convattn.convert.acmix import buffer_digest, expected_swin_buffer
from gluon_convattn.model_zoo import get_model
from gluon_convattn.utils import count_params
from support.golden import load_fixture, relative_error, seeded_input, seeded_state_dict

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')

# Trainable parameters of upstream's networks (the shared reference, "Upstream facts").
UPSTREAM_PARAMS = {
    'acmix_resnet26': 10487816, 'acmix_resnet38': 14410896, 'acmix_resnet50': 18333976,
    'acmix_swin_tiny': 28649908, 'acmix_swin_small': 50345080,
}


@pytest.mark.parametrize('name', sorted(UPSTREAM_PARAMS))
def test_parameter_counts_equal_upstream(name):
    assert count_params(get_model(name)) == UPSTREAM_PARAMS[name]


def upstream_state_dict(meta):
    """Seeded weights plus the (verified) Swin buffers, as an upstream checkpoint holds them."""
    state = seeded_state_dict(meta['manifest'], meta['seed'])
    for key, shape, digest in meta.get('buffers', []):
        value = expected_swin_buffer(key, shape)
        assert list(value.shape) == shape and buffer_digest(value) == digest, key
        state[key] = value
    return state


def _prepare(name, tmp_path_factory):
    meta, expected = load_fixture(FIXTURES, name)
    converted = convert_state_dict(meta['model'], upstream_state_dict(meta), **meta['kwargs'])
    path = str(tmp_path_factory.mktemp('acmix') / (name + '.params'))
    save_params(converted, path)
    return meta, expected, path, seeded_input(meta['input_shape'], meta['input_seed'])


@pytest.fixture(scope='module', params=['acmix_resnet26', 'acmix_swin_tiny_narrow'])
def golden(request, tmp_path_factory):
    return _prepare(request.param, tmp_path_factory)


@pytest.fixture(scope='module')
def golden_swin_tiny(tmp_path_factory):
    return _prepare('acmix_swin_tiny', tmp_path_factory)


def _run(meta, path, x, hybridize):
    net = get_model(meta['model'], pretrained=path, **meta['kwargs'])
    if hybridize:
        net.hybridize()
    return net(mx.nd.array(x)).asnumpy()


def _check(golden_case, hybridize):
    meta, expected, path, x = golden_case
    assert np.isfinite(expected).all()
    err = relative_error(_run(meta, path, x, hybridize), expected)
    assert err <= meta['rtol'], '%s %s: relative error %.3g' % (meta['model'], meta['kwargs'],
                                                                err)


@pytest.mark.parametrize('hybridize', [False, True], ids=['imperative', 'hybridized'])
def test_logits_match_upstream(golden, hybridize):
    _check(golden, hybridize)


@pytest.mark.parametrize('hybridize', [False, True], ids=['imperative', 'hybridized'])
def test_swin_tiny_logits_match_upstream(golden_swin_tiny, hybridize):
    """The full ACmix-Swin-T at 224 px (one forward each way, about a second on 2 cores)."""
    _check(golden_swin_tiny, hybridize)


def test_converter_refuses_altered_swin_buffers():
    meta, _ = load_fixture(FIXTURES, 'acmix_swin_tiny_narrow')
    state = upstream_state_dict(meta)
    key = next(k for k, _, _ in meta['buffers'] if k.endswith('attn_mask'))
    state[key] = np.zeros_like(state[key])
    with pytest.raises(ConversionError, match='attn_mask'):
        convert_state_dict(meta['model'], state, **meta['kwargs'])


def test_converter_refuses_missing_and_extra_weights():
    meta, _ = load_fixture(FIXTURES, 'acmix_resnet26')
    state = upstream_state_dict(meta)
    state.pop('layer2.0.conv2.dep_conv.weight')
    with pytest.raises(ConversionError, match='dep_conv.weight'):
        convert_state_dict(meta['model'], state)
    state = upstream_state_dict(meta)
    state['layer2.0.conv2.dep_conv.bias'] = np.zeros(128, np.float32)
    with pytest.raises(ConversionError, match='dep_conv.bias'):
        convert_state_dict(meta['model'], state)


def test_released_swin_checkpoint_layout_converts(tmp_path):
    """A {'model': state dict, ...} file, as the released Swin-T/S checkpoints are saved, goes
    through convert_checkpoint (buffers checked and dropped) and loads strictly."""
    torch = pytest.importorskip('torch')
    meta, expected = load_fixture(FIXTURES, 'acmix_swin_tiny_narrow')
    state = {k: torch.from_numpy(np.asarray(v)) for k, v in upstream_state_dict(meta).items()}
    src, dst = str(tmp_path / 'acmix_swin.pth'), str(tmp_path / 'acmix_swin.params')
    torch.save({'model': state, 'epoch': 299, 'max_accuracy': 81.9}, src)
    convert_checkpoint(meta['model'], src, dst, **meta['kwargs'])
    x = seeded_input(meta['input_shape'], meta['input_seed'])
    assert relative_error(_run(meta, dst, x, hybridize=False), expected) <= meta['rtol']


def test_logits_match_upstream_float64(golden):
    """In float64 the only difference left is the fixture's float32 storage (~1e-7)."""
    meta, expected, path, x = golden
    net = get_model(meta['model'], pretrained=path, **meta['kwargs'])
    net.cast('float64')
    out = net(mx.nd.array(x, dtype='float64')).asnumpy()
    assert relative_error(out, expected) <= 1e-6
