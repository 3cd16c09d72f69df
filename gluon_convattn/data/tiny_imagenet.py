"""Tiny ImageNet (200 classes, 64x64 images) read from the layout of its zip file.

::

    ROOT/wnids.txt                       one WordNet id per line, 200 lines
    ROOT/train/<wnid>/images/*.JPEG      500 training images per class
    ROOT/val/images/*.JPEG               10,000 validation images
    ROOT/val/val_annotations.txt         <file>\\t<wnid>\\t<x0>\\t<y0>\\t<x1>\\t<y1> per image

Class ``i`` is the ``i``-th WordNet id in sorted order, which is the order of the training class
folders (upstream AT-kernel's ``Tiny_ImageNet`` numbers the folders the same way).
"""
import os

from mxnet.gluon.data import Dataset

from .folder import read_image

__all__ = ['TinyImageNet', 'IMAGE_SIZE', 'NUM_CLASSES']

IMAGE_SIZE = 64
NUM_CLASSES = 200
_EXTS = ('.jpeg', '.jpg', '.png')


def _need(path, what):
    if not os.path.exists(path):
        raise FileNotFoundError('Tiny ImageNet: %s %s does not exist (expected the layout of '
                                'tiny-imagenet-200.zip: wnids.txt, train/<wnid>/images/, '
                                'val/images/ and val/val_annotations.txt)' % (what, path))
    return path


def _images(folder):
    return sorted(f for f in os.listdir(folder) if f.lower().endswith(_EXTS))


class TinyImageNet(Dataset):
    """Tiny ImageNet's train or val split; items are (HxWx3 uint8 NDArray, int label).

    Parameters
    ----------
    root : str
        The unpacked ``tiny-imagenet-200`` folder.
    train : bool
        The training split (``train/``) or the labelled validation split (``val/``).
    """

    def __init__(self, root, train=True):
        self.root = os.path.expanduser(root)
        _need(self.root, 'folder')
        with open(_need(os.path.join(self.root, 'wnids.txt'), 'class list')) as f:
            wnids = [line.strip() for line in f if line.strip()]
        if not wnids or len(set(wnids)) != len(wnids):
            raise ValueError('Tiny ImageNet: %s must list distinct class ids, one per line'
                             % os.path.join(self.root, 'wnids.txt'))
        self.synsets = sorted(wnids)
        self._label = {w: i for i, w in enumerate(self.synsets)}
        self.items = self._train_items() if train else self._val_items()
        if not self.items:
            raise ValueError('Tiny ImageNet: no images found for the %s split under %s'
                             % ('train' if train else 'val', self.root))

    def _train_items(self):
        items = []
        for wnid in self.synsets:
            folder = _need(os.path.join(self.root, 'train', wnid, 'images'),
                           'training folder of class %s' % wnid)
            items += [(os.path.join(folder, f), self._label[wnid]) for f in _images(folder)]
        return items

    def _val_items(self):
        folder = _need(os.path.join(self.root, 'val', 'images'), 'validation folder')
        notes = _need(os.path.join(self.root, 'val', 'val_annotations.txt'), 'annotation file')
        items = []
        with open(notes) as f:
            for number, line in enumerate(f, 1):
                fields = line.split('\t')
                if not line.strip():
                    continue
                if len(fields) < 2:
                    raise ValueError('%s line %d: expected "<file>\\t<wnid>\\t...", got %r'
                                     % (notes, number, line.strip()))
                fname, wnid = fields[0].strip(), fields[1].strip()
                if wnid not in self._label:
                    raise ValueError('%s line %d: class %s is not in wnids.txt'
                                     % (notes, number, wnid))
                items.append((_need(os.path.join(folder, fname), 'validation image'),
                              self._label[wnid]))
        return sorted(items)

    def __len__(self):
        return len(self.items)

    def __getitem__(self, idx):
        path, label = self.items[idx]
        return read_image(path, 1), label
