"""Parameter counting and checked parameter loading."""
import os

import mxnet as mx
import numpy as np

__all__ = ['count_params', 'param_shapes', 'load_parameters_checked', 'ParamsMismatchError']


class ParamsMismatchError(ValueError):
    """A parameter file does not fit the network it is loaded into."""


def _ensure_shapes(net, input_shape):
    """Infer the unknown parameter shapes of ``net`` from ``input_shape``.

    ``infer_shape`` traces the symbolic graph, so the network need not be initialized and is
    left as it was: an uninitialized one still takes ``initialize`` (now with full shapes).
    """
    if any(p.shape is None or 0 in p.shape for p in net.collect_params().values()):
        net.infer_shape(mx.nd.zeros(input_shape))


def param_shapes(net, input_shape):
    """Structural parameter names (as ``save_parameters`` writes them) and their shapes.

    Unknown (deferred) shapes are inferred from ``input_shape``; ``net`` is not initialized.
    """
    _ensure_shapes(net, input_shape)
    return {k: tuple(p.shape) for k, p in net._collect_params_with_prefix().items()}


def count_params(net, input_shape=(1, 3, 224, 224), trainable_only=True):
    """Count a network's parameters.

    Parameters
    ----------
    net : HybridBlock
        The network; its unknown shapes are inferred, it is not initialized.
    input_shape : tuple
        Input shape used to infer deferred parameter shapes.
    trainable_only : bool
        When True, count only parameters with ``grad_req != 'null'`` (PyTorch's
        ``parameters()``); when False, also count BN running statistics.
    """
    _ensure_shapes(net, input_shape)
    return int(sum(np.prod(p.shape) for p in net.collect_params().values()
                   if not trainable_only or p.grad_req != 'null'))


def _shape_fits(want, got):
    """True when a (possibly partly unknown, 0 = unknown) parameter shape admits ``got``."""
    return want is None or (len(want) == len(got) and all(w in (0, g) for w, g in zip(want, got)))


def load_parameters_checked(net, filename, ctx=mx.cpu(), cast_dtype=False, ignore_extra=()):
    """``net.load_parameters(filename, ctx)`` with clear errors.

    Raises FileNotFoundError when the file is missing, ValueError when it is not an MXNet
    parameter file, and :class:`ParamsMismatchError` naming the first parameter that the file and
    the network disagree on (a missing name, an extra name or a shape). Names in the file that
    start with one of the ``ignore_extra`` prefixes are left out (an ImageNet classifier's
    ``fc.`` loaded into a detection backbone).
    """
    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError('parameter file %s does not exist' % filename)
    try:
        loaded = mx.nd.load(filename)
    except mx.base.MXNetError as err:
        raise ValueError('%s is not a readable MXNet parameter file (corrupt or truncated?): %s'
                         % (filename, str(err).splitlines()[0])) from None
    if not isinstance(loaded, dict):
        raise ValueError('%s holds an unnamed NDArray list, not the parameters of a network'
                         % filename)
    loaded = {k[4:] if k.startswith(('arg:', 'aux:')) else k: v for k, v in loaded.items()}
    ignore_extra = tuple(ignore_extra)
    if ignore_extra:
        loaded = {k: v for k, v in loaded.items() if not k.startswith(ignore_extra)}
    expected = net._collect_params_with_prefix()
    for name in sorted(expected):
        if name not in loaded:
            raise ParamsMismatchError(
                'parameter %r of %s is missing in %s (was the file saved from another model or '
                'with other arguments?)' % (name, type(net).__name__, filename))
    for name in sorted(loaded):
        if name not in expected:
            raise ParamsMismatchError(
                '%s holds parameter %r, which %s does not have (was the file saved from another '
                'model or with other arguments?)' % (filename, name, type(net).__name__))
    for name in sorted(expected):
        want, got = expected[name].shape, loaded[name].shape
        if not _shape_fits(want, got):
            raise ParamsMismatchError(
                'parameter %r: %s needs shape %s, %s holds %s' % (
                    name, type(net).__name__, want, filename, got))
    net.load_parameters(filename, ctx=ctx, cast_dtype=cast_dtype,
                        ignore_extra=bool(ignore_extra))
    return net
