"""A small network and synthetic image sets for smoke-testing the training pipeline without
ImageNet: ``toy_convnet`` trains in milliseconds per batch on a CPU, and the images are coloured
by class so that it can learn them."""
import contextlib
import os

import numpy as np

import gluon_convattn  # noqa: F401  (before mxnet: the CUDA build loads its libraries)
from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock

from gluon_convattn.model_zoo import model_zoo
from gluon_convattn.model_zoo.configs import ModelConfig
from gluon_convattn.utils.checks import check_image_batch

__all__ = ['TOY_MODEL', 'ToyNet', 'toy_model_registered', 'write_image_folder',
           'write_tiny_imagenet', 'write_record_files']

TOY_MODEL = 'toy_convnet'
TOY_MIN_SIZE = 16


class ToyNet(HybridBlock):
    """Two strided 3x3 convolutions with BatchNorm and ReLU, global pooling, a classifier.

    Parameters
    ----------
    classes : int
    width : int
        Channels of the first convolution (the second has twice as many).
    last_gamma : bool
        Zero-initialise the last BatchNorm's gamma (accepted like GluonCV's ResNets).
    """

    min_size = TOY_MIN_SIZE

    def __init__(self, classes=10, width=8, last_gamma=False, **kwargs):
        super(ToyNet, self).__init__(**kwargs)
        self.last_gamma = last_gamma
        with self.name_scope():
            self.features = nn.HybridSequential()
            self.features.add(nn.Conv2D(width, 3, strides=2, padding=1, use_bias=False),
                              nn.BatchNorm(), nn.Activation('relu'),
                              nn.Conv2D(2 * width, 3, strides=2, padding=1, use_bias=False),
                              nn.BatchNorm(gamma_initializer='zeros' if last_gamma else 'ones'),
                              nn.Activation('relu'), nn.GlobalAvgPool2D())
            self.output = nn.Dense(classes)

    def forward(self, x, *args):
        check_image_batch(x, 'toy_convnet', self.min_size, works='32x32')
        return super(ToyNet, self).forward(x, *args)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


def _toy_convnet(classes=10, **kwargs):
    return ToyNet(classes=classes, **kwargs)


@contextlib.contextmanager
def toy_model_registered():
    """Register ``toy_convnet`` in the model zoo for the duration of the ``with`` block."""
    added = TOY_MODEL not in model_zoo.get_model_list()
    if added:
        model_zoo.register_model(ModelConfig(TOY_MODEL, family='toy', input_size=32,
                                             faithful_to='nothing (smoke tests)'),
                                 network=ToyNet)(_toy_convnet)
    try:
        yield TOY_MODEL
    finally:
        if added:
            model_zoo.unregister_model(TOY_MODEL)


def _write_image(path, label, classes, size, rng):
    import cv2
    hue = 180.0 * label / classes
    hsv = np.empty(size + (3,), np.float32)
    hsv[..., 0] = hue
    hsv[..., 1] = 200
    hsv[..., 2] = 80 + 120 * rng.rand(*size)
    bgr = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)
    if not cv2.imwrite(path, bgr):
        raise OSError('could not write %s' % path)


def write_image_folder(root, classes=3, per_class=8, size=(40, 48), seed=0,
                       pattern='{root}/{label}/{index}.jpg', names=None):
    """Write ``classes * per_class`` JPEGs of ``size`` (H, W), coloured by class, to the paths
    ``pattern`` makes (``root``, ``label`` = class name, ``index``); return [(path, class)].

    ``names`` are the class names (``class0``, ``class1``, ... by default).
    """
    rng = np.random.RandomState(seed)
    names = names or ['class%d' % k for k in range(classes)]
    written = []
    for k, name in enumerate(names):
        for i in range(per_class):
            path = pattern.format(root=root, label=name, index=i)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            _write_image(path, k, classes, size, rng)
            written.append((path, k))
    return written


def write_tiny_imagenet(root, classes=3, per_class=4, val_per_class=2, seed=0):
    """A miniature of Tiny ImageNet's layout (64x64 JPEGs): ``wnids.txt`` (unsorted, as in the
    real file), ``train/<wnid>/images/`` and ``val/images/`` with ``val_annotations.txt``.
    Returns the class ids in label order (sorted)."""
    wnids = ['n%08d' % (1000 + 7 * k) for k in range(classes)]
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, 'wnids.txt'), 'w') as f:
        f.write('\n'.join(reversed(wnids)) + '\n')
    write_image_folder(root, classes, per_class, (64, 64), seed, names=wnids,
                       pattern='{root}/train/{label}/images/{label}_{index}.JPEG')
    val = write_image_folder(root, classes, val_per_class, (64, 64), seed + 1, names=wnids,
                             pattern='{root}/val/images/{label}_{index}.JPEG')
    with open(os.path.join(root, 'val', 'val_annotations.txt'), 'w') as f:
        for n, (path, k) in enumerate(val):       # real val images are named val_<n>.JPEG
            name = 'val_%d.JPEG' % n
            os.rename(path, os.path.join(os.path.dirname(path), name))
            f.write('%s\t%s\t0\t0\t63\t63\n' % (name, wnids[k]))
    return sorted(wnids)


def write_record_files(root, classes=3, per_class=8, val_per_class=2, seed=0):
    """Synthetic train/val image folders under ``root/images`` packed with MXNet's im2rec into
    ``root/rec/{train,val}.{rec,idx}``; returns the four paths as a dict (``rec_train``,
    ``rec_train_idx``, ``rec_val``, ``rec_val_idx``) plus ``images`` (the folder root)."""
    from gluon_convattn.data.recordio import run_im2rec
    images, rec = os.path.join(root, 'images'), os.path.join(root, 'rec')
    os.makedirs(rec, exist_ok=True)
    paths = {'images': images}
    for split, count, split_seed in (('train', per_class, seed), ('val', val_per_class, seed + 1)):
        write_image_folder(os.path.join(images, split), classes, count, seed=split_seed)
        prefix = os.path.join(rec, split)
        run_im2rec(prefix, os.path.join(images, split), '--list', '--recursive')
        run_im2rec(prefix, os.path.join(images, split))
        key = 'rec_train' if split == 'train' else 'rec_val'
        paths[key], paths[key + '_idx'] = prefix + '.rec', prefix + '.idx'
    return paths
