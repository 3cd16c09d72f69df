"""The model registry: ``register_model``, ``get_model``, ``get_model_list``, ``get_model_info``.

Family files describe their models as data (:class:`~gluon_convattn.model_zoo.configs.ModelConfig`
records) and register each constructor with ``@register_model(CONFIGS[name], network=Class)``;
:func:`get_model` builds a network by name the way GluonCV's ``get_model`` does and loads
pretrained weights: a tag of the record's weights (files shipped in ``gluon_convattn/weights/``,
sha256-checked), ``<root>/<name>.params``, or a file path.
"""
import difflib
import os
import re
from dataclasses import dataclass

import mxnet as mx

from ..utils.params import load_parameters_checked
from .arguments import accepted_arguments, check_arguments
from .configs import ModelConfig

__all__ = ['register_model', 'unregister_model', 'get_model', 'get_model_list', 'registration_order',
           'get_model_info', 'ModelInfo', 'weights_dir', 'as_context']

_MODELS = {}


@dataclass(frozen=True)
class ModelInfo:
    """A registered model: its :class:`ModelConfig` record, constructor and network class.

    The record's fields read as attributes (``info.family``, ``info.input_size``, ...);
    :attr:`min_size` and :attr:`arguments` are read from the network and the signatures.
    """
    config: ModelConfig
    constructor: object
    network: type

    def __getattr__(self, attr):
        if attr == 'config' or attr.startswith('__'):     # not set yet (copy, unpickling)
            raise AttributeError(attr)
        return getattr(self.config, attr)

    @property
    def min_size(self):
        """The smallest input side the default network takes (its ``min_size``)."""
        if self.name not in _MIN_SIZES:
            _MIN_SIZES[self.name] = self.constructor().min_size
        return _MIN_SIZES[self.name]

    @property
    def arguments(self):
        """The keyword arguments :func:`get_model` passes on to this model."""
        return accepted_arguments(self.constructor, self.network)


_MIN_SIZES = {}


def register_model(config, network=None):
    """Decorator that registers a network constructor under ``config.name``.

    Parameters
    ----------
    config : ModelConfig
        The model's record (family, faithful_to, input size, normalisation, weights).
    network : class, optional
        The network class the constructor builds; its ``__init__`` arguments are the ones
        :func:`get_model` accepts besides the constructor's own (see
        :func:`~gluon_convattn.model_zoo.arguments.accepted_arguments`).
    """
    if not isinstance(config, ModelConfig):
        raise TypeError('register_model takes a ModelConfig record, got %r' % (config,))

    def _register(fn):
        if config.name in _MODELS:
            raise ValueError('model name %r is registered twice' % config.name)
        _MODELS[config.name] = ModelInfo(config, fn, network)
        return fn
    return _register


def unregister_model(name):
    """Remove a registered model (for models registered temporarily, e.g. in tests)."""
    key = get_model_info(name).name
    del _MODELS[key]
    _MIN_SIZES.pop(key, None)


def get_model_list():
    """Return the sorted list of registered model names."""
    return sorted(_MODELS)


def registration_order():
    """The registered model names in the order they were registered (family by family, each
    family's records in the order its ``CONFIGS`` table lists them)."""
    return list(_MODELS)


def get_model_info(name):
    """Return the :class:`ModelInfo` of a registered model, or raise ValueError listing names."""
    key = name.lower()
    if key not in _MODELS:
        known = get_model_list()
        close = difflib.get_close_matches(key, known, n=len(known), cutoff=0.0)
        raise ValueError('"%s" is not a registered model. Known models (closest first):\n\t%s'
                         % (name, '\n\t'.join(close)))
    return _MODELS[key]


def weights_dir():
    """The package folder holding the shipped weights files (``gluon_convattn/weights``)."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'weights')


_CONTEXT = re.compile(r'^(cpu|gpu)(?:[(:]?(\d+)\)?)?$')


def as_context(ctx):
    """An ``mx.Context`` (or a list of them) from a Context or a string such as ``'cpu'``,
    ``'gpu'``, ``'gpu1'``, ``'gpu(1)'`` or ``'gpu:1'``; anything else is a ValueError."""
    if isinstance(ctx, mx.Context):
        return ctx
    if isinstance(ctx, (list, tuple)) and ctx:
        return [as_context(c) for c in ctx]
    match = _CONTEXT.match(ctx.strip().lower()) if isinstance(ctx, str) else None
    if not match:
        raise ValueError("ctx must be an mx.Context (mx.cpu(), mx.gpu(0)), a list of them, or a "
                         "string such as 'cpu' or 'gpu0', got %r" % (ctx,))
    return mx.Context(match.group(1), int(match.group(2) or 0))


def _tags(info):
    return ', '.join(repr(w.tag) for w in info.weights) or 'none'


def _missing_weights(info, dataset, local):
    return FileNotFoundError(
        'No pretrained %s weights for %s: looked for %s and in its record (weights tags: %s).\n'
        'Put the file at %s, or convert the upstream checkpoint with\n'
        '  python scripts/convert_weights.py --model %s --src CHECKPOINT --dst %s'
        % (dataset, info.name, local, _tags(info), local, info.name, local))


def _shipped(weights):
    return os.path.join(weights_dir(), weights.file), weights.sha256


def _tagged_weights(info, pretrained, root):
    """The record's :class:`Weights` that ``pretrained`` names (a tag, or True without a
    ``<root>/<name>.params``), or None."""
    if isinstance(pretrained, str):
        return info.weights_for(pretrained)
    local = os.path.join(os.path.expanduser(root), '%s.params' % info.name)
    if pretrained is True and not os.path.exists(local):
        return info.weights_for(info.default_dataset)
    return None


def _path_file(info, pretrained):
    """Resolve a path given as ``pretrained`` to (file, None); clear errors otherwise."""
    path = os.path.abspath(os.path.expanduser(os.fspath(pretrained)))
    if os.path.isdir(path):
        found = sorted(f for f in os.listdir(path) if f.endswith('.params'))
        raise ValueError('pretrained=%r is a directory (%s); give the .params file in it%s'
                         % (str(pretrained), path, ' (it holds: %s)' % ', '.join(found)
                            if found else ' (it holds no .params file)'))
    if os.path.isfile(path):
        return path, None
    hint = ''
    if os.path.isfile(path + '.params'):
        hint = "; did you mean %r?" % (str(pretrained) + '.params')
    elif not isinstance(pretrained, os.PathLike):
        hint = ' (a weights tag of %s is one of: %s)' % (info.name, _tags(info))
    raise FileNotFoundError('pretrained=%r is neither a weights tag of %s nor an existing file: '
                            '%s does not exist%s' % (str(pretrained), info.name, path, hint))


def _pretrained_file(info, pretrained, root):
    """Resolve ``pretrained`` (True, a weights tag, or a path) to (file, expected sha256)."""
    weights = _tagged_weights(info, pretrained, root)
    if weights is not None:
        return _shipped(weights)
    if isinstance(pretrained, (str, os.PathLike)):
        return _path_file(info, pretrained)
    if pretrained is not True:
        raise ValueError('pretrained must be True, a weights tag (%s) or a path to a .params '
                         'file, got %r' % (_tags(info), pretrained))
    local = os.path.join(os.path.expanduser(root), '%s.params' % info.name)
    if not os.path.exists(local):
        raise _missing_weights(info, info.default_dataset, local)
    return local, None


def get_model(name, pretrained=False, classes=None, ctx=mx.cpu(),
              root=os.path.join('~', '.mxnet', 'models'), **kwargs):
    """Return a registered network by name, as GluonCV's ``get_model`` does.

    Parameters
    ----------
    name : str
        Model name; see :func:`get_model_list`.
    pretrained : bool, str or path, default False
        ``True`` loads ``<root>/<name>.params`` (or the shipped weights trained on the model's
        default data set); a string is a weights tag of the model's record (e.g. ``'digits'``,
        a file in ``gluon_convattn/weights/``) or else a path; a ``pathlib.Path`` is a path.
        Shipped files are checked against their sha256 before loading.
    classes : int, optional
        Number of output classes; the model's own default when None.
    ctx : Context, list of Context, or str, default CPU
        The context the pretrained weights are loaded on; strings such as ``'cpu'`` or
        ``'gpu0'`` are accepted (see :func:`as_context`).
    root : str, default '~/.mxnet/models'
        Where ``pretrained=True`` looks for ``<name>.params``.
    **kwargs
        Passed to the model constructor; an argument it does not take is a ValueError that
        lists the ones it does (:attr:`ModelInfo.arguments`).

    Returns
    -------
    HybridBlock
        The network; uninitialized unless ``pretrained`` is set.
    """
    info = get_model_info(name)
    ctx = as_context(ctx)
    if classes is not None:
        kwargs['classes'] = classes
    check_arguments(info.name, kwargs, info.arguments)
    load = pretrained is not False and pretrained is not None
    if load:
        path, sha256 = _pretrained_file(info, pretrained, root)
        weights = _tagged_weights(info, pretrained, root)
        if weights is not None:     # the network the shipped file was saved from
            kwargs = dict(dict(weights.kwargs, classes=weights.classes), **kwargs)
    net = info.constructor(**kwargs)
    if load:
        load_parameters_checked(net, path, ctx=ctx, cast_dtype=True, sha256=sha256,
                                ignore_extra=bool(getattr(net, 'features_only', False)))
    return net
