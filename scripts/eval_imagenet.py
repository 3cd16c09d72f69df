"""Top-1 and top-5 accuracy of a registered model on ImageNet's (or Tiny ImageNet's) validation
set, with GluonCV's validation preprocessing: resize the shorter side to
``ceil(input_size / crop_ratio)``, centre-crop ``input_size``, normalise.

    python scripts/eval_imagenet.py --model san10_pairwise --params san10_pairwise.params \\
        --use-rec --rec-val ~/.mxnet/datasets/imagenet/rec/val.rec \\
        --rec-val-idx ~/.mxnet/datasets/imagenet/rec/val.idx --num-gpus 1
"""
import argparse
import time
from types import SimpleNamespace

from gluon_convattn.model_zoo import get_model, get_model_info
from gluon_convattn.train import cli, inputs
from gluon_convattn.train.context import check_dtype, make_context
from gluon_convattn.train.logs import setup_logger
from gluon_convattn.train.loop import evaluate
from gluon_convattn.train.network import dry_forward, prepare_network
from gluon_convattn.train.validate import check_script_args


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Evaluate a model on the validation set.')
    cli.add_model_args(parser)
    cli.add_data_args(parser, train=False)
    weights = parser.add_mutually_exclusive_group(required=True)
    weights.add_argument('--params', type=str, help='parameter file to evaluate.')
    weights.add_argument('--pretrained', nargs='?', const=True, default=None,
                         help='the model\'s pretrained weights (optionally a weights tag of '
                              'its record, e.g. digits).')
    parser.add_argument('--logging-file', type=str, default=None,
                        help='also write the result to this file.')
    return parser.parse_args(argv)


def main(argv=None):
    """Evaluate as the flags say; returns a namespace with ``top1``, ``top5``, ``samples``."""
    args = check_script_args(parse_args(argv))
    with cli.flag_errors(args):
        return _evaluate(args)


def _evaluate(args):
    logger = setup_logger(args.logging_file)
    ctx = make_context(args.num_gpus)
    check_dtype(ctx, args.dtype)
    info = get_model_info(args.model)
    classes = inputs.default_classes(args)
    input_size = inputs.default_input_size(args, info)
    source = inputs.val_source(args, args.batch_size * len(ctx), classes,
                               inputs.augmentation(args, input_size))
    if args.params:
        net, _ = cli.create_network(args, classes)
        prepare_network(net, ctx, args.dtype, input_size, args.params)
    else:
        net = get_model(args.model, pretrained=args.pretrained, classes=classes, ctx=ctx,
                        **cli.constructor_kwargs(args))
        net.cast(args.dtype)
        dry_forward(net, ctx[0], args.dtype, input_size)
    if args.mode == 'hybrid':
        net.hybridize(static_alloc=True, static_shape=True)
    tic = time.time()
    top1, top5, samples = evaluate(net, source, ctx, args.dtype, classes, args.max_batches)
    logger.info('%s on %s (%d images, %dpx, crop ratio %g): top-1 %.4f top-5 %.4f '
                '(err-top1=%f err-top5=%f), %.1f s'
                % (args.model, source.name, samples, input_size, args.crop_ratio, top1, top5,
                   1 - top1, 1 - top5, time.time() - tic))
    return SimpleNamespace(top1=top1, top5=top5, samples=samples, net=net)


if __name__ == '__main__':
    cli.run_main(main)
