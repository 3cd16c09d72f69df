#!/usr/bin/env python
"""Regenerate KAConv's golden fixtures from an upstream dreamcontinue/KAConv checkout.

Usage::

    python tools/make_golden_kaconv.py --upstream /path/to/KAConv            # write fixtures
    python tools/make_golden_kaconv.py --upstream /path/to/KAConv --counts   # parameter counts

Imports ``models/KAResNet.py`` from the checkout (by file path, so the other model files and
their imports are not needed), builds ``ResNet(num_classes=1000, depth=50)``, loads seeded
weights (``support.golden.seeded_state_dict`` over its own state-dict manifest), runs it in eval
mode in float64 on a seeded input and stores the logits with ``support.golden.save_fixture``.

Upstream's ``KAConv`` always builds ``AGL`` (it looks the name up in its module when it is
constructed). The AG-H network is built the way upstream's code would build it with AG-H
selected: the module's ``AGL`` name is bound to its own ``AGH`` class while the network is
constructed, and restored afterwards. Nothing from upstream is copied into the repository.
"""
import importlib.util
import os
import sys

import golden_tool
from support.golden import seeded_input  # noqa: E402 (golden_tool sets the path)

DEPTHS = {'karesnet50_l': (50, 'L'), 'karesnet50_h': (50, 'H'),
          'karesnet101_l': (101, 'L'), 'karesnet101_h': (101, 'H')}
FIXTURES = {'karesnet50_l': 31, 'karesnet50_h': 32}     # name -> weight seed
INPUT_SEED = 2022
INPUT_SHAPE = [2, 3, 64, 64]
REPO = 'dreamcontinue/KAConv'
UPSTREAM_FILES = ['models/KAResNet.py']


def load_upstream(upstream):
    """Import upstream ``models/KAResNet.py`` as a standalone module."""
    path = os.path.join(upstream, 'models', 'KAResNet.py')
    spec = importlib.util.spec_from_file_location('upstream_karesnet', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(module, name, classes=1000):
    depth, ag = DEPTHS[name]
    if ag == 'L':
        return module.ResNet(num_classes=classes, depth=depth)
    original = module.AGL
    module.AGL = module.AGH        # KAConv.__init__ resolves AGL at construction time
    try:
        return module.ResNet(num_classes=classes, depth=depth)
    finally:
        module.AGL = original


def make_fixture(module, torch, name, upstream, out):
    seed = FIXTURES[name]
    net = build(module, name).eval()
    manifest = golden_tool.load_seeded_weights(net, seed)
    expected = golden_tool.upstream_forward(net, seeded_input(INPUT_SHAPE, INPUT_SEED))
    depth, ag = DEPTHS[name]
    meta = {
        'model': name, 'kwargs': {},
        'upstream': golden_tool.provenance(
            REPO, upstream,
            'models/KAResNet.py ResNet(num_classes=1000, depth=%d)%s'
            % (depth, '' if ag == 'L' else ', AGL bound to AGH while built'),
            torch=torch.__version__, dtype='float64', mode='eval'),
        'seed': seed, 'manifest': manifest, 'input_seed': INPUT_SEED,
        'input_shape': INPUT_SHAPE, 'rtol': 1e-4,
    }
    golden_tool.write_fixture(out, name, meta, expected)


def main(argv=None):
    args = golden_tool.parse_args(
        __doc__, REPO, UPSTREAM_FILES, FIXTURES, argv=argv,
        counts='print the trainable parameter counts of the four KAResNets and exit')
    import torch
    module = load_upstream(args.upstream)
    if args.counts:
        golden_tool.print_counts((name, build(module, name)) for name in DEPTHS)
        return 0
    for name in args.only or FIXTURES:
        make_fixture(module, torch, name, args.upstream, args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
