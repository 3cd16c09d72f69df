#!/usr/bin/env python
"""Print a registered model's trainable parameters and multiply-adds per stage and in total.

Usage::

    python scripts/summary.py --model san10_pairwise
    python scripts/summary.py --model atkernel_resnet26_tiny --input-size 64

Counts come from the hybridized graph on one image (``gluon_convattn.utils.summary``; what is
counted is in docs/flops.md). Nothing is run, so no GPU and no weights are needed.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gluon_convattn.train import cli  # noqa: E402  (gluon_convattn first: the CUDA libraries)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', required=True, help='registered model name')
    parser.add_argument('--input-size', type=int,
                        help="image height and width (default: the model's input size)")
    cli.add_constructor_args(parser)
    args = parser.parse_args(argv)
    from gluon_convattn.utils.summary import format_summary, summarize
    try:
        with cli.flag_errors(args):
            rows = summarize(args.model, input_size=args.input_size,
                             **cli.constructor_kwargs(args))
    except ValueError as err:
        parser.exit(2, 'error: %s\n' % err)
    print(format_summary(rows))


if __name__ == '__main__':
    main()
