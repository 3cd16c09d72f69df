"""The scripts' command-line front end: the flags shared by ``train_imagenet.py`` and
``eval_imagenet.py`` (GluonCV's names and defaults), the model-constructor flags every script
with model arguments takes (the families' own flags and ``--model-kwargs``), and the one place
that spells the library's argument names as flags in error messages."""
import argparse
import ast
import contextlib
import os
import re
import sys

from ..data.imagenet import RGB_MEAN, RGB_STD
from .context import DTYPES

__all__ = ['DATASETS', 'FAMILY_ARGUMENTS', 'float_list', 'flag', 'add_model_args',
           'add_constructor_args', 'parse_model_kwargs', 'constructor_kwargs', 'flag_errors',
           'create_network', 'add_data_args', 'run_main']

DATA_ROOT = '~/.mxnet/datasets/imagenet/'
DATASETS = ('imagenet', 'tiny-imagenet')
# constructor arguments with a flag of their own (ATAC's, as upstream's scripts spell them),
# passed only when the flag is given
FAMILY_ARGUMENTS = ('act_type', 'r', 'act_layers', 'act_order', 'replace_act', 'useReLU',
                    'useGlobal')
# parsed-argument names whose flag is not '--' + the name with '-' for '_'
_FLAGS = {'num_workers': '-j/--num-data-workers'}
_OPEN, _CLOSE = '([{', ')]}'
_KWARGS_HELP = ('further constructor arguments as "key=value,..." (values are Python literals, '
                'else strings: "base_channels=32,impl=composite,layers=[1,2,4,1]")')


def float_list(text):
    """``'1,2,3'`` -> ``[1.0, 2.0, 3.0]``."""
    return [float(v) for v in text.split(',')]


def flag(argument):
    """The flag that gives library argument ``argument``: ``act_layers`` -> ``--act-layers``."""
    return _FLAGS.get(argument, '--' + argument.replace('_', '-'))


def add_model_args(parser):
    """--model, --classes, --dtype, --mode and the constructor flags
    (:func:`add_constructor_args`)."""
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
    add_constructor_args(parser)
    return group


def add_constructor_args(parser):
    """The model-constructor flags of every script that builds a network: ATAC's ``--act-type``,
    ``--r``, ``--act-layers``, ``--act-order``, ``--replace-act``, ``--useReLU/--no-useReLU``,
    ``--useGlobal/--no-useGlobal`` (upstream's names) and ``--model-kwargs "key=value,..."``.
    None has a default: :func:`constructor_kwargs` passes only what was given."""
    group = parser.add_argument_group('model constructor (passed only when given)')
    group.add_argument('--act-type', help='ATAC: relu, prelu, elu, selu, gelu, swish, ChaATAC')
    group.add_argument('--r', type=int, help='ATAC: ChaATAC reduction ratio')
    group.add_argument('--act-layers', type=int,
                       help='ATAC: activation positions using act-type')
    group.add_argument('--act-order', choices=('bac', 'pre'),
                       help='ATAC: count act-layers from the end (bac) or the start (pre)')
    group.add_argument('--replace-act', help='ATAC: activation of the other positions')
    group.add_argument('--useReLU', action=argparse.BooleanOptionalAction,
                       help='ATAC: ChaATAC inner ReLU')
    group.add_argument('--useGlobal', action=argparse.BooleanOptionalAction,
                       help='ATAC: ChaATAC pools globally first')
    group.add_argument('--model-kwargs', type=_model_kwargs_type, default=None,
                       metavar='KEY=VALUE,...', help=_KWARGS_HELP)
    return group


def _model_kwargs_type(text):
    try:
        return parse_model_kwargs(text)
    except ValueError as err:    # argparse: "<prog>: error: argument --model-kwargs: <message>"
        raise argparse.ArgumentTypeError(str(err)) from None


def _split_top_level(text):
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in '\'"':
            quote = ch
        elif ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
        elif ch == ',' and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def parse_model_kwargs(text):
    """Parse ``--model-kwargs 'key=value,...'`` into a dict (ValueError for anything else).

    Values are Python literals where they parse as one (``3``, ``0.5``, ``True``, ``None``,
    ``[1,2,4,1]``, ``'composite'``) and strings otherwise (``impl=composite``); nothing is
    evaluated beyond literals.
    """
    kwargs = {}
    for item in _split_top_level(text or ''):
        key, sep, value = item.partition('=')
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ValueError('give key=value pairs separated by commas, e.g. '
                             '"r=2,layers=[1,2,4,1]"; cannot read %r' % item)
        if key in kwargs:
            raise ValueError('%r is set twice; give it once' % key)
        try:
            kwargs[key] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            kwargs[key] = value.strip()
    return kwargs


def constructor_kwargs(args):
    """The constructor arguments of parsed ``args`` (a new dict): ``--model-kwargs`` (parsed by
    :func:`add_constructor_args`'s flag) and the family flags that were given (a flag the script
    lacks counts as not given)."""
    kwargs = dict(getattr(args, 'model_kwargs', None) or {})
    for argument in FAMILY_ARGUMENTS:
        value = getattr(args, argument, None)
        if value is None:
            continue
        if argument in kwargs:
            raise ValueError('%s and --model-kwargs both set %s; give it once'
                             % (flag(argument), argument))
        kwargs[argument] = value
    return kwargs


def _flag_for(argument, args):
    # a family argument has a flag and can come from --model-kwargs: only a given flag counts
    if argument in FAMILY_ARGUMENTS:
        return flag(argument) if getattr(args, argument, None) is not None else None
    return flag(argument) if hasattr(args, argument) else None


# a name that is no part of a flag, path, file name or quoted string, and its =value
_ARGUMENT = re.compile(r'''(?<![\w.'"/\\-])([A-Za-z_]\w*)(?![\w/\\.'"-])'''
                       r'''(=(?:True\b|[^\s,;:)]+))?''')


def _spelled(match, args, subject):
    argument, value = match.groups()
    # elsewhere than the subject only names with an underscore or a value: plain words are prose
    spelled = _flag_for(argument, args) if subject or '_' in argument or value else None
    if spelled is None or value == '=False':
        return None
    return spelled if value in (None, '=True') else '%s %s' % (spelled, value[1:])


def spell_as_flags(message, args):
    """``message`` with the library's argument names that ``args`` gave as flags spelled as the
    flags: the subject (the start, or what follows a ``'<block>: '`` prefix) and every name with
    an underscore or a ``=value``: ``'act_layers must be ...'`` -> ``'--act-layers must be
    ...'``, ``'ChaATAC: r=3 must divide ...'`` -> ``'ChaATAC: --r 3 must divide ...'``, ``'...
    pass skip_invalid_boxes=True'`` -> ``'... pass --skip-invalid-boxes'``. A message whose subject
    came from ``--model-kwargs`` says so."""
    from_kwargs = getattr(args, 'model_kwargs', None) or {}
    prefix = message.find(': ')
    subjects = (0, prefix + 2) if prefix > 0 else (0,)
    parts, last, note = [], 0, False
    for match in _ARGUMENT.finditer(message):
        subject = match.start() in subjects
        if match.group(1) in from_kwargs:
            note = note or subject
            continue
        spelled = _spelled(match, args, subject)
        if spelled is not None:
            parts += [message[last:match.start()], spelled]
            last = match.end()
    text = ''.join(parts) + message[last:]
    return text + ' (from --model-kwargs)' if note else text


@contextlib.contextmanager
def flag_errors(args):
    """Within the block, a ValueError or OSError (a missing file) about a library argument that
    ``args`` gave as a flag is re-raised naming the flag (:func:`spell_as_flags`)."""
    try:
        yield
    except (ValueError, OSError) as err:
        if len(err.args) == 1 and isinstance(err.args[0], str):
            err.args = (spell_as_flags(err.args[0], args),)
        raise


def create_network(args, classes=None, last_gamma=False):
    """``network.create_network(args.model, classes, constructor_kwargs(args), last_gamma)``
    with the errors naming the flags; returns ``(net, kwargs)``."""
    from . import network
    kwargs = constructor_kwargs(args)
    with flag_errors(args):
        net = network.create_network(args.model, classes, kwargs, last_gamma,
                                     source=' (from --model-kwargs or the family flags)')
    return net, kwargs


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
