"""Where training resumes: GluonCV's ``--resume-epoch/--resume-params/--resume-states`` or
``--resume-from DIR`` (the latest complete checkpoint there), and putting the network and the
trainer back at that point of the learning-rate schedule."""
import logging
import os
from collections import namedtuple

from .checkpoint import latest_checkpoint, meta_path_for, read_checkpoint
from .schedule import set_update_count

__all__ = ['ResumePoint', 'find_resume_point', 'restore']

_LOG = logging.getLogger(__name__)

ResumePoint = namedtuple('ResumePoint', ['epoch', 'params', 'states', 'best_err', 'num_update',
                                         'origin'])
ResumePoint.__doc__ = """Training restarts at ``epoch`` (the first epoch still to run) from the
``params`` and ``states`` files (``states`` may be None); ``best_err`` and ``num_update`` come from
the checkpoint's metadata (1.0 and None without it); ``origin`` says where it was found."""


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
        ckpt = latest_checkpoint(os.path.expanduser(args.resume_from), tag)
        if ckpt is None:
            _LOG.info('--resume-from %s: no checkpoint of %s yet; starting from scratch',
                      args.resume_from, tag)
            return None
        return ResumePoint(ckpt.epoch + 1, ckpt.params, ckpt.states,
                           ckpt.meta.get('best_val_err', 1.0), ckpt.meta.get('num_update'),
                           ckpt.meta_path)
    if not gluoncv_flags:
        return None
    if not args.resume_params:
        raise ValueError('--resume-epoch/--resume-states need --resume-params (the network '
                         'saved after epoch %d)' % (args.resume_epoch - 1))
    params = _existing(args.resume_params, '--resume-params')
    states = _existing(args.resume_states, '--resume-states') if args.resume_states else None
    ckpt = read_checkpoint(meta_path_for(params))
    meta = ckpt.meta if ckpt is not None and ckpt.params == params else {}
    return ResumePoint(args.resume_epoch, params, states, meta.get('best_val_err', 1.0),
                       meta.get('num_update'), params)


def restore(point, trainer, lr_scheduler, batches_per_epoch):
    """Load ``point``'s trainer states and put the optimizer at update
    ``point.epoch * batches_per_epoch`` of ``lr_scheduler`` (the network's parameters are
    loaded by :func:`~gluon_convattn.train.network.prepare_network`, which refuses those of
    another model by name)."""
    if point.states is not None:
        trainer.load_states(point.states)
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
