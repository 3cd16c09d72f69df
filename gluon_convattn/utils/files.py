"""Writing files so that no failure leaves a partial one: atomic replacement, checksums, clean-up
of the temporaries a killed writer left, and one clear error for a full disk."""
import errno
import hashlib
import os
import re

__all__ = ['atomic_write', 'sha256_file', 'remove_stale_temporaries', 'temporary_path',
           'DiskFullError']

_TMP = re.compile(r'^\.(?P<name>.+)\.tmp-(?P<pid>\d+)$')


class DiskFullError(OSError):
    """The disk filled up while a file was written; the file it was to replace is unchanged."""


def temporary_path(path):
    """Where :func:`atomic_write` writes ``path`` first: ``.<name>.tmp-<pid>`` beside it."""
    directory, name = os.path.split(os.path.abspath(path))
    return os.path.join(directory, '.%s.tmp-%d' % (name, os.getpid()))


def _fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path, write):
    """Call ``write(tmp_path)``, flush the file to disk and rename it to ``path``.

    Readers see either the old ``path`` or the complete new one, never a partial file; on an
    exception the temporary file is removed and ``path`` is untouched. A full disk raises
    :class:`DiskFullError` naming ``path``.
    """
    tmp = temporary_path(path)
    try:
        write(tmp)
        with open(tmp, 'rb+') as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if os.path.exists(tmp):
            os.remove(tmp)
        if _is_disk_full(err):
            raise DiskFullError(errno.ENOSPC, 'no space left on the device while writing %s; '
                                'free some space (or write elsewhere) and run again: %s is '
                                'as it was before' % (path, path)) from None
        raise
    _fsync_dir(os.path.dirname(tmp))


def _is_disk_full(err):
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    # MXNet reports a failed write of its own as MXNetError, errno text included
    return type(err).__name__ == 'MXNetError' and 'No space left' in str(err)


def sha256_file(path, chunk=1 << 20):
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:     # someone else's live process
        return True
    return True


def remove_stale_temporaries(directory):
    """Remove the ``.<name>.tmp-<pid>`` files that :func:`atomic_write` left in ``directory``
    when its process was killed (their pid no longer runs); a live process's are kept.
    Returns the removed paths."""
    removed = []
    if not os.path.isdir(directory):
        return removed
    for fname in sorted(os.listdir(directory)):
        match = _TMP.match(fname)
        if match is None or _alive(int(match.group('pid'))):
            continue
        path = os.path.join(directory, fname)
        try:
            os.remove(path)
            removed.append(path)
        except OSError:
            pass
    return removed
