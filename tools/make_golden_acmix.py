#!/usr/bin/env python
"""Regenerate the ACmix golden fixtures from an upstream LeapLabTHU/ACmix checkout.

Usage::

    python tools/make_golden_acmix.py --upstream /path/to/ACmix            # write the fixtures
    python tools/make_golden_acmix.py --upstream /path/to/ACmix --counts   # parameter counts

The script imports ``ResNet/ResNet_ImageNet.py`` (with ``ResNet/test_bottleneck.py``) and
``Swin-Transformer/models/swin_transformer_acmix.py`` from the checkout. Where timm or
torchvision are not installed, it registers stand-ins for the few names upstream imports:
``timm.models.layers.{DropPath, to_2tuple, trunc_normal_}`` (DropPath as timm's: the identity
in eval mode, whole samples dropped in training, which the upstream benchmark runs) and
``torchvision.models.utils.load_state_dict_from_url`` (imported, never called). Upstream's ``position()`` is told the device by the forward pass
(``x.is_cuda``), so the layers run on the CPU unchanged.

Each network runs in eval mode and float64 with ``support.golden.seeded_state_dict`` weights over
its own state-dict manifest, on a ``seeded_input``; ``support.golden.save_fixture`` stores the
logits. The Swin buffers ``relative_position_index`` and ``attn_mask`` are not weights: they are
left out of the manifest and recorded as (key, shape, sha256 of their int64/float64 values), so
the test can prove the converter's reconstruction of them equals upstream's. Nothing from
upstream is copied into the repository.
"""
import os
import sys
import types

import golden_tool
from gluon_convattn.convert.acmix import buffer_digest  # noqa: E402 (golden_tool sets the path)
from support.golden import seeded_input  # noqa: E402

BUFFER_SUFFIXES = ('relative_position_index', 'attn_mask')
RESNET_LAYERS = {'acmix_resnet26': [1, 2, 4, 1], 'acmix_resnet38': [2, 3, 5, 2],
                 'acmix_resnet50': [3, 4, 6, 3]}
SWIN_DEPTHS = {'acmix_swin_tiny': ([2, 2, 6, 2], 0.2), 'acmix_swin_small': ([2, 2, 18, 2], 0.3)}
SWIN_FIXED = dict(embed_dim=96, num_heads=[3, 6, 12, 24], window_size=7)

# fixture name -> (model, get_model kwargs == upstream overrides, weight seed, input shape)
FIXTURES = {
    'acmix_resnet26': ('acmix_resnet26', {}, 26, [2, 3, 128, 128]),
    'acmix_swin_tiny': ('acmix_swin_tiny', {}, 29, [1, 3, 224, 224]),
    # a narrow three-stage Swin (grids 28, 14, 7: masks with 16 and 4 windows, then no shift)
    'acmix_swin_tiny_narrow': ('acmix_swin_tiny', dict(img_size=112, embed_dim=32,
                                                       depths=[2, 2, 2], num_heads=[2, 4, 8]),
                               31, [2, 3, 112, 112]),
}
INPUT_SEED = 2022
REPO = 'LeapLabTHU/ACmix'
UPSTREAM_FILES = ['ResNet/ResNet_ImageNet.py', 'ResNet/test_bottleneck.py',
                  'Swin-Transformer/models/swin_transformer_acmix.py']


def _install_stand_ins():
    """Register stand-ins for timm and torchvision helpers when those packages are missing."""
    golden_tool.install_timm_stand_ins()
    try:
        import torchvision.models.utils  # noqa: F401
    except ImportError:     # no torchvision, or one newer than 0.12 (no models.utils)
        utils = types.ModuleType('torchvision.models.utils')

        def load_state_dict_from_url(*args, **kwargs):
            raise RuntimeError('stand-in: no downloads')

        utils.load_state_dict_from_url = load_state_dict_from_url
        for name, module in (('torchvision', types.ModuleType('torchvision')),
                             ('torchvision.models', types.ModuleType('torchvision.models'))):
            sys.modules.setdefault(name, module)
        sys.modules['torchvision.models.utils'] = utils


def load_upstream(upstream):
    """Import upstream's ResNet and Swin entry points from the checkout."""
    _install_stand_ins()
    sys.path.insert(0, os.path.join(os.path.abspath(upstream), 'ResNet'))
    sys.path.insert(0, os.path.join(os.path.abspath(upstream), 'Swin-Transformer'))
    import importlib
    resnet = importlib.import_module('ResNet_ImageNet')
    swin = importlib.import_module('models.swin_transformer_acmix')
    return resnet, swin


def build(resnet, swin, model, kwargs, classes=1000):
    if model in RESNET_LAYERS:
        if kwargs:
            raise ValueError('no overrides for the ResNet fixtures')
        return resnet.ACmix_ResNet(layers=RESNET_LAYERS[model], num_classes=classes)
    depths, drop_path = SWIN_DEPTHS[model]
    config = dict(SWIN_FIXED, depths=depths, drop_path_rate=drop_path, img_size=224)
    config.update(kwargs)
    return swin.SwinTransformer_acmix(num_classes=classes, **config)


def make_fixture(resnet, swin, torch, name, upstream, out):
    model, kwargs, seed, input_shape = FIXTURES[name]
    torch.manual_seed(0)
    net = build(resnet, swin, model, kwargs).eval()
    buffers = [[k, list(v.shape), buffer_digest(v.numpy())] for k, v in net.state_dict().items()
               if k.endswith(BUFFER_SUFFIXES)]
    manifest = golden_tool.load_seeded_weights(net, seed, buffers=BUFFER_SUFFIXES)
    expected = golden_tool.upstream_forward(net, seeded_input(input_shape, INPUT_SEED))
    entry = ('ResNet/ResNet_ImageNet.py ACmix_ResNet' if model in RESNET_LAYERS else
             'Swin-Transformer/models/swin_transformer_acmix.py SwinTransformer_acmix')
    meta = {
        'model': model, 'kwargs': kwargs,
        'upstream': golden_tool.provenance(REPO, upstream, entry,
                                           torch=torch.__version__, dtype='float64',
                                           mode='eval'),
        'seed': seed, 'manifest': manifest, 'buffers': buffers, 'input_seed': INPUT_SEED,
        'input_shape': input_shape, 'rtol': 1e-4,
    }
    golden_tool.write_fixture(out, name, meta, expected)


def main(argv=None):
    args = golden_tool.parse_args(
        __doc__, REPO, UPSTREAM_FILES, FIXTURES, argv=argv,
        counts='print the trainable parameter counts of the five models and exit')
    resnet, swin = load_upstream(args.upstream)
    import torch
    if args.counts:
        golden_tool.print_counts((model, build(resnet, swin, model, {}))
                                 for model in list(RESNET_LAYERS) + list(SWIN_DEPTHS))
        return 0
    for name in args.only or FIXTURES:
        make_fixture(resnet, swin, torch, name, args.upstream, args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
