#!/usr/bin/env python
"""Regenerate SAN's golden fixtures from an upstream hszhao/SAN checkout.

Usage::

    python tools/make_golden_san.py --upstream /path/to/SAN            # write the fixtures
    python tools/make_golden_san.py --upstream /path/to/SAN --counts   # print parameter counts

Upstream's ``Subtraction``, ``Subtraction2`` and ``Aggregation`` run only as CuPy kernels on a
GPU. Upstream's own tests (``lib/sa/functions/*.py``, ``test_*``) define them by padding and
``torch.nn.Unfold``; this script substitutes those definitions (written out below) into
``model/san.py`` so the released network runs on the CPU, then runs it with seeded weights
(``support.golden.seeded_state_dict`` over its own state-dict manifest) on a seeded input and
stores the logits with ``support.golden.save_fixture``. Nothing from upstream is copied into the
repository: the checkout is imported from the path given on the command line.
"""
import importlib
import importlib.util
import os
import sys
import types

import numpy as np

import golden_tool
from support.golden import seeded_input  # noqa: E402 (golden_tool sets the path)

CONFIGS = {
    'san10_pairwise': dict(sa_type=0, layers=[2, 1, 2, 4, 1]),
    'san10_patchwise': dict(sa_type=1, layers=[2, 1, 2, 4, 1]),
    'san15_pairwise': dict(sa_type=0, layers=[3, 2, 3, 5, 2]),
    'san15_patchwise': dict(sa_type=1, layers=[3, 2, 3, 5, 2]),
    'san19_pairwise': dict(sa_type=0, layers=[3, 3, 4, 6, 3]),
    'san19_patchwise': dict(sa_type=1, layers=[3, 3, 4, 6, 3]),
}
KERNELS = [3, 7, 7, 7, 7]
REPO = 'hszhao/SAN'
UPSTREAM_FILES = ['model/san.py']
# name -> (weight seed, input scale). Patchwise attention weights are not normalised, so each
# block is quadratic in its input: with seeded weights a unit-variance input overflows float32 by
# stage 3, while a 0.1-scaled one keeps the logits in the thousands.
FIXTURES = {'san10_pairwise': (11, 1.0), 'san10_patchwise': (12, 0.1)}
INPUT_SEED = 2020
INPUT_SHAPE = [2, 3, 128, 128]    # the smallest input SAN takes (last stage 4x4, 7x7 window)


def _stub_cupy():
    """``lib/sa/functions/utils.py`` imports CuPy at module level; CPU hosts have none."""
    if importlib.util.find_spec('cupy') is not None:
        return
    stub = types.ModuleType('cupy')
    stub.util = types.SimpleNamespace(memoize=lambda **kw: (lambda fn: fn))
    stub.cuda = types.SimpleNamespace(compile_with_cache=None)
    sys.modules['cupy'] = stub


def _window_ops():
    """Unfold definitions of the three operators, as upstream's tests state them."""
    import torch
    from torch import nn

    class _Window(nn.Module):
        def __init__(self, kernel_size, stride, padding, dilation, pad_mode):
            super().__init__()
            self.k, self.stride, self.padding, self.dilation = (kernel_size, stride, padding,
                                                                dilation)
            self.pad_mode = pad_mode
            self.taps = nn.Unfold(kernel_size, dilation=dilation, stride=stride,
                                  padding=0 if pad_mode == 1 else padding)
            self.centre = nn.Unfold(1, dilation=dilation, stride=stride, padding=0)

        def window(self, x):
            if self.pad_mode == 1:
                x = nn.functional.pad(x, [self.padding] * 4, mode='reflect')
            cols = self.taps(x)
            return cols.view(x.shape[0], -1, self.k * self.k, cols.shape[-1])

        def out_size(self, x):
            extent = self.dilation * (self.k - 1) + 1
            return tuple((s + 2 * self.padding - extent) // self.stride + 1
                         for s in x.shape[2:])

    class Subtraction2(_Window):
        def forward(self, x1, x2):
            taps = self.window(x2)
            return self.centre(x1).view(x1.shape[0], x1.shape[1], 1, -1) - taps

    class Subtraction(Subtraction2):
        def forward(self, x):
            return super().forward(x, x)

    class Aggregation(_Window):
        def forward(self, x, w):
            n, c = x.shape[:2]
            taps = self.window(x).view(n, c // w.shape[1], w.shape[1], self.k * self.k, -1)
            return (w.unsqueeze(1) * taps).sum(-2).view(n, c, *self.out_size(x))

    return Subtraction, Subtraction2, Aggregation, torch


def load_upstream(upstream):
    """Import upstream ``model/san.py`` with the CPU operators substituted."""
    _stub_cupy()
    sys.path.insert(0, os.path.abspath(upstream))
    san = importlib.import_module('model.san')
    san.Subtraction, san.Subtraction2, san.Aggregation, torch = _window_ops()
    return san, torch


def build(san, name, classes=1000):
    cfg = CONFIGS[name]
    return san.san(sa_type=cfg['sa_type'], layers=cfg['layers'], kernels=KERNELS,
                   num_classes=classes)


def make_fixture(san, torch, name, upstream, out):
    seed, input_scale = FIXTURES[name]
    torch.manual_seed(0)
    net = build(san, name).eval()
    manifest = golden_tool.load_seeded_weights(net, seed)
    x = input_scale * seeded_input(INPUT_SHAPE, INPUT_SEED).astype(np.float64)
    expected = golden_tool.upstream_forward(net, x)
    cfg = CONFIGS[name]
    meta = {
        'model': name, 'kwargs': {},
        'upstream': golden_tool.provenance(
            REPO, upstream,
            'model/san.py san(sa_type=%d, layers=%s, kernels=%s, num_classes=1000)'
            % (cfg['sa_type'], cfg['layers'], KERNELS),
            operators='unfold definitions from lib/sa/functions test_* (CPU)',
            torch=torch.__version__, dtype='float64', mode='eval'),
        'seed': seed, 'manifest': manifest, 'input_seed': INPUT_SEED,
        'input_shape': INPUT_SHAPE, 'input_scale': input_scale, 'rtol': 1e-4,
    }
    golden_tool.write_fixture(out, name, meta, expected)


def main(argv=None):
    args = golden_tool.parse_args(
        __doc__, REPO, UPSTREAM_FILES, FIXTURES, argv=argv,
        counts='print the trainable parameter counts of the six configs and exit')
    san, torch = load_upstream(args.upstream)
    if args.counts:
        golden_tool.print_counts((name, build(san, name)) for name in CONFIGS)
        return 0
    for name in args.only or FIXTURES:
        make_fixture(san, torch, name, args.upstream, args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
