"""The folder a training run writes its checkpoints to: it must be a folder, a fresh run never
overwrites another run's checkpoints there, and temporaries left by killed saves are removed.

A fresh run (one that does not resume from a checkpoint) that finds checkpoints of its own tag
(``<dataset>-<model>``) stops with a message naming ``--resume-from`` and ``--overwrite``: the
first continues the run those checkpoints belong to, the second deletes them (they would
otherwise stay beside the new run's and ``--resume-from`` could pick one of the old run).
"""
import logging
import os

from ..utils.files import remove_stale_temporaries
from .checkpoint import CHECKPOINT_SUFFIXES, find_checkpoints

__all__ = ['prepare_save_dir']

_LOG = logging.getLogger(__name__)


def _epochs(checkpoints):
    epochs = sorted({c.epoch for c in checkpoints})
    return str(epochs[0]) if len(epochs) == 1 else '%d-%d' % (epochs[0], epochs[-1])


def prepare_save_dir(save_dir, tag, point=None, overwrite=False, writes=True):
    """Check ``save_dir`` for a run of ``tag`` and create it.

    Parameters
    ----------
    save_dir : str
        The folder; '' saves nothing and is not checked.
    tag : str
        ``<dataset>-<model>``, the prefix of the run's checkpoint names.
    point : ResumePoint or None
        Where the run resumes; a resumed run continues the run of its checkpoint (the user chose
        it), so only a fresh run (None) is checked for another run's checkpoints.
    overwrite : bool
        Delete the checkpoints of ``tag`` that another run left in
        ``save_dir`` instead of refusing.
    writes : bool
        Whether this process writes checkpoints (False on distributed workers other than 0):
        only then is the folder created and cleaned.

    Raises ValueError when ``save_dir`` is a file, or holds another run's checkpoints of ``tag``
    without ``overwrite``.
    """
    if not save_dir:
        return
    save_dir = os.path.expanduser(save_dir)
    if os.path.exists(save_dir) and not os.path.isdir(save_dir):
        raise ValueError('save_dir %s is a file, not a folder; give a folder (it is created '
                         'when missing)' % save_dir)
    if not writes:
        return
    os.makedirs(save_dir, exist_ok=True)
    for path in remove_stale_temporaries(save_dir):
        _LOG.info('removed %s, left by a save that was killed', path)
    mine = find_checkpoints(save_dir, tag)
    if not mine or point is not None:
        return
    if not overwrite:
        raise ValueError('save_dir %s already holds checkpoints of %s (epochs %s) from another '
                         'run; continue that run with resume_from=%s, choose another '
                         'save_dir, or pass overwrite=True to delete them and start afresh'
                         % (save_dir, tag, _epochs(mine), save_dir))
    for ckpt in mine:
        for path in (ckpt.params, ckpt.states, ckpt.meta_path):
            if path is not None and os.path.splitext(path)[1] in CHECKPOINT_SUFFIXES \
                    and os.path.exists(path):
                os.remove(path)
    _LOG.warning('overwrite: deleted %d checkpoints of %s (epochs %s) from %s',
                 len(mine), tag, _epochs(mine), save_dir)
