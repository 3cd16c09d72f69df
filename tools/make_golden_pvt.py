#!/usr/bin/env python
"""Regenerate the PVT v1 golden fixtures from an upstream whai362/PVT checkout.

Usage::

    python tools/make_golden_pvt.py --upstream /path/to/PVT            # write the fixtures
    python tools/make_golden_pvt.py --upstream /path/to/PVT --counts   # parameter counts

The script imports ``classification/pvt.py`` (PVT v1) from the checkout; where timm is not
installed it registers stand-ins for the names that file imports
(``golden_tool.install_timm_stand_ins``). Each network runs in eval mode and float64 with
``support.golden.seeded_state_dict`` weights over its own state-dict manifest, on a
``seeded_input``; ``support.golden.save_fixture`` stores the logits. Nothing from upstream is
copied into the repository.
"""
import os
import sys

import golden_tool
from support.golden import seeded_input  # noqa: E402 (golden_tool sets the path)

ENTRY = 'classification/pvt.py'
MODELS = ('pvt_tiny', 'pvt_small')
DEPTHS = {'pvt_tiny': [2, 2, 2, 2], 'pvt_small': [3, 4, 6, 3]}

# fixture name -> (model, get_model kwargs == upstream overrides, weight seed, input shape)
FIXTURES = {
    'pvt_tiny': ('pvt_tiny', {}, 41, [1, 3, 224, 224]),
    # a narrow 64 px PVT-Small layout: grids 16, 8, 4, 2 with reductions 8, 4, 2, 1
    'pvt_small_narrow': ('pvt_small', dict(img_size=64, embed_dims=[16, 32, 40, 64]),
                         43, [2, 3, 64, 64]),
}
INPUT_SEED = 2021


def load_upstream(upstream):
    """Import upstream's ``classification/pvt.py`` from the checkout."""
    golden_tool.install_timm_stand_ins()
    sys.path.insert(0, os.path.join(os.path.abspath(upstream), 'classification'))
    import importlib
    return importlib.import_module('pvt')


def build(pvt, model, kwargs, classes=1000):
    """Upstream's registered constructor, or, with overrides, upstream's
    ``PyramidVisionTransformer`` with that constructor's configuration updated by them
    (drop_path_rate 0: the fixtures run in eval mode)."""
    if not kwargs:
        return getattr(pvt, model)(num_classes=classes)
    import functools
    import torch
    config = dict(patch_size=4, embed_dims=[64, 128, 320, 512], num_heads=[1, 2, 5, 8],
                  mlp_ratios=[8, 8, 4, 4], qkv_bias=True, sr_ratios=[8, 4, 2, 1],
                  norm_layer=functools.partial(torch.nn.LayerNorm, eps=1e-6),
                  depths=DEPTHS[model])
    config.update(kwargs)
    return pvt.PyramidVisionTransformer(num_classes=classes, **config)


def make_fixture(pvt, torch, name, upstream, out):
    model, kwargs, seed, input_shape = FIXTURES[name]
    torch.manual_seed(0)
    net = build(pvt, model, kwargs).eval()
    manifest = golden_tool.load_seeded_weights(net, seed)
    expected = golden_tool.upstream_forward(net, seeded_input(input_shape, INPUT_SEED))
    meta = {
        'model': model, 'kwargs': kwargs,
        'upstream': golden_tool.provenance('whai362/PVT', upstream, ENTRY + ' ' + model,
                                           torch=torch.__version__, dtype='float64',
                                           mode='eval'),
        'seed': seed, 'manifest': manifest, 'input_seed': INPUT_SEED,
        'input_shape': input_shape, 'rtol': 1e-4,
    }
    golden_tool.write_fixture(out, name, meta, expected)


def main(argv=None):
    args = golden_tool.parse_args(__doc__, 'whai362/PVT', [ENTRY], FIXTURES, argv=argv,
                                  counts='print the trainable parameter counts and exit')
    pvt = load_upstream(args.upstream)
    import torch
    if args.counts:
        golden_tool.print_counts((model, build(pvt, model, {})) for model in MODELS)
        return 0
    for name in args.only or FIXTURES:
        make_fixture(pvt, torch, name, args.upstream, args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
