"""Image folders (``<split>/<class>/<image>``) whose labels are the training classes' and whose
unreadable images are named.

``ImageFolderDataset`` numbers the class folders of each split by their sorted names, so a
validation folder that lacks a class, or has one more, shifts every label after it without an
error. :func:`image_folder` numbers the validation classes by the training folder's names
instead, refuses a validation class that training does not have and warns about a training class
with no validation folder. :func:`read_image` is ``mx.image.imread`` with the file's name in the
error when it cannot be decoded.
"""
import logging
import os

from mxnet import base, image
from mxnet.gluon.data.vision import ImageFolderDataset

from ..utils.checks import first_line

__all__ = ['read_image', 'class_folders', 'ImageFolder', 'image_folder']

_LOG = logging.getLogger(__name__)


def read_image(path, flag=1):
    """``mx.image.imread(path, flag)``; ValueError naming ``path`` when it cannot be read."""
    try:
        return image.imread(path, flag)
    except (base.MXNetError, OSError) as err:
        raise ValueError('cannot decode the image %s (%s): the file is corrupt or not an image; '
                         'replace or delete it and run again' % (path, first_line(err))) from None


def class_folders(path):
    """The class folder names of ``path``, sorted (the order ``ImageFolderDataset`` labels)."""
    return sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)))


class ImageFolder(ImageFolderDataset):
    """``ImageFolderDataset`` that reads with :func:`read_image` and, given ``classes`` (the
    training class names in label order), labels each folder by its name among them.

    Raises ValueError when a class folder of ``root`` is not among ``classes``.
    """

    def __init__(self, root, flag=1, classes=None, flag_name='root'):
        super(ImageFolder, self).__init__(root, flag=flag)
        if classes is None:
            return
        index = {name: k for k, name in enumerate(classes)}
        unknown = [name for name in self.synsets if name not in index]
        if unknown:
            raise ValueError('%s: %s has class folder(s) %s that the training data lacks; '
                             'validation labels come from the training classes (%s), so remove '
                             'or rename them' % (flag_name, root, ', '.join(unknown[:5]),
                                                 ', '.join(classes[:5]) +
                                                 (', ...' if len(classes) > 5 else '')))
        missing = [name for name in classes if name not in set(self.synsets)]
        if missing:
            _LOG.warning('%s: %s has no folder for %d of the %d training classes (%s%s): they are '
                         'not validated', flag_name, root, len(missing), len(classes),
                         ', '.join(missing[:5]), ', ...' if len(missing) > 5 else '')
        own = self.synsets
        self.items = [(path, index[own[label]]) for path, label in self.items]
        self.synsets = list(classes)

    def __getitem__(self, idx):
        path, label = self.items[idx]
        img = read_image(path, self._flag)
        if self._transform is not None:
            return self._transform(img, label)
        return img, label


def image_folder(root, split, flag='root', classes=None):
    """:class:`ImageFolder` of ``root/split`` (``root/train/<class>/*.JPEG``,
    ``root/val/<class>/...``, GluonCV's ImageNet layout), labelled by ``classes`` when given,
    with an error naming ``flag`` (the name of ``root``: a script passes its flag) when the
    folder is missing or holds no class folders."""
    path = os.path.join(os.path.expanduser(root), split)
    if not os.path.isdir(path):
        raise FileNotFoundError('%s %s: no folder %s (expected %s/%s/<class>/<image>.JPEG, or '
                                'read .rec files instead)' % (flag, root, path, root, split))
    dataset = ImageFolder(path, flag=1, classes=classes, flag_name=flag)
    if not dataset.items:
        raise ValueError('%s %s: %s holds no images in class folders (<class>/<image>.JPEG)'
                         % (flag, root, path))
    return dataset
