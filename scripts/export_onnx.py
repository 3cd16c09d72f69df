#!/usr/bin/env python
"""Export a registered model with trained weights to ONNX (opset 13, dynamic batch).

Usage::

    python scripts/export_onnx.py --model san10_patchwise --params san10_patchwise.params \\
        --output san10_patchwise.onnx
    python scripts/export_onnx.py --model cifar_resnet20_v2_atac --classes 10 \\
        --params params/cifar_resnet20_v2_atac-digits.params --input-size 32 --output atac.onnx

The graph takes ``data`` of shape (batch, 3, S, S), S the ``--input-size`` (the model's
registered size by default), with any batch. An existing output is replaced only with
``--overwrite``. See docs/onnx.md.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', required=True, help='registered model name')
    parser.add_argument('--params', required=True, help='trained weights (.params)')
    parser.add_argument('--output', required=True, help='ONNX file to write (.onnx)')
    parser.add_argument('--classes', type=int, help="classifier size, when not the model's default")
    parser.add_argument('--input-size', type=int,
                        help="image height and width (default: the model's input size)")
    parser.add_argument('--model-kwargs', default='{}', metavar='JSON',
                        help='further get_model keyword arguments as a JSON object')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing output')
    args = parser.parse_args(argv)
    try:
        kwargs = json.loads(args.model_kwargs)
    except ValueError as err:
        parser.error('--model-kwargs is not valid JSON (%s): %r' % (err, args.model_kwargs))
    if not isinstance(kwargs, dict):
        parser.error('--model-kwargs must be a JSON object, got %r' % args.model_kwargs)
    if args.classes is not None and args.classes < 1:
        parser.error('--classes must be positive, got %d' % args.classes)
    if args.input_size is not None and args.input_size < 1:
        parser.error('--input-size must be positive, got %d' % args.input_size)
    return parser, args, kwargs


def main(argv=None):
    parser, args, kwargs = parse_args(argv)
    from gluon_convattn.export import export_onnx
    try:
        path = export_onnx(args.model, args.output, params=args.params, classes=args.classes,
                           input_size=args.input_size, overwrite=args.overwrite, **kwargs)
    except (ValueError, FileNotFoundError) as err:
        parser.exit(2, 'error: %s\n' % err)
    print('wrote %s (ONNX opset 13; input data of shape (batch, 3, H, W))' % path)


if __name__ == '__main__':
    main()
