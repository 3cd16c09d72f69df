#!/usr/bin/env python
"""Export a registered model with trained weights to ONNX (opset 13, dynamic batch).

Usage::

    python scripts/export_onnx.py --model san10_patchwise --params san10_patchwise.params \\
        --output san10_patchwise.onnx
    python scripts/export_onnx.py --model cifar_resnet20_v2_atac --classes 10 \\
        --params params/cifar_resnet20_v2_atac-digits.params --input-size 32 --output atac.onnx

The graph takes ``data`` of shape (batch, 3, S, S), S the ``--input-size`` (the model's
registered size by default), with any batch. An existing output is replaced only with
``--overwrite``. Constructor arguments (Swin's ``img_size``, ``impl``) go through the Python
function, ``gluon_convattn.export.export_onnx(name, output, params=..., **kwargs)``. See
docs/onnx.md.
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
    parser.add_argument('--params', required=True, help='trained weights (.params)')
    parser.add_argument('--output', required=True, help='ONNX file to write (.onnx)')
    parser.add_argument('--classes', type=int, help="classifier size, when not the model's default")
    parser.add_argument('--input-size', type=int,
                        help="image height and width (default: the model's input size)")
    parser.add_argument('--overwrite', action='store_true', help='replace an existing output')
    cli.add_constructor_args(parser)
    args = parser.parse_args(argv)
    for flag, value in (('--classes', args.classes), ('--input-size', args.input_size)):
        if value is not None and value < 1:
            parser.error('%s must be positive, got %d' % (flag, value))
    from gluon_convattn.export import export_onnx
    try:
        with cli.flag_errors(args):
            path = export_onnx(args.model, args.output, params=args.params, classes=args.classes,
                               input_size=args.input_size, overwrite=args.overwrite,
                               **cli.constructor_kwargs(args))
    except (ValueError, FileNotFoundError) as err:
        parser.exit(2, 'error: %s\n' % err)
    print('wrote %s (ONNX opset 13; input data of shape (batch, 3, H, W))' % path)


if __name__ == '__main__':
    main()
