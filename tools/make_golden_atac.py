#!/usr/bin/env python
"""Regenerate the ATAC golden fixtures from an upstream YimianDai/open-atac checkout.

Usage::

    python tools/make_golden_atac.py --upstream /path/to/open-atac

Upstream ATAC is MXNet/Gluon code, so no conversion is involved: for every fixture the script

1. builds the upstream network (``model.ResNet20V2ATAC`` or ``model.ResNet50_v1bATAC``, imported
   from the checkout) with the arguments of ``train_cifar.py`` / ``train_imagenet.py``;
2. initialises it, runs it once to fix the deferred shapes and saves it with
   ``save_parameters``; the names and shapes in that file, in file order, are the manifest;
3. fills the manifest with ``support.golden.seeded_state_dict`` weights (BN running statistics
   included, so eval-mode batch norm is exercised), writes them with ``mx.nd.save`` under the
   upstream keys and loads that file back into the upstream network strictly;
4. runs the network in inference mode on a ``seeded_input`` and stores the logits together
   with the manifest, the seeds and upstream's parameter counts (``support.golden.save_fixture``).

The test (``tests/fidelity/test_atac_golden.py``) rebuilds the same ``.params`` file from
manifest and seed and loads it into our network with ``allow_missing=False,
ignore_extra=False``. Nothing from upstream is copied into the repository.
"""
import hashlib
import os
import sys
import tempfile

import numpy as np

import golden_tool
from support.golden import seeded_input, seeded_state_dict  # noqa: E402

MODEL_FILES = [os.path.join('model', name)
               for name in ('__init__.py', 'activation.py', 'classification.py')]
INPUT_SEED = 2020

# train_cifar.py's fixed settings for --model atac; act_type, r, useReLU, useGlobal and
# act_layers come from its command line (the README recipe: ChaATAC, r 2, useReLU).
CIFAR_ARGS = dict(channels=[16, 16, 32, 64], classes=10, act_type='ChaATAC', r=2, skernel=3,
                  dilation=1, useReLU=True, useGlobal=False, act_layers=4, replace_act='relu',
                  act_order='bac', asBackbone=False)
# train_imagenet.py: layers [3, 4, 6, 3]; the released run used r 2, act_layers 2.
RESNET50_ARGS = dict(act_type='ChaATAC', r=2, act_layers=2, layers=[3, 4, 6, 3])

# fixture name -> (our model, our kwargs (also the upstream overrides), upstream class,
#                  upstream base arguments, weight seed, input shape)
FIXTURES = {
    'cifar_resnet20_v2_atac': (
        'cifar_resnet20_v2_atac', {}, 'ResNet20V2ATAC', dict(CIFAR_ARGS, layers=[3] * 3),
        41, [2, 3, 32, 32]),
    'cifar_resnet20_v2_atac_act_layers_2': (
        'cifar_resnet20_v2_atac', {'act_layers': 2}, 'ResNet20V2ATAC',
        dict(CIFAR_ARGS, layers=[3] * 3), 42, [2, 3, 32, 32]),
    'cifar_resnet20_v2_atac_pre_global': (
        'cifar_resnet20_v2_atac',
        {'act_layers': 1, 'act_order': 'pre', 'useGlobal': True, 'useReLU': False},
        'ResNet20V2ATAC', dict(CIFAR_ARGS, layers=[3] * 3), 43, [2, 3, 32, 32]),
    'cifar_resnet20_v2_atac_prelu': (
        'cifar_resnet20_v2_atac', {'act_type': 'prelu', 'act_layers': 3}, 'ResNet20V2ATAC',
        dict(CIFAR_ARGS, layers=[3] * 3), 44, [2, 3, 32, 32]),
    'resnet50_v1b_atac': (
        'resnet50_v1b_atac', {}, 'ResNet50_v1bATAC', RESNET50_ARGS, 45, [1, 3, 64, 64]),
    'resnet50_v1b_atac_dilated_avg_down': (
        'resnet50_v1b_atac', {'dilated': True, 'avg_down': True, 'act_layers': 3},
        'ResNet50_v1bATAC', RESNET50_ARGS, 46, [1, 3, 64, 64]),
}


def import_upstream(upstream):
    """Import the checkout's ``model`` package (upstream's networks)."""
    sys.path.insert(0, upstream)
    try:
        import model
    finally:
        sys.path.remove(upstream)
    if not os.path.abspath(model.__file__).startswith(os.path.abspath(upstream)):
        raise RuntimeError('imported %s instead of the checkout\'s model package' % model.__file__)
    return model


def source_digest(upstream):
    """sha256 over upstream's model files: identifies the code a fixture was measured on."""
    digest = hashlib.sha256()
    for name in MODEL_FILES:
        with open(os.path.join(upstream, name), 'rb') as f:
            digest.update(f.read())
    return digest.hexdigest()


def parameter_counts(net):
    params = net.collect_params().values()
    return (int(sum(np.prod(p.shape) for p in params if p.grad_req != 'null')),
            int(sum(np.prod(p.shape) for p in params)))


def make_fixture(upstream_model, upstream, name, out, folder):
    import mxnet as mx
    model, kwargs, cls, base_args, seed, input_shape = FIXTURES[name]
    args = dict(base_args, **kwargs)
    net = getattr(upstream_model, cls)(**args)
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros(input_shape))
    saved = os.path.join(folder, name + '-init.params')
    net.save_parameters(saved)
    manifest = [[key, list(value.shape)] for key, value in mx.nd.load(saved).items()]
    seeded = os.path.join(folder, name + '-seeded.params')
    mx.nd.save(seeded, {key: mx.nd.array(value)
                        for key, value in seeded_state_dict(manifest, seed).items()})
    net.load_parameters(seeded, allow_missing=False, ignore_extra=False)
    x = mx.nd.array(seeded_input(input_shape, INPUT_SEED))
    expected = net(x).asnumpy()
    trainable, with_stats = parameter_counts(net)
    meta = {
        'model': model, 'kwargs': kwargs,
        'upstream': {'repo': 'YimianDai/open-atac', 'model_sha256': source_digest(upstream),
                     'entry': 'model.%s(**%r)' % (cls, args),
                     'trainable_params': trainable, 'params_with_bn_stats': with_stats,
                     'mxnet': mx.__version__},
        'seed': seed, 'manifest': manifest,
        'input_seed': INPUT_SEED, 'input_shape': input_shape, 'rtol': 1e-4,
    }
    golden_tool.write_fixture(out, name, meta, expected,
                              note=', %d trainable params' % trainable)


def main(argv=None):
    args = golden_tool.parse_args(__doc__, 'YimianDai/open-atac', MODEL_FILES, FIXTURES,
                                  argv=argv)
    upstream_model = import_upstream(os.path.abspath(args.upstream))
    with tempfile.TemporaryDirectory() as folder:
        for name in args.only or sorted(FIXTURES):
            make_fixture(upstream_model, args.upstream, name, args.out, folder)


if __name__ == '__main__':
    main()
