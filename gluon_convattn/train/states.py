"""Loading a trainer's ``.states`` file without running code from it, into the optimizer the
command line asked for.

MXNet's ``Trainer.load_states`` unpickles the file with ``pickle.loads``, which runs whatever the
file names, and replaces the trainer's optimizer by the pickled one, so a resumed run silently
keeps the optimizer, learning rate and weight decay of the run that wrote it. Here the file is
read by a :class:`~gluon_convattn.utils.safe_pickle.RestrictedUnpickler` that rebuilds NDArrays
only (the pickled optimizer becomes an inert placeholder), and only the per-parameter states
(momentum, Adam's moments, float16 master weights) are taken over, each where it has the
structure and shapes the present optimizer keeps; the others start afresh.
"""
import io

import mxnet as mx

from ..utils.checks import first_line
from ..utils.safe_pickle import Inert, restricted_unpickler

__all__ = ['read_trainer_states', 'load_trainer_states']

_ALLOWED = {('mxnet.ndarray.ndarray', 'NDArray'): mx.nd.NDArray,
            ('builtins', 'bytearray'): bytearray}


def _allowed(module, name):
    return _ALLOWED.get((module, name))


def read_trainer_states(path, flag='--resume-states'):
    """The per-parameter optimizer states (index -> NDArray, tuple or None) in ``path``.

    Raises ValueError naming ``flag`` and the file when it is empty, truncated or not a trainer
    states file.
    """
    with open(path, 'rb') as f:
        data = f.read()
    fix = ('resume from an earlier checkpoint, or without --resume-states (momentum then '
           'starts from zero)')
    if not data:
        raise ValueError('%s %s is empty, not trainer states; %s' % (flag, path, fix))
    unpickler = restricted_unpickler(_allowed)
    try:
        loaded = unpickler(io.BytesIO(data)).load()
    except Exception as err:  # a damaged pickle raises many types
        raise ValueError('%s %s is not complete trainer states (truncated or damaged: %s); %s'
                         % (flag, path, first_line(err), fix)) from None
    states = loaded[0] if isinstance(loaded, tuple) and len(loaded) == 2 else loaded
    if not isinstance(states, dict) or isinstance(states, Inert) or not all(
            isinstance(k, int) for k in states):
        raise ValueError('%s %s holds no per-parameter optimizer states (is it a .states file '
                         'of Trainer.save_states?); %s' % (flag, path, fix))
    if not all(_is_state(v) for v in states.values()):
        named = sorted(unpickler.replaced)
        raise ValueError('%s %s holds objects other than optimizer states%s; %s' % (
            flag, path, ' (it names %s, which was not run)' % ', '.join(named) if named else '',
            fix))
    return states


def _is_state(value):
    if isinstance(value, (tuple, list)):
        return all(_is_state(v) for v in value)
    return value is None or isinstance(value, mx.nd.NDArray)


def _fits(state, template):
    if template is None or state is None:
        return state is None and template is None
    if isinstance(template, (tuple, list)):
        return (isinstance(state, (tuple, list)) and len(state) == len(template)
                and all(_fits(s, t) for s, t in zip(state, template)))
    return (isinstance(state, mx.nd.NDArray) and state.shape == template.shape
            and state.dtype == template.dtype)


def _updaters(trainer):
    if not trainer._kv_initialized:
        trainer._init_kvstore()
    if trainer._params_to_init:
        trainer._init_params()
    if not trainer._update_on_kvstore:
        return trainer._updaters
    updater = getattr(trainer._kvstore, '_updater', None)
    if updater is None:
        raise ValueError('trainer states cannot be loaded here: the optimizer runs on the '
                         'kvstore servers (%s); resume without --resume-states'
                         % trainer._kvstore.type)
    return [updater]


def load_trainer_states(trainer, path, flag='--resume-states'):
    """Put the states of ``path`` into ``trainer``'s updaters, keeping its own optimizer.

    Returns the names of the parameters whose saved states do not fit the present optimizer
    (another optimizer, momentum switched on or off, another dtype) and so start afresh.
    """
    updaters = _updaters(trainer)
    optimizer = trainer._optimizer
    mismatched = []
    for n, updater in enumerate(updaters):
        saved = read_trainer_states(path, flag)     # each updater gets its own arrays
        fitted = {}
        for index, param in enumerate(trainer._params):
            if index not in saved:
                continue
            weight = param.list_data()[0]
            if _fits(saved[index], optimizer.create_state_multi_precision(index, weight)):
                fitted[index] = saved[index]
            elif n == 0:
                mismatched.append(param.name)
        updater.states = fitted
        updater.states_synced = dict.fromkeys(fitted, False)
        updater.optimizer = optimizer
    return mismatched
