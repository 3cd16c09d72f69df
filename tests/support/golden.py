"""Golden fixtures: seeded weights described by a key/shape manifest, inputs, expected outputs.

A fixture is measured once from the upstream code (``tools/make_golden_<family>.py``) and replayed by the
tests. The same manifest and seed give the same weights on every machine (numpy's
``RandomState`` stream is stable across numpy versions), so a fixture stores no weights.

Fixture layout, ``tests/fidelity/<name>.json`` beside ``<name>.npz``::

    {"model": our model name, "kwargs": get_model kwargs, "upstream": {...provenance...},
     "seed": weight seed, "manifest": [[upstream key, shape], ...],
     "input_seed": int, "input_shape": [N, 3, H, W], "rtol": 1e-4}

``<name>.npz`` holds ``expected`` (the upstream output).
"""
import json
import os

import numpy as np

__all__ = ['seeded_state_dict', 'seeded_input', 'relative_error', 'save_fixture', 'load_fixture']

_RUNNING_VAR = ('running_var', 'moving_var')
_RUNNING_MEAN = ('running_mean', 'moving_mean')
_SCALE = ('weight', 'gamma')


def _seeded_value(key, shape, rs):
    leaf = key.rsplit('.', 1)[-1]
    if key.endswith('num_batches_tracked'):
        return np.zeros(shape, dtype=np.int64)
    if key.endswith(_RUNNING_VAR):
        return (0.5 + rs.random_sample(shape)).astype(np.float32)
    if key.endswith(_RUNNING_MEAN):
        return (0.1 * rs.standard_normal(shape)).astype(np.float32)
    if len(shape) >= 2:
        fan_in = int(np.prod(shape[1:]))
        return (rs.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)
    if leaf in _SCALE:
        return (1.0 + 0.1 * rs.standard_normal(shape)).astype(np.float32)
    return (0.1 * rs.standard_normal(shape)).astype(np.float32)


def seeded_state_dict(manifest, seed):
    """Deterministic weights for a manifest of ``(key, shape)`` pairs, drawn in manifest order.

    Weight tensors (2-D and more) are standard normal over sqrt(fan_in); BN running variances
    are uniform in [0.5, 1.5); running means, biases and other vectors are 0.1 x normal; scale
    vectors (``weight``/``gamma``) are 1 + 0.1 x normal.
    """
    rs = np.random.RandomState(seed)
    return {key: _seeded_value(key, tuple(shape), rs) for key, shape in manifest}


def seeded_input(shape, seed):
    """A standard-normal float32 input of ``shape``."""
    return np.random.RandomState(seed).standard_normal(tuple(shape)).astype(np.float32)


def relative_error(actual, expected):
    """max |actual - expected| / max |expected|: the error relative to the outputs' scale."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    if actual.shape != expected.shape:
        raise ValueError('shape %s does not match the expected %s' % (actual.shape,
                                                                       expected.shape))
    return float(np.abs(actual - expected).max() / max(np.abs(expected).max(), 1e-30))


def save_fixture(folder, name, meta, expected):
    """Write ``<folder>/<name>.json`` (``meta``) and ``<folder>/<name>.npz`` (``expected``)."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name + '.json'), 'w') as f:
        json.dump(meta, f, indent=1)
        f.write('\n')
    np.savez_compressed(os.path.join(folder, name + '.npz'),
                        expected=np.asarray(expected, np.float32))


def load_fixture(folder, name):
    """Read a fixture written by :func:`save_fixture`: ``(meta, expected)``."""
    with open(os.path.join(folder, name + '.json')) as f:
        meta = json.load(f)
    with np.load(os.path.join(folder, name + '.npz')) as data:
        expected = data['expected']
    return meta, expected
