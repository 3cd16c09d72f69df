"""COCO-format detection data: one annotation json and a folder of images, checked up front.

:class:`COCOJsonDetection` reads any ``instances_*.json``-style file (COCO itself or a set of
one's own) with pycocotools, as GluonCV's ``COCODetection`` does, but from an explicit json and
image folder, and it refuses bad input with an error naming the file, image or annotation: a
missing json or image, a box that is empty or lies outside its image, a category id that is not
among the json's categories, a category count other than the one asked for.

The transforms wrap GluonCV's Faster R-CNN presets and add upstream's ``Pad(size_divisor=32)``:
the AT-kernel backbone needs sides that are multiples of 32.
"""
import os

import mxnet as mx
import numpy as np

from ..utils.gluoncv_import import import_gluoncv

__all__ = ['COCOJsonDetection', 'PaddedTrainTransform', 'PaddedValTransform', 'SIZE_DIVISOR',
           'pad_to_multiple']

gcv = import_gluoncv()
from gluoncv.data.transforms import bbox as tbbox  # noqa: E402
from gluoncv.data.transforms import image as timage  # noqa: E402
from gluoncv.data.transforms.presets.rcnn import (  # noqa: E402
    FasterRCNNDefaultTrainTransform, FasterRCNNDefaultValTransform)

SIZE_DIVISOR = 32
BORDER_TOLERANCE = 1.0     # pixels a box may extend past its image (rounding in COCO's json)
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def _load_coco(annotation_file):
    if not os.path.isfile(annotation_file):
        raise FileNotFoundError('annotation file %s does not exist (COCO-format json: images, '
                                'annotations, categories)' % annotation_file)
    try:
        from pycocotools.coco import COCO
    except ImportError:
        raise ImportError('COCO-format data needs pycocotools: pip install pycocotools') from None
    import contextlib
    import io
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return COCO(annotation_file)
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError('%s is not a COCO-format annotation file: %s' % (annotation_file, err)) \
            from None


class COCOJsonDetection(mx.gluon.data.Dataset):
    """Images and boxes from a COCO-format json; items are ``(image, label)``.

    ``image`` is an (H, W, 3) uint8 NDArray (RGB) and ``label`` an (N, 5) float32 array of
    ``x1, y1, x2, y2, class`` rows (``x2 = x + w`` as mmdetection reads COCO; classes are the
    json's categories sorted by id, numbered from 0).

    Parameters
    ----------
    annotation_file : str
        The json.
    image_dir : str
        Folder holding each image's ``file_name``.
    classes : int, optional
        The number of categories the json must have.
    skip_empty : bool, default True
        Leave out images without boxes (training); keep them for evaluation.
    use_crowd : bool, default False
        Keep ``iscrowd`` annotations.
    skip_invalid_boxes : bool, default False
        Drop empty and out-of-image boxes instead of raising ValueError.
    """

    def __init__(self, annotation_file, image_dir, classes=None, skip_empty=True,
                 use_crowd=False, skip_invalid_boxes=False):
        super(COCOJsonDetection, self).__init__()
        self.annotation_file = annotation_file
        self.coco = _load_coco(annotation_file)
        categories = sorted(self.coco.loadCats(self.coco.getCatIds()), key=lambda c: c['id'])
        if not categories:
            raise ValueError('%s lists no categories' % annotation_file)
        if classes is not None and classes != len(categories):
            raise ValueError('classes=%d, but %s has %d categories (%s); pass classes=%d '
                             'or a json with %d categories'
                             % (classes, annotation_file, len(categories),
                                ', '.join(c['name'] for c in categories[:10]), len(categories),
                                classes))
        self.classes = [c['name'] for c in categories]
        self.json_id_to_contiguous = {c['id']: i for i, c in enumerate(categories)}
        self.contiguous_id_to_json = {i: c['id'] for i, c in enumerate(categories)}
        if not os.path.isdir(image_dir):
            raise FileNotFoundError('image folder %s does not exist' % image_dir)
        self.skipped_boxes = 0
        self._items, self._labels, self._aspect = [], [], []
        missing = []
        for image_id in sorted(self.coco.getImgIds()):
            entry = self.coco.loadImgs(image_id)[0]
            path = os.path.join(image_dir, entry['file_name'])
            if not os.path.isfile(path):
                missing.append('%s (image id %s)' % (path, image_id))
                continue
            label = self._label(entry, use_crowd, skip_invalid_boxes)
            if skip_empty and not len(label):
                continue
            self._items.append(path)
            self._labels.append(label)
            self._aspect.append(float(entry['width']) / entry['height'])
        if missing:
            raise FileNotFoundError('%d image(s) of %s have no file in %s: %s%s'
                                    % (len(missing), annotation_file, image_dir,
                                       ', '.join(missing[:3]), ', ...' if len(missing) > 3
                                       else ''))
        if not self._items:
            raise ValueError('%s has no image with boxes' % annotation_file)

    def _label(self, entry, use_crowd, skip_invalid):
        rows = []
        width, height = entry['width'], entry['height']
        for ann in self.coco.loadAnns(self.coco.getAnnIds(imgIds=entry['id'], iscrowd=None)):
            if ann.get('iscrowd', 0) and not use_crowd:
                continue
            if ann['category_id'] not in self.json_id_to_contiguous:
                raise ValueError('annotation %s of image %s has category_id %s, which is not '
                                 'among the categories of %s (ids %s)'
                                 % (ann['id'], entry['file_name'], ann['category_id'],
                                    self.annotation_file, sorted(self.json_id_to_contiguous)))
            x, y, w, h = (float(v) for v in ann['bbox'])
            problem = None
            if not np.isfinite([x, y, w, h]).all() or w <= 0 or h <= 0:
                problem = 'is empty (w=%g, h=%g)' % (w, h)
            elif (x < -BORDER_TOLERANCE or y < -BORDER_TOLERANCE
                  or x + w > width + BORDER_TOLERANCE or y + h > height + BORDER_TOLERANCE):
                problem = 'lies outside the %dx%d image' % (width, height)
            if problem:
                if skip_invalid:
                    self.skipped_boxes += 1
                    continue
                raise ValueError('annotation %s of image %s: box [x=%g, y=%g, w=%g, h=%g] %s; '
                                 'fix the json or pass skip_invalid_boxes=True'
                                 % (ann['id'], entry['file_name'], x, y, w, h, problem))
            x1, y1 = max(x, 0.), max(y, 0.)
            x2, y2 = min(x + w, float(width)), min(y + h, float(height))
            rows.append([x1, y1, x2, y2, self.json_id_to_contiguous[ann['category_id']]])
        return np.array(rows, dtype=np.float32).reshape(-1, 5)

    def __len__(self):
        return len(self._items)

    def __getitem__(self, idx):
        return mx.image.imread(self._items[idx]), self._labels[idx].copy()

    def get_im_aspect_ratio(self):
        """Width / height of every image (GluonCV's bucket sampler sorts by it)."""
        return list(self._aspect)


def pad_to_multiple(img, layout='CHW', fill=0, divisor=SIZE_DIVISOR):
    """Pad ``img`` (an NDArray in ``layout`` 'CHW' or 'HWC') at the bottom and right to sides
    divisible by ``divisor``; ``fill`` is a scalar or one value per channel."""
    h_axis = 1 if layout == 'CHW' else 0
    h, w = img.shape[h_axis], img.shape[h_axis + 1]
    ph, pw = -h % divisor, -w % divisor
    if not ph and not pw:
        return img
    channels = img.shape[0] if layout == 'CHW' else img.shape[2]
    fill = np.broadcast_to(np.asarray(fill, dtype=np.float64), (channels,))
    shape = (channels, 1, 1) if layout == 'CHW' else (1, 1, channels)
    padded = np.broadcast_to(fill.reshape(shape), (channels, h + ph, w + pw) if layout == 'CHW'
                             else (h + ph, w + pw, channels))
    out = mx.nd.array(padded, dtype=img.dtype, ctx=img.context)
    if layout == 'CHW':
        out[:, :h, :w] = img
    else:
        out[:h, :w, :] = img
    return out


class PaddedTrainTransform(FasterRCNNDefaultTrainTransform):
    """GluonCV's training transform (resize, flip, normalise, RPN targets) on images padded to
    multiples of 32 after resizing, as upstream's pipeline pads (padding in the mean colour,
    zero after normalisation).

    The image is resized here; GluonCV's own resize then sees an image whose short side is
    already ``short`` and leaves its size as it is.
    """

    def __init__(self, short, max_size, net, **kwargs):
        super(PaddedTrainTransform, self).__init__(short, max_size, net, **kwargs)
        self._sizes = short
        self._random_resize = False

    def __call__(self, src, label):
        h, w, _ = src.shape
        short = self._sizes
        if isinstance(short, (tuple, list)):
            short = np.random.randint(short[0], short[1] + 1)
        img = timage.resize_short_within(src, short, self._max_size, interp=1)
        label = tbbox.resize(label, (w, h), (img.shape[1], img.shape[0]))
        padded = pad_to_multiple(img, 'HWC', [round(255 * m) for m in MEAN])
        self._short = min(padded.shape[:2])
        saved_max = self._max_size
        self._max_size = max(padded.shape[:2])
        try:
            return super(PaddedTrainTransform, self).__call__(padded, label)
        finally:
            self._max_size = saved_max


class PaddedValTransform(FasterRCNNDefaultValTransform):
    """GluonCV's validation transform, then zero padding to multiples of 32 (boxes and the
    returned image scale are unchanged by padding)."""

    def __call__(self, src, label):
        img, bbox, im_scale = super(PaddedValTransform, self).__call__(src, label)
        return pad_to_multiple(img), bbox, im_scale
