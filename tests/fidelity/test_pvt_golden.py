"""PVT v1 against upstream whai362/PVT ``classification/pvt.py`` (run on the CPU by
tools/make_golden_pvt.py).

Each fixture holds upstream's state-dict manifest, the weight and input seeds and upstream's
float64 logits. The weights are rebuilt from manifest + seed, converted with the PVT converter
(which must consume every upstream key and fill every parameter of ours with the same shape)
and loaded strictly; our float32 logits must match within 1e-4 relative error.
"""
import os

import numpy as np
import pytest

from gluon_convattn.convert import (ConversionError, convert_checkpoint, convert_state_dict,
                                    save_params)
from gluon_convattn.model_zoo import get_model
from gluon_convattn.utils import count_params
from support.golden import load_fixture, relative_error, seeded_input, seeded_state_dict
from golden_checks import run_converted

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')

# Trainable parameters of upstream's networks (tools/make_golden_pvt.py --counts).
UPSTREAM_PARAMS = {'pvt_tiny': 13229288, 'pvt_small': 24485864}


@pytest.mark.parametrize('name', sorted(UPSTREAM_PARAMS))
def test_parameter_counts_equal_upstream(name):
    assert count_params(get_model(name)) == UPSTREAM_PARAMS[name]


def _upstream_state(meta):
    return seeded_state_dict(meta['manifest'], meta['seed'])


@pytest.fixture(scope='module', params=['pvt_tiny', 'pvt_small_narrow'])
def golden(request, tmp_path_factory):
    meta, expected = load_fixture(FIXTURES, request.param)
    converted = convert_state_dict(meta['model'], _upstream_state(meta), **meta['kwargs'])
    path = str(tmp_path_factory.mktemp('pvt') / (request.param + '.params'))
    save_params(converted, path)
    return meta, expected, path, seeded_input(meta['input_shape'], meta['input_seed'])


@pytest.mark.parametrize('hybridize', [False, True], ids=['imperative', 'hybridized'])
def test_logits_match_upstream(golden, hybridize):
    meta, expected, path, x = golden
    assert np.isfinite(expected).all()
    err = relative_error(run_converted(meta, path, x, hybridize), expected)
    assert err <= meta['rtol'], '%s %s: relative error %.3g' % (meta['model'], meta['kwargs'],
                                                                err)


def test_logits_match_upstream_float64(golden):
    """In float64 the only difference left is the fixture's float32 storage (~1e-7)."""
    meta, expected, path, x = golden
    assert relative_error(run_converted(meta, path, x, dtype='float64'), expected) <= 1e-6


def test_converter_refuses_missing_extra_and_misshapen_weights():
    meta, _ = load_fixture(FIXTURES, 'pvt_small_narrow')
    state = _upstream_state(meta)
    state.pop('block2.1.attn.sr.weight')
    with pytest.raises(ConversionError, match='attn.sr.weight'):
        convert_state_dict(meta['model'], state, **meta['kwargs'])
    state = _upstream_state(meta)
    state['block1.0.attn.rate1'] = np.ones(1, np.float32)
    with pytest.raises(ConversionError, match='rate1'):
        convert_state_dict(meta['model'], state, **meta['kwargs'])
    state = _upstream_state(meta)
    state['pos_embed1'] = np.zeros((1, 197, 16), np.float32)      # another img_size
    with pytest.raises(ConversionError, match='pos_embed1'):
        convert_state_dict(meta['model'], state, **meta['kwargs'])


def test_released_checkpoint_layout_converts(tmp_path):
    """A {'model': state dict, ...} file, as DeiT's training script (PVT's) saves it, goes
    through convert_checkpoint and loads strictly."""
    torch = pytest.importorskip('torch')
    meta, expected = load_fixture(FIXTURES, 'pvt_small_narrow')
    state = {k: torch.from_numpy(np.asarray(v)) for k, v in _upstream_state(meta).items()}
    src, dst = str(tmp_path / 'pvt_small.pth'), str(tmp_path / 'pvt_small.params')
    torch.save({'model': state, 'epoch': 299}, src)
    convert_checkpoint(meta['model'], src, dst, **meta['kwargs'])
    x = seeded_input(meta['input_shape'], meta['input_seed'])
    assert relative_error(run_converted(meta, dst, x), expected) <= meta['rtol']
