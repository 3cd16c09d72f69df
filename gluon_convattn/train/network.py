"""Building a registered network for training: constructor arguments from the command line,
initialization, data type, and a dry forward pass that rejects input sizes the network cannot
take before any data is read."""
import ast
import contextlib
import logging

import mxnet as mx

from ..model_zoo import get_model, get_model_info
from ..model_zoo.arguments import check_arguments
from ..utils.checks import first_line
from ..utils.params import load_parameters_checked, param_shapes

__all__ = ['parse_model_kwargs', 'family_kwargs', 'create_network', 'prepare_network',
           'dry_forward']

_LOG = logging.getLogger(__name__)
_OPEN, _CLOSE = '([{', ')]}'
# command-line flag -> constructor argument, passed only when the flag is given
FAMILY_FLAGS = (('r', 'r'), ('act_layers', 'act_layers'), ('act_type', 'act_type'),
                ('act_order', 'act_order'), ('replace_act', 'replace_act'),
                ('useReLU', 'useReLU'), ('useGlobal', 'useGlobal'))


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
    """Parse ``--model-kwargs 'key=value,...'`` into a dict.

    Values are Python literals where they parse as one (``3``, ``0.5``, ``True``, ``None``,
    ``[1,2,4,1]``, ``'composite'``) and strings otherwise (``impl=composite``).
    """
    kwargs = {}
    for item in _split_top_level(text or ''):
        key, sep, value = item.partition('=')
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ValueError('--model-kwargs takes key=value pairs separated by commas, e.g. '
                             '"r=2,layers=[1,2,4,1]"; cannot read %r' % item)
        if key in kwargs:
            raise ValueError('--model-kwargs sets %r twice' % key)
        try:
            kwargs[key] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            kwargs[key] = value.strip()
    return kwargs


def family_kwargs(args):
    """Constructor arguments from the families' own flags (ATAC's ``--r``, ``--act-layers``,
    ``--act-type``, and in ``train_cifar.py`` ``--act-order``, ``--replace-act``,
    ``--useReLU``, ``--useGlobal``) and ``--model-kwargs``; a flag that was not given (or that
    the script does not have) passes nothing."""
    kwargs = parse_model_kwargs(getattr(args, 'model_kwargs', None))
    for flag, argument in FAMILY_FLAGS:
        value = getattr(args, flag, None)
        if value is None:
            continue
        if argument in kwargs:
            raise ValueError('--%s and --model-kwargs both set %s; give it once'
                             % (flag.replace('_', '-'), argument))
        kwargs[argument] = value
    return kwargs


def create_network(name, classes=None, kwargs=None, last_gamma=False):
    """``get_model(name, classes, **kwargs)`` with command-line friendly errors.

    ``last_gamma=True`` is passed to networks that take it (zero-initialised last BatchNorm of
    each residual block) and dropped with a warning for the others; which arguments a network
    takes is read from its signatures (:attr:`~gluon_convattn.model_zoo.ModelInfo.arguments`).
    """
    info = get_model_info(name)    # unknown names fail here, listing the known ones
    kwargs = dict(kwargs or {})
    if last_gamma and 'last_gamma' in info.arguments:
        kwargs['last_gamma'] = True
    elif last_gamma:
        _LOG.warning('--last-gamma: %s has no last_gamma argument; ignored', name)
    check_arguments(name, kwargs, info.arguments, ' (from --model-kwargs or the family flags)')
    return get_model(name, classes=classes, **kwargs)


def dry_forward(net, ctx, dtype, input_size):
    """Run one (1, 3, input_size, input_size) batch through ``net`` (not recorded, so no
    statistics change) to finish deferred initialization and to surface the network's own
    input-size error before training starts."""
    x = mx.nd.zeros((1, 3, input_size, input_size), ctx=ctx, dtype=dtype)
    with _input_size_errors(net, input_size):
        net(x).wait_to_read()


@contextlib.contextmanager
def _input_size_errors(net, input_size):
    try:
        yield
    except ValueError as err:
        raise ValueError('--input-size %d does not fit %s: %s'
                         % (input_size, type(net).__name__, err)) from None
    except mx.base.MXNetError as err:
        raise ValueError('--input-size %d does not fit %s (MXNet: %s)'
                         % (input_size, type(net).__name__, first_line(err))) from None


def prepare_network(net, ctx, dtype, input_size, params=None, initializer=None):
    """Cast ``net`` to ``dtype``, then load ``params`` (a file, checked by name and shape with
    :func:`~gluon_convattn.utils.load_parameters_checked`) or initialize it on ``ctx`` (MSRA/He
    by default, as GluonCV), and check ``input_size`` with :func:`dry_forward`."""
    net.cast(dtype)
    if params:
        shape = (1, 3, input_size, input_size)
        with _input_size_errors(net, input_size):
            param_shapes(net, shape)        # every shape known: the file's are compared fully
        load_parameters_checked(net, params, ctx=ctx, cast_dtype=True)
    else:
        net.initialize(initializer or mx.init.MSRAPrelu(), ctx=ctx, force_reinit=True)
    dry_forward(net, ctx[0], dtype, input_size)
    return net
