"""CIFAR-10 and CIFAR-100 through ``mx.gluon.data.vision``, with an error that says what to do.

Gluon downloads the binary archives into ``$MXNET_HOME/datasets/cifar10`` (``cifar100``),
``~/.mxnet/datasets/...`` by default, when the internet is reachable. Where it is not, or with
``download=False``, a missing file raises FileNotFoundError naming the folder, the files Gluon
expects there and the no-download alternative ``--dataset digits``.
"""
import os

import mxnet as mx

__all__ = ['CIFAR_MEAN', 'CIFAR_STD', 'CIFAR_FILES', 'cifar_root', 'load_cifar']

# GluonCV's CIFAR normalisation (train_cifar10.py; upstream ATAC uses the same values).
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)

# name -> (Gluon class, files Gluon reads from its root, official archive holding them)
CIFAR_FILES = {
    'cifar10': ('CIFAR10', ['data_batch_%d.bin' % i for i in range(1, 6)] + ['test_batch.bin'],
                'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz '
                '(folder cifar-10-batches-bin)'),
    'cifar100': ('CIFAR100', ['train.bin', 'test.bin'],
                 'https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz '
                 '(folder cifar-100-binary)'),
}


def cifar_root(name):
    """The folder Gluon reads ``name`` from by default."""
    return os.path.join(mx.base.data_dir(), 'datasets', name)


def _missing_message(name, root, missing, reason):
    cls, files, archive = CIFAR_FILES[name]
    return ('%s is not available: %s.\n'
            'Either train on the embedded set, which needs no download: --dataset digits\n'
            'or put the files Gluon expects into %s:\n  %s\n'
            '(they are the files in %s), or point --data-dir at a folder holding them. '
            'Missing now: %s'
            % (name.upper().replace('CIFAR', 'CIFAR-'), reason, root, ' '.join(files), archive,
               ', '.join(missing)))


def load_cifar(name, train=True, root=None, download=True, fine_label=True):
    """Return Gluon's CIFAR-10/100 data set, raising FileNotFoundError with the fix if absent.

    Parameters
    ----------
    name : 'cifar10' or 'cifar100'
    train : bool, default True
        Training (50,000 images) or test (10,000 images) split.
    root : str, optional
        Folder of the binary files; :func:`cifar_root` by default.
    download : bool, default True
        Let Gluon download missing files; with False a missing file is an error at once.
    fine_label : bool, default True
        CIFAR-100 only: the 100 fine classes (True) or the 20 coarse super-classes (False,
        Gluon's own default, which upstream ATAC's train_cifar.py used).
    """
    if name not in CIFAR_FILES:
        raise ValueError('name must be one of %s, got %r' % (', '.join(CIFAR_FILES), name))
    root = os.path.abspath(os.path.expanduser(root or cifar_root(name)))
    cls, files, _ = CIFAR_FILES[name]
    missing = [f for f in files if not os.path.isfile(os.path.join(root, f))]
    if missing and not download:
        raise FileNotFoundError(_missing_message(name, root, missing, 'download is off'))
    kwargs = {'fine_label': fine_label} if name == 'cifar100' else {}
    try:
        return getattr(mx.gluon.data.vision, cls)(root=root, train=train, **kwargs)
    except OSError as err:   # requests' ConnectionError is an OSError
        if not missing:
            raise
        reason = 'the download failed (%s)' % str(err).splitlines()[0][:200]
        raise FileNotFoundError(_missing_message(name, root, missing, reason)) from None
