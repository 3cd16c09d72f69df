"""RecordIO (``.rec`` + ``.idx``) helpers: where MXNet's ``im2rec.py`` is, checks that name the
missing file and its flag, and reading labels from record headers without decoding images.

Packing uses MXNet's own tool, shipped in the wheel as ``mxnet/tools/im2rec.py``
(:func:`im2rec_path`): ``python im2rec.py --list --recursive PREFIX ROOT`` writes the list, and the
same without ``--list`` packs it (docs/imagenet.md).
"""
import os
import runpy
import struct
import sys

import numpy as np

__all__ = ['RECORD_MAGIC', 'im2rec_path', 'run_im2rec', 'check_record_files', 'read_index',
           'read_labels', 'check_labels']

RECORD_MAGIC = 0xced7230a
_RECORD_HEAD = struct.Struct('<II')        # magic, length with continuation flag
_IMAGE_HEAD = struct.Struct('<IfQQ')       # mx.recordio.IRHeader: flag, label, id, id2


def im2rec_path():
    """Path of ``im2rec.py`` in the installed MXNet wheel (``mxnet/tools/im2rec.py``)."""
    import mxnet
    path = os.path.join(os.path.dirname(mxnet.__file__), 'tools', 'im2rec.py')
    if not os.path.isfile(path):
        raise FileNotFoundError(
            'this MXNet installation has no tools/im2rec.py (looked at %s); get it from '
            'the MXNet source tree of version %s (tools/im2rec.py)' % (path, mxnet.__version__))
    return path


def run_im2rec(*args):
    """Run MXNet's ``im2rec.py`` with command-line ``args`` in this process (no new
    interpreter); e.g. ``run_im2rec(prefix, root, '--list', '--recursive')``."""
    import mxnet as mx
    argv = sys.argv
    sys.argv = [im2rec_path()] + [str(a) for a in args]
    try:
        namespace = runpy.run_path(sys.argv[0], run_name='__main__')
    finally:
        sys.argv = argv
    # im2rec leaves its record writer open (its process normally ends right away): close it
    # so that the .rec and .idx are complete on disk before anyone reads them
    for value in namespace.values():
        if isinstance(value, mx.recordio.MXRecordIO):
            value.close()


def check_record_files(rec, idx, rec_flag='rec', idx_flag='idx'):
    """Raise FileNotFoundError naming the file and its argument (``rec_flag``, ``idx_flag``: the
    names the messages give them, e.g. a script's flags) when ``rec`` or ``idx`` is missing,
    ValueError when ``rec`` is not a RecordIO file. Returns the expanded paths."""
    rec, idx = os.path.expanduser(rec), os.path.expanduser(idx)
    for path, flag in ((rec, rec_flag), (idx, idx_flag)):
        if not os.path.isfile(path):
            raise FileNotFoundError(
                '%s %s: no such file. Pack the images with MXNet\'s im2rec.py '
                '(docs/imagenet.md), or pass the path of your .rec/.idx with %s and %s'
                % (flag, path, rec_flag, idx_flag))
    with open(rec, 'rb') as f:
        head = f.read(_RECORD_HEAD.size)
    if len(head) < _RECORD_HEAD.size or _RECORD_HEAD.unpack(head)[0] != RECORD_MAGIC:
        raise ValueError('%s %s is not an MXNet RecordIO file (empty, or no record magic at '
                         'its start)' % (rec_flag, rec))
    _check_last_record(rec, idx, rec_flag, idx_flag)
    return rec, idx


def _check_last_record(rec, idx, rec_flag, idx_flag):
    """A truncated ``.rec`` (an interrupted copy or packing) crashes MXNet's reader: check
    that the last record the index lists is complete."""
    offsets = read_index(idx)
    if not offsets:
        raise ValueError('%s %s lists no records' % (idx_flag, idx))
    last, size = max(offsets), os.path.getsize(rec)
    with open(rec, 'rb') as f:
        f.seek(last)
        head = f.read(_RECORD_HEAD.size)
    complete = len(head) == _RECORD_HEAD.size and _RECORD_HEAD.unpack(head)[0] == RECORD_MAGIC
    if complete:
        length = _RECORD_HEAD.unpack(head)[1] & ((1 << 29) - 1)
        complete = last + _RECORD_HEAD.size + length <= size
    if not complete:
        raise ValueError('%s %s is truncated or does not belong to %s %s: the last record it '
                         'lists, at byte %d, is not complete in the %d-byte file (re-pack or '
                         're-copy it)' % (rec_flag, rec, idx_flag, idx, last, size))


def read_index(idx):
    """Byte offsets of the records listed in an ``.idx`` file, in file order."""
    offsets = []
    with open(idx) as f:
        for number, line in enumerate(f, 1):
            fields = line.split('\t')
            if len(fields) != 2:
                raise ValueError('%s line %d is not "key<TAB>offset": %r'
                                 % (idx, number, line[:80]))
            offsets.append(int(fields[1]))
    return offsets


def read_labels(rec, idx, limit=None):
    """The first label of each record (float32 array), read from the record headers only.

    ``limit`` reads the first ``limit`` records of the index.
    """
    offsets = read_index(idx)[:limit]
    labels = np.empty(len(offsets), np.float32)
    need = _RECORD_HEAD.size + _IMAGE_HEAD.size + 4
    with open(rec, 'rb') as f:
        for i, offset in enumerate(offsets):
            f.seek(offset)
            buf = f.read(need)
            if len(buf) < need - 4 or _RECORD_HEAD.unpack_from(buf)[0] != RECORD_MAGIC:
                raise ValueError('%s: no record at offset %d listed in %s (do the .rec and '
                                 '.idx belong together?)' % (rec, offset, idx))
            flag, label, _, _ = _IMAGE_HEAD.unpack_from(buf, _RECORD_HEAD.size)
            if flag > 0:      # a label array follows the header; the first entry is the class
                label = struct.unpack_from('<f', buf, _RECORD_HEAD.size + _IMAGE_HEAD.size)[0]
            labels[i] = label
    return labels


def check_labels(labels, classes, source, flag='classes'):
    """Raise ValueError unless every label is an integer in ``[0, classes)`` (``flag``: the
    name the message gives ``classes``)."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return
    low, high = float(labels.min()), float(labels.max())
    if high >= classes:
        given = ('%s %d' if flag.startswith('-') else '%s=%d')    # a flag, or an argument
        raise ValueError('%s holds class label %d but %s (labels must be 0..%d); pass %s or '
                         'more, or check the data' % (source, high, given % (flag, classes),
                                                      classes - 1, given % (flag, high + 1)))
    if low < 0 or not np.all(labels == np.round(labels)):
        raise ValueError('%s holds label %g; class labels must be integers in 0..%d'
                         % (source, low if low < 0 else labels[labels != np.round(labels)][0],
                            classes - 1))
