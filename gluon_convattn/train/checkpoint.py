"""Checkpoints that survive a kill at any moment.

A checkpoint is three files named as GluonCV names them, ``<tag>-<epoch>.params`` (the network),
``.states`` (the trainer: optimizer states, with the optimizer) and ``.json`` (what resuming
needs: epoch, update count, best validation error, model and its arguments, file sizes). Each
file is written to a temporary name, flushed to disk and renamed over the final name, and the
``.json`` comes last: a checkpoint whose ``.json`` exists and whose files have the recorded sizes
is complete, and an interrupted write leaves the previous checkpoints as they were. The
``.json`` also stores the SHA-256 of the other two, which resuming verifies
(:func:`verify_checkpoint`), so a file damaged in place (same size) is never trained on.
"""
import errno
import json
import logging
import os
import re
import shutil
from collections import namedtuple

from ..utils.files import DiskFullError, atomic_write, sha256_file

__all__ = ['Checkpoint', 'atomic_write', 'save_checkpoint', 'copy_checkpoint',
           'read_checkpoint', 'find_checkpoints', 'latest_checkpoint', 'meta_path_for',
           'verify_checkpoint', 'CHECKPOINT_SUFFIXES']

FORMAT = 1
CHECKPOINT_SUFFIXES = ('.params', '.states', '.json')
_TMP = re.compile(r'^\..*\.tmp-\d+$')
_LOG = logging.getLogger(__name__)

Checkpoint = namedtuple('Checkpoint', ['epoch', 'params', 'states', 'meta_path', 'meta'])
Checkpoint.__doc__ = """A complete checkpoint: ``params`` and ``states`` are paths (``states`` is
None when the trainer could not be saved), ``meta`` the parsed ``.json``."""


def _write_json(obj):
    def write(path):
        with open(path, 'w') as f:
            json.dump(obj, f, indent=1, sort_keys=True)
    return write


def meta_path_for(params_path):
    """The ``.json`` written beside a ``.params`` file of a checkpoint."""
    root, _ = os.path.splitext(params_path)
    return root + '.json'


def save_checkpoint(save_dir, name, net, trainer, meta):
    """Write ``<save_dir>/<name>.params``, ``.states`` and, last, ``.json``; return a
    :class:`Checkpoint`.

    Parameters
    ----------
    save_dir : str
        Existing folder.
    name : str
        File name without extension, e.g. ``imagenet-resnet50_v1b_atac-9``.
    net : Block
        Saved with ``save_parameters``.
    trainer : gluon.Trainer or None
        Saved with ``save_states``; None to save the network only.
    meta : dict
        Must hold ``epoch`` (the last finished epoch) and ``tag``; stored in the ``.json``.
    """
    base = os.path.join(save_dir, name)
    meta = dict(meta, format=FORMAT)
    written = []
    try:
        for kind, write in (('params', net.save_parameters),
                            ('states', trainer.save_states if trainer is not None else None)):
            meta[kind] = None
            if write is None:
                continue
            path = base + '.' + kind
            atomic_write(path, write)
            written.append(path)
            meta[kind] = os.path.basename(path)
            meta[kind + '_bytes'] = os.path.getsize(path)
            meta[kind + '_sha256'] = sha256_file(path)
        atomic_write(base + '.json', _write_json(meta))
    except DiskFullError:
        for path in written:        # an incomplete checkpoint only takes space
            os.remove(path)
        raise DiskFullError(errno.ENOSPC, 'no space left on the device while saving checkpoint '
                            '%s in %s; the checkpoints saved before it are kept. Free some space '
                            'and resume from %s'
                            % (name, save_dir, save_dir)) from None
    return read_checkpoint(base + '.json')


def _link_or_copy(src, dst):
    try:
        os.link(src, dst)
    except OSError:         # no hard links on this file system
        shutil.copyfile(src, dst)


def copy_checkpoint(ckpt, name, meta):
    """Give the complete checkpoint ``ckpt`` a second name in its folder (hard links where the
    file system has them, copies otherwise; atomically, ``.json`` last), with ``meta`` in its
    ``.json``. GluonCV's ``-best`` checkpoint of an epoch that also gets a regular one costs
    no second write of the network and trainer."""
    directory = os.path.dirname(ckpt.meta_path)
    base = os.path.join(directory, name)
    meta = dict(meta, format=FORMAT)
    for kind, path in (('params', ckpt.params), ('states', ckpt.states)):
        if path is None:
            meta[kind] = None
            continue
        target = base + os.path.splitext(path)[1]
        atomic_write(target, lambda tmp, src=path: _link_or_copy(src, tmp))
        meta[kind] = os.path.basename(target)
        meta[kind + '_bytes'] = os.path.getsize(target)
        meta[kind + '_sha256'] = ckpt.meta.get(kind + '_sha256')
    atomic_write(base + '.json', _write_json(meta))
    return read_checkpoint(base + '.json')


def read_checkpoint(meta_path):
    """The :class:`Checkpoint` described by ``meta_path``, or None when it is incomplete (a
    file missing or of another size than recorded) or not one of ours."""
    try:
        with open(meta_path) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get('format') != FORMAT or 'epoch' not in meta:
        return None
    directory = os.path.dirname(meta_path)
    paths = {}
    for kind in ('params', 'states'):
        if meta.get(kind) is None:
            paths[kind] = None
            continue
        path = os.path.join(directory, meta[kind])
        if not os.path.isfile(path) or os.path.getsize(path) != meta.get(kind + '_bytes'):
            return None
        paths[kind] = path
    if paths['params'] is None:
        return None
    return Checkpoint(int(meta['epoch']), paths['params'], paths['states'], meta_path, meta)


def find_checkpoints(save_dir, tag=None):
    """Complete checkpoints in ``save_dir`` (of ``tag`` when given), oldest epoch first."""
    found = []
    for fname in sorted(os.listdir(save_dir)):
        if fname.endswith('.json') and not _TMP.match(fname):
            ckpt = read_checkpoint(os.path.join(save_dir, fname))
            if ckpt is not None and (tag is None or ckpt.meta.get('tag') == tag):
                found.append(ckpt)
    return sorted(found, key=lambda c: (c.epoch, c.meta_path))


def verify_checkpoint(ckpt):
    """None when the files of ``ckpt`` have the SHA-256 its ``.json`` recorded (or it recorded
    none: checkpoints written before checksums), else the name of the first file that differs."""
    for kind in ('params', 'states'):
        path, want = getattr(ckpt, kind), ckpt.meta.get(kind + '_sha256')
        if path is not None and want is not None and sha256_file(path) != want:
            return path
    return None


def latest_checkpoint(save_dir, tag, name='save_dir'):
    """The complete, intact checkpoint of ``tag`` with the highest epoch in ``save_dir``, or None.

    A checkpoint whose files do not have the checksums its ``.json`` recorded is skipped with a
    warning naming it, and the one before it is taken.

    Raises FileNotFoundError when ``save_dir`` does not exist and ValueError when it holds
    checkpoints of other tags (models or data sets) only, or only damaged ones; the messages
    call the folder ``name`` (a script passes its flag).
    """
    if not os.path.isdir(save_dir):
        raise FileNotFoundError('%s %s: no such folder' % (name, save_dir))
    mine = find_checkpoints(save_dir, tag)
    damaged = []
    for ckpt in reversed(mine):
        bad = verify_checkpoint(ckpt)
        if bad is None:
            if damaged:
                _LOG.warning('%s %s: %s; resuming from the previous checkpoint, '
                             'epoch %d (%s)', name, save_dir, '; '.join(damaged), ckpt.epoch,
                             os.path.basename(ckpt.meta_path))
            return ckpt
        damaged.append('%s differs from the checksum in %s (damaged on disk?)'
                       % (os.path.basename(bad), os.path.basename(ckpt.meta_path)))
    if damaged:
        raise ValueError('%s %s: every checkpoint of %s is damaged: %s; start a new run in '
                         'another folder' % (name, save_dir, tag, '; '.join(damaged)))
    others = sorted({c.meta.get('tag') for c in find_checkpoints(save_dir)})
    if others:
        raise ValueError('%s %s holds checkpoints of %s, none of %s; pick the folder of this '
                         'model (or the model and data set of those checkpoints)'
                         % (name, save_dir, ', '.join(map(str, others)), tag))
    return None
