"""Command-line flags shared by ``train_imagenet.py`` and ``eval_imagenet.py`` (GluonCV's
names and defaults), plus the families' model options."""
import os
import sys

from ..data.imagenet import RGB_MEAN, RGB_STD
from .context import DTYPES

__all__ = ['DATASETS', 'float_list', 'add_model_args', 'add_data_args', 'run_main']

DATA_ROOT = '~/.mxnet/datasets/imagenet/'
DATASETS = ('imagenet', 'tiny-imagenet')


def float_list(text):
    """``'1,2,3'`` -> ``[1.0, 2.0, 3.0]``."""
    return [float(v) for v in text.split(',')]


def add_model_args(parser):
    """--model, --classes, --dtype, --mode and the families' constructor options."""
    group = parser.add_argument_group('model')
    group.add_argument('--model', type=str, required=True,
                       help='registered model name (gluon_convattn.model_zoo.get_model_list()).')
    group.add_argument('--classes', type=int, default=None,
                       help='number of classes; default: 1000 for imagenet, 200 for '
                            'tiny-imagenet.')
    group.add_argument('--dtype', type=str, default='float32', choices=DTYPES,
                       help='data type for training. default is float32')
    group.add_argument('--mode', type=str,
                       help='mode in which to train the model. options are imperative, hybrid')
    group.add_argument('--model-kwargs', type=str, default=None,
                       help='extra constructor arguments as "key=value,..." (values are '
                            'Python literals, e.g. "base_channels=32,impl=composite").')
    group.add_argument('--r', type=int, default=None,
                       help='ATAC: channel reduction ratio (passed only when given).')
    group.add_argument('--act-layers', type=int, default=None,
                       help='ATAC: number of last stages using ATAC (passed only when given).')
    group.add_argument('--act-type', type=str, default=None,
                       help='ATAC: activation type, e.g. ChaATAC (passed only when given).')
    return group


def add_data_args(parser, train=True):
    """Data set, RecordIO or image-folder input, and GluonCV's preprocessing flags."""
    group = parser.add_argument_group('data')
    group.add_argument('--dataset', type=str, default='imagenet', choices=DATASETS,
                       help='imagenet (.rec with --use-rec, or --data-dir/{train,val}/<class>/) '
                            'or tiny-imagenet (--data-dir is the unpacked tiny-imagenet-200).')
    group.add_argument('--data-dir', type=str, default=DATA_ROOT,
                       help='training and validation pictures to use.')
    if train:
        group.add_argument('--rec-train', type=str, default=DATA_ROOT + 'rec/train.rec',
                           help='the training data')
        group.add_argument('--rec-train-idx', type=str, default=DATA_ROOT + 'rec/train.idx',
                           help='the index of training data')
    group.add_argument('--rec-val', type=str, default=DATA_ROOT + 'rec/val.rec',
                       help='the validation data')
    group.add_argument('--rec-val-idx', type=str, default=DATA_ROOT + 'rec/val.idx',
                       help='the index of validation data')
    group.add_argument('--use-rec', action='store_true',
                       help='use image record iter for data input. default is false.')
    group.add_argument('--batch-size', type=int, default=32,
                       help='batch size per device (CPU/GPU).')
    group.add_argument('--num-gpus', type=int, default=0, help='number of gpus to use.')
    group.add_argument('-j', '--num-data-workers', dest='num_workers', default=4, type=int,
                       help='number of preprocessing workers')
    group.add_argument('--input-size', type=int, default=None,
                       help='size of the input image; default: the model\'s (224 for ImageNet '
                            'models), 64 for tiny-imagenet.')
    group.add_argument('--crop-ratio', type=float, default=0.875,
                       help='Crop ratio during validation. default is 0.875')
    group.add_argument('--rgb-mean', type=float_list, default=list(RGB_MEAN),
                       help='a tuple of size 3 for the mean rgb')
    group.add_argument('--rgb-std', type=float_list, default=list(RGB_STD),
                       help='a tuple of size 3 for the std rgb')
    group.add_argument('--max-batches', type=int, default=None,
                       help='stop every training epoch and validation pass after this many '
                            'batches (for smoke tests).')
    return group


def run_main(main):
    """Run a script's ``main()``; bad input (ValueError) and file errors (OSError: a missing
    file, a full disk) end the process with ``<script>: error: <message>`` instead of a
    traceback."""
    try:
        main()
    except (ValueError, OSError) as err:
        sys.exit('%s: error: %s' % (os.path.basename(sys.argv[0]), err))
