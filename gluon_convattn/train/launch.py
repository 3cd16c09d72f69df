"""MXNet's ``tools/launch.py`` (scheduler, servers and workers of a ``dist_*`` kvstore job),
runnable on the Python versions this package supports.

The MXNet 1.9.1 wheel ships ``mxnet/tools/launch.py`` and the ``dmlc_tracker`` package it
drives, but the tracker calls ``threading.Thread.isAlive``, which Python 3.9 removed; this entry
point restores that alias and runs the wheel's own ``launch.py`` unchanged::

    python -m gluon_convattn.train.launch -n 2 -s 1 --launcher local \\
        python scripts/train_imagenet.py --model resnet50_v1b_atac --kvstore dist_sync ...
    python -m gluon_convattn.train.launch -n 4 -s 4 --launcher ssh -H hosts \\
        --sync-dst-dir /tmp/job python scripts/train_imagenet.py ... --kvstore dist_sync

Every option is ``launch.py``'s (``-n`` workers, ``-s`` servers, ``--launcher
local|ssh|mpi|sge|yarn``, ``-H`` host file, ``--env``...).
"""
import os
import runpy
import sys
import threading

__all__ = ['launch_script_path', 'main']


def launch_script_path():
    """Path of ``launch.py`` in the installed MXNet wheel."""
    import mxnet
    path = os.path.join(os.path.dirname(mxnet.__file__), 'tools', 'launch.py')
    if not os.path.isfile(path):
        raise FileNotFoundError('this MXNet installation has no tools/launch.py (looked at %s); '
                                'start the processes with the DMLC_* variables instead '
                                '(docs/imagenet.md)' % path)
    return path


def _loopback_tracker_for_local_jobs(args):
    """A ``--launcher local`` job runs on this machine alone, but the tracker would advertise
    the address of the machine's network interface as ``DMLC_PS_ROOT_URI``; keep it on
    127.0.0.1 (or on ``DMLC_PS_ROOT_URI`` when set)."""
    local = any(a == '--launcher=local' for a in args) or any(
        a == '--launcher' and b == 'local' for a, b in zip(args, args[1:]))
    if not local:
        return
    from dmlc_tracker import tracker
    host = os.environ.get('DMLC_PS_ROOT_URI', '127.0.0.1')
    tracker.get_host_ip = lambda host_ip=None: host


def main(argv=None):
    """Run ``launch.py`` with ``argv`` (default: this process's arguments)."""
    if not hasattr(threading.Thread, 'isAlive'):
        threading.Thread.isAlive = threading.Thread.is_alive
    args = sys.argv[1:] if argv is None else list(argv)
    _loopback_tracker_for_local_jobs(args)
    saved = sys.argv
    sys.argv = [launch_script_path()] + args
    try:
        runpy.run_path(sys.argv[0], run_name='__main__')
    finally:
        sys.argv = saved


if __name__ == '__main__':
    main()
