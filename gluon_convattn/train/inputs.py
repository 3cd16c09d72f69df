"""Training and validation sources from the command-line flags, with the class count and
input size checked against the data before training starts."""
import logging
import os

from ..data.folder import class_folders, image_folder
from ..data.imagenet import Augmentation, LoaderSource, RecordSource, imagenet_transform
from ..data.recordio import check_labels, read_labels
from ..data.tiny_imagenet import IMAGE_SIZE as TINY_SIZE
from ..data.tiny_imagenet import TinyImageNet
from ..model_zoo import get_model_info
from .cli import flag

__all__ = ['DATASET_CLASSES', 'LABEL_SCAN_LIMIT', 'default_classes', 'default_input_size',
           'check_input_size', 'augmentation', 'train_source', 'val_source']

DATASET_CLASSES = {'imagenet': 1000, 'tiny-imagenet': 200}
# record files up to this many images have all their labels checked before training; larger
# ones (ImageNet's 1.28M) are checked batch by batch as they are read
LABEL_SCAN_LIMIT = 200000
_LOG = logging.getLogger(__name__)


def default_classes(args):
    return args.classes if args.classes is not None else DATASET_CLASSES[args.dataset]


def default_input_size(args, info):
    if args.input_size is not None:
        return args.input_size
    return TINY_SIZE if args.dataset == 'tiny-imagenet' else info.input_size


def check_input_size(model, input_size, note=''):
    """Raise ValueError suggesting ``--input-size`` when ``input_size`` is below ``model``'s
    registered ``min_size`` (before any data is read or the network is built); ``note`` is
    appended to the message (e.g. that the images are resized to the size)."""
    if input_size < 1:
        raise ValueError('--input-size must be >= 1, got %d' % input_size)
    min_size = get_model_info(model).min_size
    if input_size < min_size:
        raise ValueError('--input-size %d does not fit %s: %s needs inputs of at least %dx%d; '
                         'pass --input-size %d%s'
                         % (input_size, model, model, min_size, min_size, min_size, note))


def augmentation(args, input_size):
    if len(args.rgb_mean) != 3 or len(args.rgb_std) != 3:
        raise ValueError('--rgb-mean and --rgb-std take three comma-separated numbers, got '
                         '%s and %s' % (args.rgb_mean, args.rgb_std))
    min_area = getattr(args, 'min_random_area', 0.08)
    if not 0 < min_area <= 1:
        raise ValueError('--min-random-area must be in (0, 1], got %g' % min_area)
    return Augmentation(input_size, args.crop_ratio, tuple(args.rgb_mean), tuple(args.rgb_std),
                        getattr(args, 'jitter_param', 0.4), getattr(args, 'lighting_param', 0.1),
                        min_area)


def _check_record_labels(source, classes):
    if source.total_samples <= LABEL_SCAN_LIMIT:
        check_labels(read_labels(source.rec, source.idx), classes, source.name,
                     flag('classes'))


def _check_synsets(dataset, classes, name):
    if len(dataset.synsets) > classes:
        raise ValueError('%s has %d classes but --classes is %d; pass --classes %d'
                         % (name, len(dataset.synsets), classes, len(dataset.synsets)))


def _training_classes(data_dir):
    """The class names of ``<data_dir>/train`` in label order, or None without that folder
    (evaluation with a validation folder only)."""
    path = os.path.join(os.path.expanduser(data_dir), 'train')
    return class_folders(path) if os.path.isdir(path) else None


def _folder_dataset(args, train):
    if args.dataset == 'tiny-imagenet':
        return TinyImageNet(args.data_dir, train=train), '--data-dir %s (Tiny ImageNet %s)' % (
            args.data_dir, 'train' if train else 'val')
    split = 'train' if train else 'val'
    names = None if train else _training_classes(args.data_dir)
    dataset = image_folder(args.data_dir, split, flag('data_dir'), classes=names)
    name = '--data-dir %s' % os.path.join(args.data_dir, split)
    if not train and names is None and len(dataset.synsets) != default_classes(args):
        _LOG.warning('%s: %d class folders for %d classes, and no training folder beside it to '
                     'take the labels from; the labels are the sorted folder names and may be '
                     'shifted (put the training folder at --data-dir/train)', name,
                     len(dataset.synsets), default_classes(args))
    return dataset, name


def train_source(args, batch_size, classes, aug, num_parts=1, part_index=0, seed=0):
    """The training batches: ``.rec`` with ``--use-rec``, else the folder of ``--dataset``."""
    if args.use_rec:
        source = RecordSource(args.rec_train, args.rec_train_idx, batch_size, True, aug,
                              args.num_workers, num_parts, part_index, seed,
                              flags=(flag('rec_train'), flag('rec_train_idx')))
        _check_record_labels(source, classes)
        return source
    dataset, name = _folder_dataset(args, True)
    _check_synsets(dataset, classes, name)
    return LoaderSource(dataset, batch_size, True, imagenet_transform(aug, True),
                        args.num_workers, num_parts, part_index, seed, name=name)


def val_source(args, batch_size, classes, aug):
    """The validation batches (every worker evaluates the whole validation set)."""
    if args.use_rec:
        source = RecordSource(args.rec_val, args.rec_val_idx, batch_size, False, aug,
                              args.num_workers, flags=(flag('rec_val'), flag('rec_val_idx')))
        _check_record_labels(source, classes)
        return source
    dataset, name = _folder_dataset(args, False)
    _check_synsets(dataset, classes, name)
    return LoaderSource(dataset, batch_size, False, imagenet_transform(aug, False),
                        args.num_workers, name=name)
