"""ImageNet-style input pipelines with GluonCV's augmentation and normalisation.

Two sources give the same batches: :class:`RecordSource` reads ``.rec``/``.idx`` files with
``mx.io.ImageRecordIter`` (decoding and augmentation in C++ threads), :class:`LoaderSource` reads
any Gluon dataset of (image, label) pairs, e.g. an image folder or Tiny ImageNet, through a
``DataLoader``. Training: random resized crop (area 8%-100% by default, aspect 3/4-4/3) to
``input_size``,
horizontal flip, brightness/contrast/saturation jitter and PCA lighting noise. Validation: resize
the shorter side to ``ceil(input_size / crop_ratio)`` and take the centre ``input_size`` crop.
Both subtract the RGB mean and divide by the RGB standard deviation (0-255 scale).

Every epoch is reproducible: the order and the augmentation of epoch ``e`` depend on
``seed + e`` only (with a record file, or with ``num_workers=0`` for a loader), so training
resumed from a checkpoint sees the data an uninterrupted run would have seen.
"""
import math
from collections import namedtuple

import mxnet as mx
import numpy as np
from mxnet import gluon
from mxnet.gluon.data.vision import transforms

from ..utils.seed import seed_everything
from .folder import image_folder
from .recordio import check_record_files, read_index

__all__ = ['RGB_MEAN', 'RGB_STD', 'Augmentation', 'Batch', 'resize_size', 'RecordSource',
           'LoaderSource', 'ShardSampler', 'image_folder', 'imagenet_transform']


RGB_MEAN = (123.68, 116.779, 103.939)
RGB_STD = (58.393, 57.12, 57.375)

Augmentation = namedtuple('Augmentation', ['input_size', 'crop_ratio', 'rgb_mean', 'rgb_std',
                                           'jitter', 'lighting', 'min_area'])
Augmentation.__new__.__defaults__ = (0.875, RGB_MEAN, RGB_STD, 0.4, 0.1, 0.08)
Augmentation.__doc__ = """Preprocessing settings: crop size, validation crop ratio, RGB mean and
standard deviation (0-255), colour jitter strength, PCA lighting strength (0 disables) and the
smallest area of the random resized crop (GluonCV 0.08)."""

Batch = namedtuple('Batch', ['data', 'label', 'valid'])
Batch.__doc__ = """A batch: data (N, 3, H, W) float32, labels (N,) float32, and how many of the
N samples are real (the rest pads the last validation batch)."""


def resize_size(input_size, crop_ratio):
    """Shorter side before the centre crop: ``ceil(input_size / crop_ratio)`` (GluonCV)."""
    crop_ratio = crop_ratio if crop_ratio > 0 else 0.875
    return int(math.ceil(input_size / crop_ratio))


class RecordSource(object):
    """Batches from a ``.rec``/``.idx`` pair through ``mx.io.ImageRecordIter``.

    Parameters
    ----------
    rec, idx : str
        The record file and its index.
    batch_size : int
        Samples per batch (all devices of this worker together).
    train : bool
        Training augmentation and shuffling, or validation resize and centre crop.
    aug : Augmentation
    num_workers : int
        Decoding threads.
    num_parts, part_index : int
        This worker's share of the file in distributed training.
    seed : int
        Epoch ``e`` shuffles and augments with ``seed + e``.
    flags : tuple of str
        The names of ``rec`` and ``idx`` in error messages (a script passes its flags).

    Attributes: ``name`` (flag and file, for messages), ``total_samples`` (records in the file),
    ``num_samples`` (this worker's share).
    """

    def __init__(self, rec, idx, batch_size, train, aug, num_workers=4, num_parts=1,
                 part_index=0, seed=0, flags=('rec', 'idx')):
        self.rec, self.idx = check_record_files(rec, idx, *flags)
        self.batch_size, self.train, self.aug = batch_size, train, aug
        self.num_workers, self.num_parts, self.part_index = num_workers, num_parts, part_index
        self.seed = seed
        self.name = '%s %s' % (flags[0], self.rec)
        self.total_samples = len(read_index(self.idx))
        self.num_samples = self.total_samples // num_parts

    def _iterator(self, epoch):
        aug = self.aug
        common = dict(path_imgrec=self.rec, path_imgidx=self.idx, batch_size=self.batch_size,
                      data_shape=(3, aug.input_size, aug.input_size),
                      preprocess_threads=max(1, self.num_workers),
                      mean_r=aug.rgb_mean[0], mean_g=aug.rgb_mean[1], mean_b=aug.rgb_mean[2],
                      std_r=aug.rgb_std[0], std_g=aug.rgb_std[1], std_b=aug.rgb_std[2],
                      num_parts=self.num_parts, part_index=self.part_index)
        if not self.train:
            return mx.io.ImageRecordIter(shuffle=False, resize=resize_size(aug.input_size,
                                                                           aug.crop_ratio),
                                         **common)
        seed = self.seed + epoch
        return mx.io.ImageRecordIter(
            shuffle=True, seed=seed, seed_aug=seed, shuffle_chunk_seed=seed,
            rand_mirror=True, random_resized_crop=True, max_aspect_ratio=4. / 3.,
            min_aspect_ratio=3. / 4., max_random_area=1, min_random_area=aug.min_area,
            brightness=aug.jitter, saturation=aug.jitter, contrast=aug.jitter,
            pca_noise=aug.lighting, **common)

    def batches(self, epoch=0):
        """Yield :class:`Batch` es of one pass over the data (this worker's part)."""
        for batch in self._iterator(epoch):
            data, label = batch.data[0], batch.label[0]
            yield Batch(data, label, data.shape[0] - (batch.pad or 0))


class ShardSampler(gluon.data.Sampler):
    """Indices ``0..length-1`` (shuffled with ``seed + epoch`` when ``shuffle``), the
    ``part_index``-th of ``num_parts`` equal shares; set :attr:`epoch` before each pass."""

    def __init__(self, length, shuffle, num_parts=1, part_index=0, seed=0):
        self.length, self.shuffle = length, shuffle
        self.num_parts, self.part_index, self.seed = num_parts, part_index, seed
        self.epoch = 0

    def _indices(self):
        indices = np.arange(self.length)
        if self.shuffle:
            np.random.RandomState((self.seed + self.epoch) % 2 ** 32).shuffle(indices)
        per_part = self.length // self.num_parts if self.num_parts > 1 else self.length
        return indices[self.part_index * per_part:(self.part_index + 1) * per_part]

    def __iter__(self):
        return iter(self._indices().tolist())

    def __len__(self):
        return len(self._indices())


def imagenet_transform(aug, train):
    """GluonCV's ImageNet preprocessing of an HxWx3 uint8 image: random resized crop, flip,
    colour jitter and lighting for training; resize and centre crop for validation; then
    ``ToTensor`` and normalisation by ``aug``'s RGB mean and standard deviation."""
    normalize = transforms.Normalize([m / 255. for m in aug.rgb_mean],
                                     [s / 255. for s in aug.rgb_std])
    if train:
        steps = [transforms.RandomResizedCrop(aug.input_size, scale=(aug.min_area, 1.0)),
                 transforms.RandomFlipLeftRight()]
        if aug.jitter > 0:
            steps.append(transforms.RandomColorJitter(brightness=aug.jitter,
                                                      contrast=aug.jitter,
                                                      saturation=aug.jitter))
        if aug.lighting > 0:
            steps.append(transforms.RandomLighting(aug.lighting))
    else:
        steps = [transforms.Resize(resize_size(aug.input_size, aug.crop_ratio), keep_ratio=True),
                 transforms.CenterCrop(aug.input_size)]
    return transforms.Compose(steps + [transforms.ToTensor(), normalize])


class LoaderSource(object):
    """Batches from a Gluon dataset of (HxWx3 uint8 image, label) through a ``DataLoader``.

    Parameters as :class:`RecordSource`, with ``dataset`` in place of the files, ``transform``
    (applied to each image, e.g. :func:`imagenet_transform`) in place of ``aug``, and ``name``
    saying where the data comes from. Training drops the last incomplete batch (GluonCV's
    ``last_batch='discard'``); validation keeps it. Serves ImageNet folders, Tiny ImageNet,
    CIFAR and the digits set.
    """

    def __init__(self, dataset, batch_size, train, transform, num_workers=4, num_parts=1,
                 part_index=0, seed=0, name='the image folder'):
        self.dataset, self.train, self.seed, self.name = dataset, train, seed, name
        self.num_workers = num_workers
        self.sampler = ShardSampler(len(dataset), train, num_parts, part_index, seed)
        self.total_samples = len(dataset)
        self.num_samples = len(self.sampler)
        self.loader = gluon.data.DataLoader(
            dataset.transform_first(transform),
            batch_sampler=gluon.data.BatchSampler(self.sampler, batch_size,
                                                  'discard' if train else 'keep'),
            num_workers=num_workers)

    def __len__(self):
        return len(self.loader)

    def batches(self, epoch=0):
        """Yield :class:`Batch` es of one pass over the data (this worker's part)."""
        self.sampler.epoch = epoch
        if self.train and self.num_workers == 0:
            seed_everything(self.seed + epoch)
        for data, label in self.loader:
            yield Batch(data, label.astype('float32'), data.shape[0])
