"""Where training resumes: GluonCV's ``--resume-epoch/--resume-params/--resume-states`` or
``--resume-from DIR`` (the latest complete checkpoint there), and putting the network and the
trainer back at that point of the learning-rate schedule."""
import logging
import os
from collections import namedtuple

from .checkpoint import latest_checkpoint, meta_path_for, read_checkpoint, verify_checkpoint
from .cli import flag
from .schedule import set_update_count
from .states import load_trainer_states, read_trainer_states

__all__ = ['ResumePoint', 'find_resume_point', 'check_epochs_left', 'restore']

_LOG = logging.getLogger(__name__)

ResumePoint = namedtuple('ResumePoint', ['epoch', 'params', 'states', 'best_err', 'num_update',
                                         'origin', 'meta'])
ResumePoint.__new__.__defaults__ = (None,)
ResumePoint.__doc__ = """Training restarts at ``epoch`` (the first epoch still to run) from the
``params`` and ``states`` files (``states`` may be None); ``best_err`` and ``num_update`` come from
the checkpoint's metadata (1.0 and None without it); ``origin`` says where it was found and
``meta`` is the checkpoint's ``.json`` (None without one)."""


def _existing(path, flag):
    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        raise FileNotFoundError('%s %s: no such file' % (flag, path))
    return path


def find_resume_point(args, tag):
    """The :class:`ResumePoint` the flags ask for, or None to start from scratch.

    ``--resume-from DIR`` with no checkpoint of ``tag`` in DIR (a first run of an auto-resuming
    job) starts from scratch.
    """
    gluoncv_flags = args.resume_params or args.resume_states or args.resume_epoch
    if args.resume_from:
        if gluoncv_flags:
            raise ValueError('--resume-from finds the epoch, parameters and states itself; do '
                             'not combine it with --resume-epoch/--resume-params/'
                             '--resume-states')
        ckpt = latest_checkpoint(os.path.expanduser(args.resume_from), tag,
                                 flag('resume_from'))
        if ckpt is None:
            _LOG.info('--resume-from %s: no checkpoint of %s yet; starting from scratch',
                      args.resume_from, tag)
            return None
        if ckpt.states is not None:
            read_trainer_states(ckpt.states, '--resume-from')
        return ResumePoint(ckpt.epoch + 1, ckpt.params, ckpt.states,
                           ckpt.meta.get('best_val_err', 1.0), ckpt.meta.get('num_update'),
                           ckpt.meta_path, ckpt.meta)
    if not gluoncv_flags:
        return None
    if not args.resume_params:
        raise ValueError('--resume-epoch/--resume-states need --resume-params (the network '
                         'saved after epoch %d)' % (args.resume_epoch - 1))
    params = _existing(args.resume_params, '--resume-params')
    states = _existing(args.resume_states, '--resume-states') if args.resume_states else None
    if states is not None:
        read_trainer_states(states)
    ckpt = read_checkpoint(meta_path_for(params))
    if ckpt is not None and ckpt.params == params:
        damaged = verify_checkpoint(ckpt)
        if damaged is not None:
            raise ValueError('%s differs from the checksum recorded in %s (damaged on disk?); '
                             'resume from another checkpoint' % (damaged, ckpt.meta_path))
        meta = ckpt.meta
    else:
        meta = None
    return ResumePoint(args.resume_epoch, params, states, (meta or {}).get('best_val_err', 1.0),
                       (meta or {}).get('num_update'), params, meta)


def check_epochs_left(point, num_epochs):
    """Raise ValueError when training resumed at ``point`` has no epoch left to run."""
    if point is not None and point.epoch >= num_epochs:
        raise ValueError('%s ends at epoch %d: nothing is left to do with --num-epochs %d '
                         '(raise it to train on)' % (point.origin, point.epoch - 1, num_epochs))


def _changed_settings(saved, now):
    return ['--%s %s (was %s)' % (k.replace('_', '-'), now[k], saved[k])
            for k in sorted(now) if k in saved and saved[k] != now[k]]


def restore(point, trainer, lr_scheduler, batches_per_epoch, optimizer_settings=None):
    """Load ``point``'s trainer states into ``trainer`` and put the optimizer at update
    ``point.epoch * batches_per_epoch`` of ``lr_scheduler`` (the network's parameters are
    loaded by :func:`~gluon_convattn.train.network.prepare_network`, which refuses those of
    another model by name).

    The optimizer is the one the present flags made (``optimizer_settings``, e.g. ``{'optimizer':
    'nag', 'lr': 0.1, 'wd': 1e-4, 'momentum': 0.9}``, recorded in every checkpoint): flags that
    differ from the checkpoint's are logged and take effect, and the saved per-parameter states
    carry over where they fit the present optimizer (see
    :func:`~gluon_convattn.train.states.load_trainer_states`).
    """
    saved = (point.meta or {}).get('optimizer_settings')
    if saved and optimizer_settings:
        changed = _changed_settings(saved, optimizer_settings)
        if changed:
            _LOG.warning('resuming %s with other optimizer flags: %s; the new values apply from '
                         'epoch %d', point.origin, ', '.join(changed), point.epoch)
    if point.states is not None:
        mismatched = load_trainer_states(trainer, point.states)
        if mismatched:
            _LOG.warning('the optimizer states of %d of %d parameters in %s do not fit %s with '
                         'the present flags (e.g. %s); they start from zero', len(mismatched),
                         len(trainer._params), point.states, type(trainer.optimizer).__name__,
                         mismatched[0])
    else:
        _LOG.warning('resuming %s without trainer states: momentum starts from zero',
                     point.origin)
    position = point.epoch * batches_per_epoch
    if point.num_update is not None and point.num_update != position:
        _LOG.warning('the checkpoint was written after %d updates, but epoch %d starts at '
                     'update %d with the present batch size and data; the schedule continues '
                     'from update %d', point.num_update, point.epoch, position, position)
    trainer.optimizer.lr_scheduler = lr_scheduler
    set_update_count(trainer.optimizer, position)
    _LOG.info('resumed from %s: epoch %d, update %d, learning rate %g', point.origin,
              point.epoch, position, trainer.learning_rate)
