"""What ``scripts/train_faster_rcnn.py`` and ``scripts/eval_faster_rcnn.py`` share: the data
flags, the data sets and metrics (COCO-format json + images, or GluonCV's VOC), the validation
loader and GluonCV's validation loop, and the device list of ``--gpus``."""
import os

import mxnet as mx

from ..data.coco_detection import COCOJsonDetection, PaddedValTransform
from ..utils.gluoncv_import import import_gluoncv

__all__ = ['add_data_args', 'detector_name', 'gpu_context', 'load_datasets', 'val_loader',
           'validate']

NETWORKS = ('atkernel_resnet50',)


def add_data_args(parser, train=True):
    """COCO-format data flags (``--train-json`` ... default to COCO's layout in --data-root)."""
    parser.add_argument('--data-root', default=os.path.join('~', '.mxnet', 'datasets', 'coco'),
                        help='COCO root (annotations/instances_{train,val}2017.json, '
                             'train2017/, val2017/); VOCdevkit root for --dataset voc')
    if train:
        parser.add_argument('--train-json', default=None,
                            help='training annotations (default <data-root>/annotations/'
                                 'instances_train2017.json)')
        parser.add_argument('--train-images', default=None,
                            help='training image folder (default <data-root>/train2017)')
    parser.add_argument('--val-json', default=None,
                        help='validation annotations (default <data-root>/annotations/'
                             'instances_val2017.json)')
    parser.add_argument('--val-images', default=None,
                        help='validation image folder (default <data-root>/val2017)')
    parser.add_argument('--classes', type=int, default=None,
                        help='number of categories the json must have (80 for COCO); default: '
                             'whatever it lists')
    parser.add_argument('--skip-invalid-boxes', action='store_true',
                        help='drop empty or out-of-image boxes instead of stopping')
    parser.add_argument('--image-short', type=int, default=800,
                        help='short side of the resized image (upstream 800)')
    parser.add_argument('--image-max-size', type=int, default=1333,
                        help='longest side of the resized image (upstream 1333)')


def detector_name(network):
    """The registered detector for a ``--network`` backbone."""
    return 'faster_rcnn_fpn_%s_coco' % network


def gpu_context(gpus):
    """``'0,1'`` -> GPU contexts; empty -> the CPU. Asking for absent GPUs is a ValueError."""
    ids = [int(i) for i in gpus.split(',') if i.strip()]
    if not ids:
        return [mx.cpu()]
    available = mx.context.num_gpus()
    if max(ids) >= available:
        raise ValueError("gpus %s: MXNet sees %d GPU(s); pass gpus='' to run on the CPU"
                         % (gpus, available))
    return [mx.gpu(i) for i in ids]


def _path(value, root, default):
    return os.path.expanduser(value if value else os.path.join(root, default))


def load_datasets(args, train=True, eval_prefix=None):
    """``(train_dataset or None, val_dataset, val_metric)`` for ``args.dataset``."""
    gcv = import_gluoncv()
    root = os.path.expanduser(args.data_root)
    if args.dataset == 'voc':
        from gluoncv.utils.metrics.voc_detection import VOC07MApMetric
        train_set = gcv.data.VOCDetection(root=root, splits=[(2007, 'trainval'),
                                                             (2012, 'trainval')]) if train else None
        val_set = gcv.data.VOCDetection(root=root, splits=[(2007, 'test')])
        return train_set, val_set, VOC07MApMetric(iou_thresh=0.5, class_names=val_set.classes)
    from gluoncv.utils.metrics.coco_detection import COCODetectionMetric
    train_set = None
    if train:
        train_set = COCOJsonDetection(
            _path(args.train_json, root, 'annotations/instances_train2017.json'),
            _path(args.train_images, root, 'train2017'), classes=args.classes,
            skip_invalid_boxes=args.skip_invalid_boxes)
    val_set = COCOJsonDetection(
        _path(args.val_json, root, 'annotations/instances_val2017.json'),
        _path(args.val_images, root, 'val2017'), classes=args.classes, skip_empty=False,
        skip_invalid_boxes=args.skip_invalid_boxes)
    if train_set is not None and train_set.classes != val_set.classes:
        raise ValueError('the training json has categories %s, the validation json %s'
                         % (train_set.classes, val_set.classes))
    metric = COCODetectionMetric(val_set, eval_prefix or 'eval', cleanup=True)
    return train_set, val_set, metric


def val_loader(net, dataset, num_shards, num_workers):
    """GluonCV's validation loader: one image a device, padded to multiples of 32."""
    import_gluoncv()
    from gluoncv.data.batchify import Append, Tuple
    short = net.short[-1] if isinstance(net.short, (tuple, list)) else net.short
    return mx.gluon.data.DataLoader(
        dataset.transform(PaddedValTransform(short, net.max_size)), num_shards, False,
        batchify_fn=Tuple(*[Append() for _ in range(3)]), last_batch='keep',
        num_workers=num_workers)


def _split_and_load(batch, ctx_list):
    return [[x.as_in_context(c) for x, c in zip(data, ctx_list)] for data in batch]


def validate(net, val_data, ctx, eval_metric, hybridize=True, static_alloc=False):
    """GluonCV's ``validate``: detections clipped to the image, rescaled to the original
    resolution, fed to ``eval_metric``; returns ``eval_metric.get()``."""
    gcv = import_gluoncv()
    clipper = gcv.nn.bbox.BBoxClipToImage()
    eval_metric.reset()
    if hybridize:
        net.hybridize(static_alloc=static_alloc)
    for batch in val_data:
        batch = _split_and_load(batch, ctx)
        for x, y, im_scale in zip(*batch):
            ids, scores, bboxes = net(x)
            bboxes = clipper(bboxes, x) * im_scale.reshape((-1)).asscalar()
            gt_boxes = y.slice_axis(axis=-1, begin=0, end=4) * im_scale.reshape((-1)).asscalar()
            gt_ids = y.slice_axis(axis=-1, begin=4, end=5)
            gt_diff = y.slice_axis(axis=-1, begin=5, end=6) if y.shape[-1] > 5 else None
            eval_metric.update(bboxes, ids, scores, gt_boxes, gt_ids, gt_diff)
    return eval_metric.get()
