"""SAN against the upstream network (hszhao/SAN, run on the CPU by tools/make_golden_san.py).

Each fixture holds upstream's state-dict manifest, the weight and input seeds and upstream's
logits. The weights are rebuilt from manifest + seed, converted with the SAN converter (which
must consume every upstream key and fill every parameter of ours with the same shape) and
loaded strictly; our logits must match upstream's within 1e-4 relative error in float32.
"""
import os

import numpy as np
import pytest

from gluon_convattn.convert import convert_state_dict, save_params
from gluon_convattn.model_zoo import get_model
from gluon_convattn.utils import count_params
from support.golden import load_fixture, relative_error, seeded_input, seeded_state_dict
from golden_checks import run_converted

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')

# Trainable parameters of upstream's networks, counted from hszhao/SAN's model/san.py
# (tools/make_golden_san.py --counts).
UPSTREAM_PARAMS = {
    'san10_pairwise': 10531848, 'san10_patchwise': 11841124,
    'san15_pairwise': 14065436, 'san15_patchwise': 16181310,
    'san19_pairwise': 17596156, 'san19_patchwise': 20518470,
}


@pytest.mark.parametrize('name', sorted(UPSTREAM_PARAMS))
def test_parameter_counts_equal_upstream(name):
    assert count_params(get_model(name)) == UPSTREAM_PARAMS[name]


@pytest.fixture(scope='module', params=['san10_pairwise', 'san10_patchwise'])
def golden(request, tmp_path_factory):
    meta, expected = load_fixture(FIXTURES, request.param)
    converted = convert_state_dict(meta['model'], seeded_state_dict(meta['manifest'],
                                                                    meta['seed']),
                                   **meta['kwargs'])
    path = str(tmp_path_factory.mktemp('san') / (meta['model'] + '.params'))
    save_params(converted, path)
    x = meta['input_scale'] * seeded_input(meta['input_shape'], meta['input_seed'])
    return meta, expected, path, x


@pytest.mark.parametrize('hybridize', [False, True], ids=['imperative', 'hybridized'])
def test_logits_match_upstream(golden, hybridize):
    meta, expected, path, x = golden
    assert np.isfinite(expected).all()
    err = relative_error(run_converted(meta, path, x, hybridize), expected)
    assert err <= meta['rtol'], '%s: relative error %.3g' % (meta['model'], err)


def test_logits_match_upstream_float64(golden):
    """In float64 the only difference left is the fixture's float32 storage (~1e-7)."""
    meta, expected, path, x = golden
    assert relative_error(run_converted(meta, path, x, False, 'float64'), expected) <= 1e-6
