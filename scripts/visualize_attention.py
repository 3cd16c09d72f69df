#!/usr/bin/env python
"""Save, for an image, the per-position attention weights of an AT-kernel, SAN or ACmix layer
as a picture.

Usage::

    python scripts/visualize_attention.py --model atkernel_resnet50 --params R50.params \\
        --image cat.jpg --out cat_attention.png
    python scripts/visualize_attention.py --model san10_pairwise --list-layers
    python scripts/visualize_attention.py --model acmix_resnet26 --layer 3 --image cat.jpg \\
        --out acmix_layer3.png --save-weights acmix_layer3.npy

The layers (:class:`~gluon_convattn.nn.ATKernel`, :class:`~gluon_convattn.nn.SAM`,
:class:`~gluon_convattn.nn.ACmix`) all hand their weights, shaped (N, maps, k*k, H*W), to
``gluon_convattn.ops.aggregation``; the script records that argument while the chosen layer
runs (imperatively). The picture shows the input crop and a mosaic with, at each output
position, that position's k x k window of weights (averaged over the weight maps, or one map
with ``--map``). Without ``--params`` the weights are random (a warning says so).
"""
import argparse
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from gluon_convattn.train import cli  # noqa: E402

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', required=True, help='registered model, e.g. atkernel_resnet50')
    parser.add_argument('--params', default=None, help='parameter file (default: random)')
    parser.add_argument('--image', help='input image')
    parser.add_argument('--size', type=int, default=None,
                        help='crop side (default: the model input size)')
    parser.add_argument('--layer', type=int, default=0,
                        help='index of the attention layer (see --list-layers)')
    parser.add_argument('--map', type=int, default=None,
                        help='one weight map (head/group) instead of their mean')
    parser.add_argument('--out', default='attention.png', help='picture to write')
    parser.add_argument('--save-weights', default=None, help='also save the weights (.npy)')
    parser.add_argument('--overwrite', action='store_true', help='replace existing files')
    parser.add_argument('--list-layers', action='store_true', help='list the layers and exit')
    cli.add_constructor_args(parser)
    return parser.parse_args(argv)


def attention_layers(net):
    """``[(name, block)]`` of the network's AT-kernel, SAN and ACmix layers, in order."""
    from gluon_convattn.nn.acmix import ACmix
    from gluon_convattn.nn.atkernel import ATKernel
    from gluon_convattn.nn.san import SAM
    found = []

    def visit(block, name):
        if isinstance(block, (ATKernel, SAM, ACmix)):
            found.append((name or block.name, block))
        for child_name, child in block._children.items():
            visit(child, '%s.%s' % (name, child_name) if name else child_name)
    visit(net, '')
    return found


def record_weights(net, layer, x):
    """Run ``net`` on ``x`` and return the weights ``layer`` passes to ``ops.aggregation``."""
    from gluon_convattn import ops
    recorded, inside = [], [False]
    original = ops.aggregation

    def recording(F, data, w, *args, **kwargs):
        if inside[0]:
            recorded.append(w.asnumpy())
        return original(F, data, w, *args, **kwargs)

    def enter(block, inputs):
        inside[0] = True

    def leave(block, inputs, output):
        inside[0] = False
    handles = [layer.register_forward_pre_hook(enter), layer.register_forward_hook(leave)]
    ops.aggregation = recording
    try:
        net(x)
    finally:
        ops.aggregation = original
        for handle in handles:
            handle.detach()
    if not recorded:
        raise ValueError('the layer computed no attention weights')
    # the AT kernel aggregates with its group-normalised logits and applies the affine after
    affine = getattr(layer, 'attention_affine', None)
    if affine is None:
        return recorded[0]
    import mxnet as mx
    return affine(mx.nd.array(recorded[0])).asnumpy()


def mosaic(weights, map_index=None):
    """(N, maps, k*k, H*W) weights of image 0 -> an (H*k, W*k) picture of the windows."""
    w = weights[0]
    if map_index is not None:
        if not 0 <= map_index < w.shape[0]:
            raise ValueError('--map %d: the layer has %d weight maps' % (map_index, w.shape[0]))
        w = w[map_index]
    else:
        w = w.mean(axis=0)
    taps, positions = w.shape
    k = int(round(np.sqrt(taps)))
    side = int(round(np.sqrt(positions)))
    if k * k != taps or side * side != positions:
        raise ValueError('weights of shape %s are not square windows on a square map'
                         % (weights.shape,))
    return w.reshape(k, k, side, side).transpose(2, 0, 3, 1).reshape(side * k, side * k)


def load_image(path, size):
    import mxnet as mx
    if not os.path.isfile(path):
        raise FileNotFoundError('--image %s: no such file' % path)
    img = mx.image.imread(path)
    img = mx.image.resize_short(img, size)
    img, _ = mx.image.center_crop(img, (size, size))
    x = mx.nd.image.normalize(mx.nd.image.to_tensor(img), mean=MEAN, std=STD)
    return img.asnumpy(), x.expand_dims(0)


def main(argv=None):
    args = parse_args(argv)
    with cli.flag_errors(args):
        return _visualize(args)


def _visualize(args):
    from gluon_convattn.model_zoo import get_model, get_model_info
    from gluon_convattn.utils.params import load_parameters_checked
    info = get_model_info(args.model)
    net = get_model(info.name, **cli.constructor_kwargs(args))
    layers = attention_layers(net)
    if not layers:
        raise ValueError('%s has no AT-kernel, SAN or ACmix layer' % info.name)
    if args.list_layers:
        for i, (name, block) in enumerate(layers):
            print('%d %s (%s)' % (i, name, type(block).__name__))
        return 0
    if not 0 <= args.layer < len(layers):
        raise ValueError('--layer %d: %s has %d attention layers (0..%d; see --list-layers)'
                         % (args.layer, info.name, len(layers), len(layers) - 1))
    if not args.image:
        raise ValueError('--image is required (or --list-layers)')
    for path in filter(None, (args.out, args.save_weights)):
        if os.path.exists(path) and not args.overwrite:
            raise ValueError('%s exists; pass --overwrite or another name' % path)
    if args.params:
        load_parameters_checked(net, args.params)
    else:
        logging.getLogger(__name__).warning('no --params: the weights are random')
        net.initialize()
    crop, x = load_image(args.image, args.size or info.input_size)
    name, layer = layers[args.layer]
    weights = record_weights(net, layer, x)
    picture = mosaic(weights, args.map)
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    axes[0].imshow(crop)
    axes[0].set_title('input %dx%d' % crop.shape[:2])
    shown = axes[1].imshow(picture, cmap='viridis')
    axes[1].set_title('%s %s: k x k weights at each position' % (name, type(layer).__name__))
    fig.colorbar(shown, ax=axes[1], fraction=0.046)
    for ax in axes:
        ax.axis('off')
    fig.savefig(args.out, bbox_inches='tight')
    plt.close(fig)
    if args.save_weights:
        np.save(args.save_weights, weights)
    print('%s layer %d (%s, weights %s) -> %s' % (info.name, args.layer, name,
                                                  weights.shape, args.out))
    return 0


if __name__ == '__main__':
    from gluon_convattn.train.cli import run_main
    run_main(main)
