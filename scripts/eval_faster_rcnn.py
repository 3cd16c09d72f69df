#!/usr/bin/env python
"""Evaluate a trained or converted Faster R-CNN: COCO mAP through GluonCV's COCO metric
(pycocotools), as GluonCV's ``scripts/detection/faster_rcnn/eval_faster_rcnn.py`` does.

Usage::

    python scripts/eval_faster_rcnn.py --pretrained faster_rcnn_fpn_atkernel_resnet50_coco.params
    python scripts/eval_faster_rcnn.py --pretrained run/..._best.params --gpus '' \\
        --val-json data/annotations/val.json --val-images data/val --image-short 64

A checkpoint written by ``train_faster_rcnn.py`` brings its ``--model-kwargs`` along (from its
``.json``), unless the command line gives constructor flags; the class names come from the
validation json.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gluon_convattn.train import cli  # noqa: E402
from gluon_convattn.train.detection import (NETWORKS, add_data_args, detector_name,  # noqa: E402
                                            gpu_context, load_datasets, val_loader, validate)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Validate Faster-RCNN networks.')
    parser.add_argument('--network', type=str, default='atkernel_resnet50', choices=NETWORKS,
                        help='Base network name')
    parser.add_argument('--dataset', type=str, default='coco', choices=['coco', 'voc'],
                        help='Testing dataset.')
    parser.add_argument('--num-workers', '-j', dest='num_workers', type=int, default=4,
                        help='Number of data workers')
    parser.add_argument('--gpus', type=str, default='0',
                        help="Testing with GPUs, you can specify 1,3 for example; '' for CPU.")
    parser.add_argument('--pretrained', type=str, required=True,
                        help='parameter file to evaluate (converted or trained)')
    parser.add_argument('--save-prefix', type=str, default='',
                        help='prefix of the detections json pycocotools reads')
    parser.add_argument('--static-alloc', action='store_true', help='static memory allocation')
    add_data_args(parser, train=False)
    cli.add_constructor_args(parser)    # none given: the checkpoint's
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    with cli.flag_errors(args):
        return _evaluate(args)


def _evaluate(args):
    from gluon_convattn.model_zoo import get_model
    from gluon_convattn.train.checkpoint import meta_path_for, read_checkpoint
    from gluon_convattn.train.logs import setup_logger
    from gluon_convattn.utils.params import load_parameters_checked
    logger = setup_logger()
    path = os.path.expanduser(args.pretrained)
    if not os.path.isfile(path):
        raise FileNotFoundError('--pretrained %s: no such file' % path)
    ckpt = read_checkpoint(meta_path_for(path))
    kwargs = cli.constructor_kwargs(args)
    if not kwargs and args.model_kwargs is None:
        kwargs = ckpt.meta.get('model_kwargs', {}) if ckpt is not None else {}
    ctx = gpu_context(args.gpus)
    _, val_dataset, metric = load_datasets(args, train=False,
                                           eval_prefix=args.save_prefix + 'eval')
    name = detector_name(args.network)
    net = get_model(name, classes=list(val_dataset.classes), short=args.image_short,
                    max_size=args.image_max_size, **kwargs)
    load_parameters_checked(net, path, ctx=ctx[0])
    net.collect_params().reset_ctx(ctx)
    names, values = validate(net, val_loader(net, val_dataset, len(ctx), args.num_workers),
                             ctx, metric, static_alloc=args.static_alloc)
    logger.info('%s on %d images of %s:\n%s', name, len(val_dataset),
                val_dataset.annotation_file if hasattr(val_dataset, 'annotation_file')
                else args.dataset, '\n'.join('{}={}'.format(k, v) for k, v in zip(names, values)))
    print('bbox mAP@[0.50:0.95] = %s %%' % values[-1])
    return 0


if __name__ == '__main__':
    cli.run_main(main)
