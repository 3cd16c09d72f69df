"""Upstream checkpoint -> Gluon ``.params``: key mapping, strict checking, writing.

Reading the checkpoint (without running anything in it) is :mod:`.reader`.

Each family registers a converter with :func:`register_converter`; the converter receives the
upstream state dict (numpy arrays, wrapper and ``module.`` prefix removed) and the structural
parameter names and shapes of our network, and returns our names -> arrays. :func:`rename`
does the common part: ordered regex renames, BN ``weight/bias`` -> ``gamma/beta``, and the strict
checks. Every upstream key must land on one of our parameters with the same shape, and every one
of our parameters must be filled; anything else is a :class:`ConversionError` naming the key.
"""
import importlib
import os
import re

from ..utils.files import atomic_write

__all__ = ['ConversionError', 'register_converter', 'rename',
           'convert_state_dict', 'convert_checkpoint', 'save_params']


class ConversionError(ValueError):
    """An upstream checkpoint does not fit the network it is converted for."""


_CONVERTERS = {}
_FAMILY_MODULES = {'SAN': 'san', 'ACmix': 'acmix', 'KAConv': 'kaconv', 'AT-kernel': 'atkernel',
                   'PVT': 'pvt'}
_DROPPED = ('num_batches_tracked',)


def register_converter(family):
    """Decorator registering ``fn(state_dict, target_shapes, model_name) -> dict`` for a family."""
    def _register(fn):
        _CONVERTERS[family] = fn
        return fn
    return _register


def strip_prefix(state_dict, prefix):
    """Remove ``prefix`` from the keys that start with it."""
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in state_dict.items()}


def rename(state_dict, target_shapes, rules=(), drop=_DROPPED):
    """Map upstream keys onto our parameter names and check them strictly.

    Parameters
    ----------
    state_dict : dict of str -> ndarray
        Upstream weights.
    target_shapes : dict of str -> tuple
        Our structural parameter names and shapes.
    rules : sequence of (pattern, replacement)
        Regular-expression renames, applied in order, each to the result of the previous.
    drop : sequence of str
        Key suffixes that carry no weights (PyTorch's BN ``num_batches_tracked``).

    Returns
    -------
    dict of str -> ndarray
        Our names -> arrays, covering every parameter in ``target_shapes``.
    """
    out = {}
    for key, value in state_dict.items():
        if key.endswith(tuple(drop)):
            continue
        name = key
        for pattern, repl in rules:
            name = re.sub(pattern, repl, name)
        if name not in target_shapes:
            stem, _, leaf = name.rpartition('.')
            bn_name = stem + '.' + {'weight': 'gamma', 'bias': 'beta'}.get(leaf, leaf)
            if bn_name in target_shapes:
                name = bn_name
        if name not in target_shapes:
            raise ConversionError('upstream key %r (-> %r) has no counterpart in the network'
                                  % (key, name))
        put(out, name, value, target_shapes, key)
    return check_complete(out, target_shapes)


def put(out, name, value, target_shapes, source_key):
    """Store ``value`` as our parameter ``name`` after checking its shape; error names the key."""
    want = tuple(target_shapes[name])
    if tuple(value.shape) != want:
        raise ConversionError('upstream key %r has shape %s, our parameter %r needs %s'
                              % (source_key, tuple(value.shape), name, want))
    if name in out:
        raise ConversionError('upstream key %r maps onto %r, which is already filled'
                              % (source_key, name))
    out[name] = value


def check_complete(out, target_shapes):
    """Raise if a parameter of ours was not filled by the conversion."""
    for name in sorted(target_shapes):
        if name not in out:
            raise ConversionError('our parameter %r (shape %s) got no upstream weights'
                                  % (name, tuple(target_shapes[name])))
    return out


def _converter_for(family):
    if family not in _CONVERTERS and family in _FAMILY_MODULES:
        importlib.import_module('.' + _FAMILY_MODULES[family], __package__)
    if family not in _CONVERTERS:
        raise ConversionError('no converter for the %s family' % family)
    return _CONVERTERS[family]


def convert_state_dict(model_name, state_dict, **model_kwargs):
    """Convert an upstream state dict (numpy arrays) for ``get_model(model_name, **kwargs)``.

    Returns our structural names -> float32 (or original dtype) arrays.
    """
    from ..model_zoo import get_model, get_model_info
    from ..utils.params import param_shapes
    import mxnet as mx
    info = get_model_info(model_name)
    net = get_model(info.name, **model_kwargs)
    size = info.input_size
    target = param_shapes(net, (1, 3, size, size))
    # constants (GluonCV's anchors) are computed by the network, not learned upstream
    constants = {k: p.value.asnumpy() for k, p in net._collect_params_with_prefix().items()
                 if isinstance(p, mx.gluon.Constant)}
    target = {k: v for k, v in target.items() if k not in constants}
    converted = _converter_for(info.family)(state_dict, target, info.name)
    converted.update(constants)
    return converted


def save_params(converted, dst, check=None):
    """Write converted arrays as an MXNet ``.params`` file that ``load_parameters`` reads.

    The file is written atomically (a full disk or a failed ``check(path)``, run on the complete
    temporary file, leaves ``dst`` as it was).
    """
    import mxnet as mx
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)

    def write(path):
        mx.nd.save(path, {k: mx.nd.array(v, dtype=v.dtype) for k, v in converted.items()})
        if check is not None:
            check(path)
    atomic_write(dst, write)


def _check_paths(src, dst):
    if os.path.isdir(dst):
        raise ConversionError('dst %s is a directory; give the file to write, e.g. %s'
                              % (dst, os.path.join(dst, 'model.params')))
    if os.path.exists(dst) and os.path.exists(src) and os.path.samefile(src, dst):
        raise ConversionError('dst %s is the checkpoint being converted (src); writing it would '
                              'destroy the source: give another file name' % dst)


def convert_checkpoint(model_name, src, dst, verify=False, **model_kwargs):
    """Read ``src`` (a PyTorch checkpoint), convert it for ``model_name``, write ``dst``.

    With ``verify``, the written file is loaded back into ``get_model(model_name, ...)`` (every
    parameter required, every dimension compared) before it replaces ``dst``.
    """
    from ..model_zoo import get_model, get_model_info
    from ..utils.params import load_parameters_checked
    from .reader import load_checkpoint
    _check_paths(src, dst)
    converted = convert_state_dict(model_name, load_checkpoint(src), **model_kwargs)
    check = None
    if verify:
        size = get_model_info(model_name).input_size

        def check(path):
            load_parameters_checked(get_model(model_name, **model_kwargs), path,
                                    input_shape=(1, 3, size, size))
    save_params(converted, dst, check)
    return dst
