"""The embedded ``digits`` set: scikit-learn's handwritten digits as 32x32 RGB images.

scikit-learn ships the 1,797 8x8 grey-level images (16 grey levels, UCI "Optical Recognition
of Handwritten Digits", test part) inside the package, so this set needs no download. Each image
is upsampled to 32x32 with bilinear interpolation (pixel centres aligned, edges clamped),
scaled to 0..255 and repeated over three channels, so CIFAR networks and GluonCV's CIFAR
transforms take it unchanged. The split is fixed: stratified by class, 80 % training
(1,437 images) and 20 % validation (360 images), drawn with ``SPLIT_SEED``.
"""
import functools

import mxnet as mx
import numpy as np

__all__ = ['Digits', 'DIGITS_MEAN', 'DIGITS_STD', 'SPLIT_SEED', 'digits_arrays']

SPLIT_SEED = 0
IMAGE_SIZE = 32
# Per-channel mean and standard deviation of the training split's pixels scaled to [0, 1]
# (the three channels are equal); use them in transforms.Normalize.
DIGITS_MEAN = (0.3054, 0.3054, 0.3054)
DIGITS_STD = (0.3237, 0.3237, 0.3237)


def _bilinear_matrix(src, dst):
    """(dst, src) matrix that resamples a length-``src`` signal to ``dst`` samples bilinearly."""
    pos = np.clip((np.arange(dst) + 0.5) * src / dst - 0.5, 0, src - 1)
    low = np.floor(pos).astype(int)
    high = np.minimum(low + 1, src - 1)
    frac = pos - low
    matrix = np.zeros((dst, src))
    matrix[np.arange(dst), low] += 1 - frac
    matrix[np.arange(dst), high] += frac
    return matrix


@functools.lru_cache(maxsize=2)
def digits_arrays(train):
    """``(images, labels)`` of one split: uint8 (N, 32, 32, 3) and int32 (N,)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    digits = load_digits()
    index = np.arange(len(digits.target))
    train_index, val_index = train_test_split(index, test_size=0.2, random_state=SPLIT_SEED,
                                              stratify=digits.target)
    chosen = train_index if train else val_index
    resample = _bilinear_matrix(digits.images.shape[1], IMAGE_SIZE)
    grey = np.einsum('yi,nij,xj->nyx', resample, digits.images[chosen], resample)
    grey = np.clip(np.rint(grey * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    images = np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=-1))
    return images, digits.target[chosen].astype(np.int32)


class Digits(mx.gluon.data.Dataset):
    """scikit-learn's digits, 32x32 RGB, with a fixed stratified 80/20 split.

    Samples are ``(image, label)`` like ``mx.gluon.data.vision.CIFAR10``'s: an
    (32, 32, 3) uint8 NDArray and an int32 class index (0-9).

    Parameters
    ----------
    train : bool, default True
        The training split (1,437 images) or the validation split (360 images).
    transform : callable, optional
        ``transform(image, label) -> sample``, as in Gluon's vision data sets; prefer
        ``Digits(...).transform_first(...)`` with GluonCV's CIFAR transforms and
        :data:`DIGITS_MEAN` / :data:`DIGITS_STD`.
    """

    classes = 10

    def __init__(self, train=True, transform=None):
        images, labels = digits_arrays(bool(train))
        self._data = mx.nd.array(images, dtype=np.uint8)
        self._label = labels
        self._transform = transform

    def __len__(self):
        return len(self._label)

    def __getitem__(self, idx):
        if self._transform is not None:
            return self._transform(self._data[idx], self._label[idx])
        return self._data[idx], self._label[idx]
