#!/usr/bin/env python
"""Regenerate the AT-kernel golden fixtures from an upstream Koooko96/AT-kernel checkout.

Usage::

    python tools/make_golden_atkernel.py --upstream /path/to/AT-kernel            # fixtures
    python tools/make_golden_atkernel.py --upstream /path/to/AT-kernel --counts   # counts

The script imports ``mmclassification/mmcls/models/backbones/resnet_ATkernel.py`` from the
checkout without mmcv or mmcls installed: ``mmcv.runner.BaseModule`` becomes ``torch.nn.Module``
and the ``BACKBONES`` registry a no-op (real packages are used when they import); ``einops``
is used when installed, otherwise a one-pattern stand-in for the single ``einops.repeat`` the
layer calls. Backbone arguments come from the released configs (executed as the plain Python
dicts they are); the classifier is global average pooling and a linear layer named ``head.fc``
as mmcls' ``GlobalAveragePooling`` + ``LinearClsHead`` (the fixture keeps the logits, before the
softmax mmcls applies at test time), so the manifest has mmcls' checkpoint layout.

Two upstream quirks are handled here, not in upstream's files:
1. ``Bottleneck`` passes ``softmax=`` to ``AT_kernel``, which does not take it (TypeError for
   every config with the AT kernel on): ``Bottleneck.__init__`` runs with ``AT_kernel`` bound to
   a wrapper that drops that argument.
2. The Tiny ImageNet config omits ``stride2or1block`` (default [0, 0]: no AT kernel anywhere)
   although its name says [1, 1]: the ``atkernel_resnet26_tiny`` fixture overrides it to
   [1, 1]; ``atkernel_resnet26_tiny_at_blocks_00`` runs the config as released.

Each network runs in eval mode with ``support.golden.seeded_state_dict`` weights over its own
state-dict manifest on a ``seeded_input``; ``support.golden.save_fixture`` writes the result.
Nothing from upstream is copied into the repository.
"""
import importlib.util
import os
import runpy
import sys
import types

import golden_tool
from support.golden import seeded_input  # noqa: E402 (golden_tool sets the path)

BACKBONE_FILE = os.path.join('mmclassification', 'mmcls', 'models', 'backbones',
                             'resnet_ATkernel.py')
CONFIG_R50 = os.path.join('mmclassification', 'configs', 'imagenet',
                          'R50_at_0001_11_k3_g4_b128x4_imagenet_cosinelr_100e.py')
CONFIG_R26 = os.path.join('mmclassification', 'configs', 'tiny_imagenet',
                          'R26_at_1000_11_k3_g4_b32x2_tinyimagenet_cosinelr_100e.py')

# fixture name -> (our model, our kwargs, upstream config, backbone overrides, weight seed,
#                  input shape). Inputs are the smallest the configs' strided stages take.
FIXTURES = {
    'atkernel_resnet50': ('atkernel_resnet50', {}, CONFIG_R50, {}, 31, [1, 3, 64, 64]),
    'atkernel_resnet26_tiny': ('atkernel_resnet26_tiny', {}, CONFIG_R26,
                               {'stride2or1block': [1, 1]}, 32, [2, 3, 64, 64]),
    'atkernel_resnet26_tiny_at_blocks_00': ('atkernel_resnet26_tiny', {'at_blocks': [0, 0]},
                                            CONFIG_R26, {}, 33, [2, 3, 64, 64]),
}
INPUT_SEED = 2021
REPO = 'Koooko96/AT-kernel'
UPSTREAM_FILES = [BACKBONE_FILE, CONFIG_R50, CONFIG_R26]


def _install_stubs():
    """Stand-ins for what the backbone file imports from mmcv and einops, when missing."""
    import torch
    try:
        import mmcv.runner  # noqa: F401
    except ImportError:
        class BaseModule(torch.nn.Module):
            def __init__(self, init_cfg=None):
                super().__init__()
                self.init_cfg = init_cfg
        mmcv = types.ModuleType('mmcv')
        mmcv.runner = types.ModuleType('mmcv.runner')
        mmcv.runner.BaseModule = BaseModule
        sys.modules.update({'mmcv': mmcv, 'mmcv.runner': mmcv.runner})
    try:
        import einops  # noqa: F401
    except ImportError:
        def repeat(tensor, pattern, **sizes):
            if pattern.replace(' ', '') != 'bchw->b(ck)hw':
                raise NotImplementedError('einops stand-in: only "b c h w -> b (c k) h w"')
            return tensor.repeat_interleave(sizes['k'], dim=1)
        einops = types.ModuleType('einops')
        einops.repeat = repeat
        sys.modules['einops'] = einops


def load_backbone_module(upstream, backbone_file=BACKBONE_FILE):
    """Import upstream's backbone file (the mmcls one, or mmdetection's copy with
    ``frozen_stages``) as ``_atkernel_upstream.backbones.resnet_ATkernel``."""
    _install_stubs()
    package = '_atkernel_upstream'
    registry = types.SimpleNamespace(register_module=lambda *a, **k: (lambda cls: cls))
    for name, attrs in ((package, {}), (package + '.builder', {'BACKBONES': registry}),
                        (package + '.backbones', {})):
        module = types.ModuleType(name)
        module.__path__ = []
        module.__dict__.update(attrs)
        sys.modules[name] = module
    name = package + '.backbones.resnet_ATkernel'
    spec = importlib.util.spec_from_file_location(name, os.path.join(upstream, backbone_file))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    at_kernel = module.AT_kernel

    def at_kernel_without_softmax(*args, softmax=None, **kwargs):   # quirk 1
        return at_kernel(*args, **kwargs)
    # Rebind AT_kernel for Bottleneck.__init__ only (AT_kernel's own super() call needs the
    # class under its name in the module).
    init = module.Bottleneck.__init__
    scope = dict(module.__dict__, AT_kernel=at_kernel_without_softmax)
    patched = types.FunctionType(init.__code__, scope, init.__name__, init.__defaults__,
                                 init.__closure__)
    patched.__kwdefaults__ = init.__kwdefaults__
    module.Bottleneck.__init__ = patched
    return module


def model_config(upstream, config, overrides):
    """Backbone kwargs and class count from a released mmcls config (plus overrides)."""
    model = runpy.run_path(os.path.join(upstream, config))['model']
    backbone = {k: v for k, v in model['backbone'].items() if k != 'type'}
    backbone.update(overrides)
    return backbone, model['head']['num_classes'], model['head']['in_channels']


def build_classifier(module, backbone_kwargs, classes, in_channels):
    """Upstream backbone + GAP + ``head.fc``, the parameter layout of mmcls' ImageClassifier."""
    import torch

    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = module.ResNet_ATkernel(**backbone_kwargs)
            self.head = torch.nn.Module()
            self.head.fc = torch.nn.Linear(in_channels, classes)

        def forward(self, x):
            return self.head.fc(self.backbone(x).mean(dim=(2, 3)))
    return Classifier()


def make_fixture(module, upstream, name, out):
    import torch
    model, kwargs, config, overrides, seed, input_shape = FIXTURES[name]
    backbone, classes, in_channels = model_config(upstream, config, overrides)
    torch.manual_seed(0)
    net = build_classifier(module, backbone, classes, in_channels).eval()
    manifest = golden_tool.load_seeded_weights(net, seed)
    expected = golden_tool.upstream_forward(net, seeded_input(input_shape, INPUT_SEED),
                                            float64=False)
    meta = {
        'model': model, 'kwargs': kwargs,
        'upstream': golden_tool.provenance(
            REPO, upstream,
            '%s ResNet_ATkernel(**%r) + GAP + Linear(%d, %d) as head.fc'
            % (BACKBONE_FILE, backbone, in_channels, classes),
            config=config, overrides=overrides,
            quirk_1='softmax= dropped from AT_kernel(...) calls',
            trainable_params=golden_tool.trainable_count(net), torch=torch.__version__),
        'seed': seed, 'manifest': manifest,
        'input_seed': INPUT_SEED, 'input_shape': input_shape, 'rtol': 1e-4,
    }
    golden_tool.write_fixture(out, name, meta, expected, note=', std %.4g' % expected.std())


def main(argv=None):
    args = golden_tool.parse_args(
        __doc__, REPO, UPSTREAM_FILES, FIXTURES, argv=argv,
        counts='print the trainable parameter counts of the fixtures\' networks')
    module = load_backbone_module(args.upstream)
    if args.counts:
        golden_tool.print_counts(
            (name, build_classifier(module, *model_config(args.upstream, config, overrides)))
            for name, (_, _, config, overrides, _, _) in FIXTURES.items())
        return 0
    for name in args.only or FIXTURES:
        make_fixture(module, args.upstream, name, args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
