"""Building a registered network for training: checked constructor arguments, initialization,
data type, and a dry forward pass that rejects input sizes the network cannot take before any
data is read. (The command line's constructor flags are :mod:`.cli`'s.)"""
import contextlib
import logging

import mxnet as mx

from ..model_zoo import get_model, get_model_info
from ..model_zoo.arguments import check_arguments
from ..utils.checks import first_line
from ..utils.params import load_parameters_checked, param_shapes

__all__ = ['create_network', 'prepare_network', 'dry_forward']

_LOG = logging.getLogger(__name__)


def create_network(name, classes=None, kwargs=None, last_gamma=False, source=''):
    """``get_model(name, classes, **kwargs)``, refusing arguments the network does not take
    with a ValueError that lists those it does (``source`` says where ``kwargs`` came from).

    ``last_gamma=True`` is passed to networks that take it (zero-initialised last BatchNorm of
    each residual block) and dropped with a warning for the others; which arguments a network
    takes is read from its signatures (:attr:`~gluon_convattn.model_zoo.ModelInfo.arguments`).
    """
    info = get_model_info(name)    # unknown names fail here, listing the known ones
    kwargs = dict(kwargs or {})
    if last_gamma and 'last_gamma' in info.arguments:
        kwargs['last_gamma'] = True
    elif last_gamma:
        _LOG.warning('last_gamma: %s has no last_gamma argument; ignored', name)
    check_arguments(name, kwargs, info.arguments, source)
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
        raise ValueError('input_size %d does not fit %s: %s'
                         % (input_size, type(net).__name__, err)) from None
    except mx.base.MXNetError as err:
        raise ValueError('input_size %d does not fit %s (MXNet: %s)'
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
