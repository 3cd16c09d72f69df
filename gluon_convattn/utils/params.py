"""Parameter counting, checked parameter loading and file checksums."""
import os

import mxnet as mx
import numpy as np

from .checks import first_line
from .files import sha256_file

__all__ = ['count_params', 'param_shapes', 'read_parameters', 'load_parameters_checked',
           'ParamsMismatchError', 'ChecksumError', 'check_sha256']


class ParamsMismatchError(ValueError):
    """A parameter file does not fit the network it is loaded into."""


class ChecksumError(ValueError):
    """A file's sha256 is not the one recorded for it."""


def check_sha256(path, expected):
    """Raise :class:`ChecksumError` naming ``path`` and both digests unless the file's sha256
    is ``expected``."""
    got = sha256_file(path)
    if got != expected.lower():
        raise ChecksumError('%s has sha256 %s, but its record expects %s: the file is corrupt or '
                            'was replaced; reinstall gluon_convattn (or restore the file) to get '
                            'the original' % (path, got, expected))


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


def read_parameters(filename, sha256=None):
    """The named arrays of an MXNet parameter file (``arg:``/``aux:`` prefixes removed).

    Raises FileNotFoundError when the file is missing, :class:`ChecksumError` when ``sha256``
    is given and the file's digest differs, and ValueError when it is not an MXNet parameter
    file of named arrays.
    """
    filename = os.path.expanduser(os.fspath(filename))
    if not os.path.isfile(filename):
        raise FileNotFoundError('parameter file %s does not exist' % filename)
    if os.path.getsize(filename) == 0:
        raise ValueError('%s is empty (0 bytes), not an MXNet parameter file' % filename)
    if sha256 is not None:
        check_sha256(filename, sha256)
    try:
        loaded = mx.nd.load(filename)
    except mx.base.MXNetError as err:
        raise ValueError('%s is not a readable MXNet parameter file (corrupt or truncated?): %s'
                         % (filename, first_line(err))) from None
    if not isinstance(loaded, dict):
        raise ValueError('%s holds an unnamed NDArray list, not the parameters of a network'
                         % filename)
    return {k[4:] if k.startswith(('arg:', 'aux:')) else k: v for k, v in loaded.items()}


def load_parameters_checked(net, filename, ctx=mx.cpu(), cast_dtype=False, sha256=None,
                            ignore_extra=False, input_shape=None):
    """``net.load_parameters(filename, ctx)`` with clear errors.

    Raises FileNotFoundError when the file is missing, :class:`ChecksumError` when ``sha256``
    is given and the file's digest differs, ValueError when it is not an MXNet parameter file,
    and :class:`ParamsMismatchError` naming the first parameter that the file and the network
    disagree on (a missing name, a shape, or an extra name unless ``ignore_extra``: True skips
    every extra name, as a ``features_only`` network skips the classifier; a tuple of prefixes
    skips the names starting with one of them, e.g. an ImageNet classifier's ``fc.`` loaded into
    a detection backbone). Shapes that the network leaves to deferred initialization (a
    BatchNorm's channels, a Dense layer's inputs) are inferred from ``input_shape`` first when
    it is given, so that every dimension is compared; without it, unknown dimensions admit any
    size.
    """
    filename = os.path.expanduser(os.fspath(filename))
    loaded = read_parameters(filename, sha256)
    skips_some = ignore_extra is True
    if not isinstance(ignore_extra, bool):
        kept = {k: v for k, v in loaded.items() if not k.startswith(tuple(ignore_extra))}
        skips_some, loaded, ignore_extra = len(kept) < len(loaded), kept, False
    if input_shape is not None:
        _ensure_shapes(net, input_shape)
    expected = net._collect_params_with_prefix()
    for name in sorted(expected):
        if name not in loaded:
            raise ParamsMismatchError(
                'parameter %r of %s is missing in %s (was the file saved from another model or '
                'with other arguments?)' % (name, type(net).__name__, filename))
    for name in sorted(loaded):
        if name not in expected and not ignore_extra:
            raise ParamsMismatchError(
                '%s holds parameter %r, which %s does not have (was the file saved from another '
                'model or with other arguments?)' % (filename, name, type(net).__name__))
    for name in sorted(expected):
        want, got = expected[name].shape, loaded[name].shape
        if not _shape_fits(want, got):
            raise ParamsMismatchError(
                'parameter %r: %s needs shape %s, %s holds %s' % (
                    name, type(net).__name__, want, filename, got))
    net.load_parameters(filename, ctx=ctx, cast_dtype=cast_dtype, ignore_extra=skips_some)
    return net
