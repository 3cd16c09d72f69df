"""Devices, data type and the distribution of training over machines.

``--kvstore`` picks MXNet's key-value store (``device``, ``local``, ``dist_sync``,
``dist_device_sync``, ``dist_async``) or ``horovod``. The ``dist_*`` stores are started by MXNet's
``tools/launch.py`` or by hand with the ``DMLC_*`` environment variables (docs/imagenet.md);
every worker then trains on its own share of the data, and gradients are summed over the
workers before each update.
"""
import os

import mxnet as mx

from ..utils.checks import check_choice, check_context_dtype

__all__ = ['KVSTORES', 'DTYPES', 'make_context', 'check_dtype', 'Distribution',
           'setup_distribution']

KVSTORES = ('device', 'local', 'dist_sync', 'dist_device_sync', 'dist_async', 'horovod')
DTYPES = ('float32', 'float16')


def make_context(num_gpus):
    """``[mx.gpu(0), ..., mx.gpu(num_gpus - 1)]``, or ``[mx.cpu()]`` when ``num_gpus`` is 0."""
    if num_gpus < 0:
        raise ValueError('num_gpus must be >= 0, got %d' % num_gpus)
    if num_gpus > 0:
        available = mx.context.num_gpus()
        if num_gpus > available:
            raise ValueError('num_gpus=%d asks for more GPUs than MXNet sees (%d); ask for %d '
                             'or fewer (0 trains on the CPU)'
                             % (num_gpus, available, available))
        return [mx.gpu(i) for i in range(num_gpus)]
    return [mx.cpu()]


def check_dtype(ctx, dtype):
    """Raise ValueError for an unknown ``dtype`` or float16 on the CPU."""
    check_choice(dtype, DTYPES, 'dtype')
    check_context_dtype(ctx, dtype)


class Distribution(object):
    """Where this process stands in a (possibly single-process) training job.

    Attributes
    ----------
    kind : str
        The ``--kvstore`` value.
    kvstore : str or KVStore
        What :class:`mxnet.gluon.Trainer` gets as ``kvstore`` (unused with Horovod).
    rank, num_workers : int
        This worker's number and the number of workers (1 without a distributed store).
    hvd : module or None
        ``horovod.mxnet`` when ``kind`` is ``'horovod'``.
    """

    def __init__(self, kind, kvstore, rank=0, num_workers=1, hvd=None):
        self.kind, self.kvstore, self.rank, self.num_workers, self.hvd = (
            kind, kvstore, rank, num_workers, hvd)

    def __str__(self):
        return 'kvstore %s: worker %d of %d' % (self.kind, self.rank, self.num_workers)

    @property
    def distributed(self):
        return self.num_workers > 1 or self.kind.startswith('dist') or self.hvd is not None

    @property
    def is_main(self):
        """Whether this worker writes logs' files and checkpoints."""
        return self.rank == 0

    def make_trainer(self, params, optimizer, optimizer_params):
        """A Gluon trainer that sums gradients over the workers.

        Synchronous distributed stores keep the optimizer on the workers
        (``update_on_kvstore=False``): every worker applies the same summed gradient, so all
        hold the same parameters and optimizer states, and worker 0 can checkpoint both.
        ``dist_async`` updates on the servers, whose optimizer states cannot be saved.
        """
        if self.hvd is not None:
            return self.hvd.DistributedTrainer(params, optimizer, optimizer_params)
        synchronous = self.kind.startswith('dist') and 'async' not in self.kind
        update_on_kvstore = False if synchronous else None
        return mx.gluon.Trainer(params, optimizer, optimizer_params, kvstore=self.kvstore,
                                update_on_kvstore=update_on_kvstore)

    def broadcast_parameters(self, params, trainer):
        """Give every worker worker 0's initial parameters before the first step.

        Horovod broadcasts explicitly. A Gluon trainer on a ``dist_*`` kvstore broadcasts (kvstore
        init + pull into the weights) lazily at its first ``step``, right before it pushpulls the
        first gradients under the same keys. MXNet 1.9's threaded engine does not order that pull
        after the pushpull (they write different arrays), and with ``update_on_kvstore=False``
        the server then holds the summed gradient, which a late pull copies into the weights.
        So the trainer's broadcast runs here, and is waited for. The dry forward pass left the
        weights it used in MKL-DNN's own layout, which the kvstore cannot send; ``reset_ctx``
        rebuilds them in the default layout first (same values).
        """
        if self.hvd is not None:
            self.hvd.broadcast_parameters(params, root_rank=0)
        elif self.kind.startswith('dist'):
            for param in params.values():
                param.reset_ctx(param.list_ctx())
            if not trainer._kv_initialized:
                trainer._init_kvstore()
            if trainer._params_to_init:
                trainer._init_params()
            mx.nd.waitall()


def _import_horovod():
    try:
        import horovod.mxnet as hvd
    except ImportError as err:
        raise ValueError('kvstore horovod needs Horovod built with MXNet support '
                         '(HOROVOD_WITH_MXNET=1 pip install horovod); it cannot be imported '
                         'here: %s. Use --kvstore dist_sync with MXNet\'s launcher instead.'
                         % err) from None
    hvd.init()
    return hvd


def _check_launched(kind):
    """A ``dist_*`` kvstore needs the scheduler and servers that MXNet's launcher starts; without
    them (no ``DMLC_ROLE`` in the environment) ``mx.kv.create`` waits for them forever."""
    if 'DMLC_ROLE' not in os.environ:
        raise ValueError(
            'kvstore %s needs the parameter-server processes that MXNet\'s launcher starts; run '
            'the same command through it, e.g. "python -m gluon_convattn.train.launch -n 2 -s 1 '
            '--launcher local python scripts/train_imagenet.py ... --kvstore %s" (docs/'
            'imagenet.md), or use --kvstore device on one machine' % (kind, kind))


def setup_distribution(kind, num_gpus):
    """Create the kvstore (or start Horovod) and return ``(Distribution, context list)``.

    With Horovod each process drives one GPU, ``mx.gpu(local_rank)``.
    """
    check_choice(kind, KVSTORES, 'kvstore')
    if kind == 'horovod':
        hvd = _import_horovod()
        ctx = [mx.gpu(hvd.local_rank())] if num_gpus > 0 else [mx.cpu()]
        return Distribution(kind, None, hvd.rank(), hvd.size(), hvd), ctx
    ctx = make_context(num_gpus)
    if kind.startswith('dist'):
        _check_launched(kind)
        kv = mx.kv.create(kind)
        return Distribution(kind, kv, kv.rank, kv.num_workers), ctx
    return Distribution(kind, kind), ctx
