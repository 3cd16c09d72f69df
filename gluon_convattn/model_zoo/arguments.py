"""Which keyword arguments a registered model takes, read from signatures (``inspect``).

A model constructor (``karesnet50_l(classes=1000, **kwargs)``) passes its ``**kwargs`` on to its
network class, which may pass its own on to a base class (``KAResNet`` -> ``ResNetTrunk`` ->
``HybridBlock``). :func:`accepted_arguments` follows that chain; :func:`check_arguments` refuses
the others before anything is built, naming the model and what it takes.
"""
import importlib
import inspect

__all__ = ['accepted_arguments', 'check_arguments', 'build']

_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def _named(function):
    """(names of the parameters ``function`` takes by keyword, whether it has ``**kwargs``)."""
    params = list(inspect.signature(function).parameters.values())
    names = [p.name for p in params if p.kind not in _VARIADIC
             and p.kind != inspect.Parameter.POSITIONAL_ONLY and p.name != 'self']
    return names, any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params)


def accepted_arguments(constructor, network=None):
    """Sorted keyword arguments ``constructor`` accepts.

    Parameters
    ----------
    constructor : callable
        A registered model function.
    network : class or str, optional
        The network class it builds (or ``'module:Class'``, imported only when asked, for
        networks whose module is costly to import); when ``constructor`` takes ``**kwargs``,
        the ``__init__`` parameters along ``network``'s base classes are added until one takes
        no ``**kwargs``. A class lists the parameters its subclasses fill themselves (and
        callers must not give) in an ``internal_arguments`` tuple.
    """
    if isinstance(network, str):
        module, _, name = network.partition(':')
        network = getattr(importlib.import_module(module), name)
    names, open_ended = _named(constructor)
    accepted, internal = set(names), set()
    if open_ended and network is not None:
        for cls in network.__mro__:
            internal.update(cls.__dict__.get('internal_arguments', ()))
            if '__init__' not in cls.__dict__:
                continue
            names, open_ended = _named(cls.__dict__['__init__'])
            accepted.update(names)
            if not open_ended:
                break
    return sorted(accepted - internal)


def check_arguments(model, kwargs, accepted, source=''):
    """Raise ValueError naming ``model`` and ``accepted`` unless every key of ``kwargs`` is in
    ``accepted``; ``source`` says where the arguments came from (e.g. a command-line flag)."""
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError('%s does not take the argument(s) %s%s; it takes: %s'
                         % (model, ', '.join(unknown), source, ', '.join(accepted)))


def build(network, defaults, kwargs):
    """``network(**defaults)`` with ``kwargs`` overriding the defaults (timm's
    ``dict(model_args, **kwargs)``), so every argument the network takes can be given."""
    return network(**dict(defaults, **kwargs))
