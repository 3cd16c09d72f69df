"""Data sets for training: the embedded ``digits`` set and CIFAR-10/100."""
from .cifar import CIFAR_MEAN, CIFAR_STD, cifar_root, load_cifar
from .digits import DIGITS_MEAN, DIGITS_STD, Digits

__all__ = ['DATASETS', 'get_dataset', 'Digits', 'load_cifar', 'cifar_root',
           'DIGITS_MEAN', 'DIGITS_STD', 'CIFAR_MEAN', 'CIFAR_STD']

# name -> (classes, normalisation mean, std, whether horizontal flips are a valid augmentation)
DATASETS = {
    'digits': (10, DIGITS_MEAN, DIGITS_STD, False),
    'cifar10': (10, CIFAR_MEAN, CIFAR_STD, True),
    'cifar100': (100, CIFAR_MEAN, CIFAR_STD, True),
}


def get_dataset(name, train=True, root=None, download=True, fine_label=True):
    """The training or validation split of ``name`` ('digits', 'cifar10' or 'cifar100').

    ``root``, ``download`` and ``fine_label`` apply to CIFAR (see :func:`load_cifar`).
    """
    if name not in DATASETS:
        raise ValueError('dataset must be one of %s, got %r' % (', '.join(DATASETS), name))
    if name == 'digits':
        return Digits(train=train)
    return load_cifar(name, train=train, root=root, download=download, fine_label=fine_label)
