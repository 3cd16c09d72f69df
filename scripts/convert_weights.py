#!/usr/bin/env python
"""Convert an upstream PyTorch checkpoint into a Gluon ``.params`` file for a registered model.

Usage::

    python scripts/convert_weights.py --model san10_pairwise \\
        --src san10_pairwise/model_best.pth --dst ~/.mxnet/models/san10_pairwise.params
    python scripts/convert_weights.py --model NAME --src CKPT --dst OUT.params --classes 100
    python scripts/convert_weights.py --model NAME --src CKPT --dst OUT.params \\
        --model-kwargs base_channels=32

The checkpoint may be a plain state dict or wrapped as ``{'state_dict': ...}`` or
``{'model': ...}``, with or without ``module.`` prefixes. Conversion is strict: an upstream key
without a counterpart, a shape that differs, or a parameter left unfilled stops it with an error
naming the key. The written file is loaded back into ``get_model(NAME, ...)`` with every
parameter required before it takes the name ``--dst``, so what this script writes is what
``load_parameters`` reads; ``--dst`` is written atomically (a failure leaves no partial file) and
never over ``--src``. float16 and bfloat16 checkpoints are widened to float32 (exactly). The
checkpoint is read without running any code from it: see gluon_convattn/convert/reader.py.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gluon_convattn.train import cli  # noqa: E402


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', required=True, help='registered model name, e.g. san10_pairwise')
    parser.add_argument('--src', required=True, help='upstream PyTorch checkpoint (.pth/.pth.tar)')
    parser.add_argument('--dst', required=True, help='output Gluon parameter file (.params)')
    parser.add_argument('--classes', type=int, help="classifier size, when not the model's default")
    parser.add_argument('--no-verify', action='store_true',
                        help='skip loading the written file back into the model')
    cli.add_constructor_args(parser)
    args = parser.parse_args(argv)
    try:
        kwargs = cli.constructor_kwargs(args)
    except ValueError as err:
        parser.error(str(err))
    if args.classes is not None:
        if args.classes < 1:
            parser.error('--classes must be positive, got %d' % args.classes)
        kwargs['classes'] = args.classes
    return parser, args, kwargs


def main(argv=None):
    parser, args, kwargs = parse_args(argv)
    from gluon_convattn.convert import ConversionError, convert_checkpoint
    from gluon_convattn.model_zoo import get_model_info
    try:
        info = get_model_info(args.model)
        if info.family == 'ATAC':
            parser.exit(2, 'error: %s is an MXNet model upstream; its .params file loads directly '
                        'with get_model(%r).load_parameters(FILE) and needs no conversion\n'
                        % (info.name, info.name))
        with cli.flag_errors(args):
            convert_checkpoint(info.name, os.path.expanduser(args.src),
                               os.path.expanduser(args.dst), verify=not args.no_verify, **kwargs)
    except (ConversionError, OSError, ValueError, TypeError, ImportError) as err:
        parser.exit(2, 'error: %s\n' % err)
    print('wrote %s (%s from %s)' % (args.dst, info.name, args.src))
    return 0


if __name__ == '__main__':
    sys.exit(main())
