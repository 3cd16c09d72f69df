"""The model registry: ``register_model``, ``get_model``, ``get_model_list``.

Family files register their constructors with :func:`register_model`; :func:`get_model`
builds a network by name the way GluonCV's ``get_model`` does, and loads pretrained weights from
``<root>/<name>.params`` or from the repository's ``params/`` manifest.
"""
import difflib
import json
import os
from collections import namedtuple

import mxnet as mx

from ..utils.params import load_parameters_checked

__all__ = ['register_model', 'unregister_model', 'get_model', 'get_model_list',
           'get_model_info', 'ModelInfo', 'params_dir']

ModelInfo = namedtuple('ModelInfo', ['name', 'constructor', 'family', 'faithful_to',
                                     'input_size', 'default_dataset', 'min_size'])

_MODELS = {}


def register_model(name, family, faithful_to, input_size=224, default_dataset='imagenet',
                   min_size=32):
    """Decorator that registers a network constructor under ``name``.

    Parameters
    ----------
    name : str
        Lower-case GluonCV-style model name.
    family : str
        ATAC, SAN, ACmix, KAConv or AT-kernel.
    faithful_to : str
        What the network reproduces (upstream repository and entry point, or paper table).
    input_size : int
        The image size the network is designed for (used for shape inference and checks).
    default_dataset : str
        The data set whose weights ``pretrained=True`` stands for.
    min_size : int
        The smallest input height/width the network takes (its forward raises below it).
    """
    def _register(fn):
        if name in _MODELS:
            raise ValueError('model name %r is registered twice' % name)
        _MODELS[name] = ModelInfo(name, fn, family, faithful_to, input_size, default_dataset,
                                  min_size)
        return fn
    return _register


def unregister_model(name):
    """Remove a registered model (for models registered temporarily, e.g. in tests)."""
    get_model_info(name)
    del _MODELS[name.lower()]


def get_model_list():
    """Return the sorted list of registered model names."""
    return sorted(_MODELS)


def get_model_info(name):
    """Return the :class:`ModelInfo` of a registered model, or raise ValueError listing names."""
    key = name.lower()
    if key not in _MODELS:
        known = get_model_list()
        close = difflib.get_close_matches(key, known, n=len(known), cutoff=0.0)
        raise ValueError('"%s" is not a registered model. Known models (closest first):\n\t%s'
                         % (name, '\n\t'.join(close)))
    return _MODELS[key]


def params_dir():
    """The folder holding the repository's trained and converted parameter files."""
    env = os.environ.get('GLUON_CONVATTN_PARAMS')
    if env:
        return os.path.expanduser(env)
    return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), 'params')


def _manifest_entries(name):
    path = os.path.join(params_dir(), 'manifest.json')
    if not os.path.exists(path):
        return []
    with open(path) as f:
        entries = json.load(f)
    return [e for e in entries if e['model'] == name]


def _pretrained_file(info, pretrained, root):
    """Resolve ``pretrained`` (True, a data set tag, or a path) to a parameter file."""
    root = os.path.expanduser(root)
    if isinstance(pretrained, str) and (os.sep in pretrained or pretrained.endswith('.params')):
        return os.path.expanduser(pretrained)
    dataset = info.default_dataset if pretrained is True else pretrained
    local = os.path.join(root, '%s.params' % info.name)
    if pretrained is True and os.path.exists(local):
        return local
    for entry in _manifest_entries(info.name):
        if entry['dataset'] == dataset:
            return os.path.join(params_dir(), entry['file'])
    tags = ', '.join(repr(e['dataset']) for e in _manifest_entries(info.name)) or 'none'
    raise FileNotFoundError(
        'No pretrained %s weights for %s: looked for %s and in the manifest %s (tags there: %s).\n'
        'Put the file at %s, or convert the upstream checkpoint with\n'
        '  python scripts/convert_weights.py --model %s --src CHECKPOINT --dst %s'
        % (dataset, info.name, local, os.path.join(params_dir(), 'manifest.json'), tags,
           local, info.name, local))


def get_model(name, pretrained=False, classes=None, ctx=mx.cpu(),
              root=os.path.join('~', '.mxnet', 'models'), **kwargs):
    """Return a registered network by name, as GluonCV's ``get_model`` does.

    Parameters
    ----------
    name : str
        Model name; see :func:`get_model_list`.
    pretrained : bool or str, default False
        ``True`` loads ``<root>/<name>.params`` (or the manifest entry trained on the model's
        default data set); a string is a data set tag from ``params/manifest.json`` (e.g.
        ``'digits'``) or a path to a ``.params`` file.
    classes : int, optional
        Number of output classes; the model's own default when None.
    ctx : Context, default CPU
        The context the pretrained weights are loaded on.
    root : str, default '~/.mxnet/models'
        Where pretrained parameter files are looked for.
    **kwargs
        Passed to the model constructor.

    Returns
    -------
    HybridBlock
        The network; uninitialized unless ``pretrained`` is set.
    """
    info = get_model_info(name)
    if classes is not None:
        kwargs['classes'] = classes
    net = info.constructor(**kwargs)
    if pretrained:
        load_parameters_checked(net, _pretrained_file(info, pretrained, root), ctx=ctx,
                                cast_dtype=True)
    return net
