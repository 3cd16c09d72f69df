#!/usr/bin/env python
"""Draw a Faster R-CNN's detections on images and save the pictures (GluonCV's ``plot_bbox``),
as the seed's ``mmdetection/visualization_FasterAT50.py`` does for COCO val2017.

Usage::

    python scripts/demo_faster_rcnn.py --pretrained faster_rcnn_fpn_atkernel_resnet50_coco.params \\
        --images val2017/000000000139.jpg val2017/000000000285.jpg --save-dir COCO_visualization
    python scripts/demo_faster_rcnn.py --pretrained run/..._best.params --images a.png \\
        --gpus '' --image-short 64 --image-max-size 96

Class names and the detector's arguments come from the checkpoint's ``.json`` when it has one
(``train_faster_rcnn.py`` writes it), else the 80 COCO classes. Each picture is written to
``<save-dir>/<image file name>`` (PNG or JPEG as the name says); existing files are kept unless
``--overwrite``.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gluon_convattn.train import cli  # noqa: E402
from gluon_convattn.train.detection import NETWORKS, detector_name, gpu_context  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Faster R-CNN demo: detections drawn on images.')
    parser.add_argument('--network', default='atkernel_resnet50', choices=NETWORKS)
    parser.add_argument('--pretrained', required=True, help='parameter file of the detector')
    parser.add_argument('--images', nargs='+', required=True, help='image files')
    parser.add_argument('--save-dir', default='demo_faster_rcnn', help='output folder')
    parser.add_argument('--thresh', type=float, default=0.5, help='score threshold to draw')
    parser.add_argument('--gpus', default='', help="GPU ids, e.g. 0; '' for the CPU")
    parser.add_argument('--image-short', type=int, default=800)
    parser.add_argument('--image-max-size', type=int, default=1333)
    parser.add_argument('--overwrite', action='store_true', help='replace existing pictures')
    return parser.parse_args(argv)


def _checkpoint_info(path):
    from gluon_convattn.model_zoo.faster_rcnn import COCO_CLASSES
    from gluon_convattn.train.checkpoint import meta_path_for, read_checkpoint
    ckpt = read_checkpoint(meta_path_for(path))
    if ckpt is None:
        return list(COCO_CLASSES), {}
    return ckpt.meta.get('classes') or list(COCO_CLASSES), ckpt.meta.get('model_kwargs', {})


def main(argv=None):
    args = parse_args(argv)
    with cli.flag_errors(args):
        return _demo(args)


def _demo(args):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from gluon_convattn.data.coco_detection import pad_to_multiple
    from gluon_convattn.model_zoo import get_model
    from gluon_convattn.utils.gluoncv_import import import_gluoncv
    from gluon_convattn.utils.params import load_parameters_checked
    gcv = import_gluoncv()
    path = os.path.expanduser(args.pretrained)
    if not os.path.isfile(path):
        raise FileNotFoundError('--pretrained %s: no such file' % path)
    missing = [f for f in args.images if not os.path.isfile(f)]
    if missing:
        raise FileNotFoundError('--images: no such file: %s' % ', '.join(missing))
    outputs = [os.path.join(args.save_dir, os.path.basename(f)) for f in args.images]
    taken = [o for o in outputs if os.path.exists(o)]
    if taken and not args.overwrite:
        raise ValueError('%s exists; pass --overwrite or another --save-dir' % taken[0])
    classes, kwargs = _checkpoint_info(path)
    ctx = gpu_context(args.gpus)[0]
    net = get_model(detector_name(args.network), classes=classes, short=args.image_short,
                    max_size=args.image_max_size, **kwargs)
    load_parameters_checked(net, path, ctx=ctx)
    net.hybridize()
    os.makedirs(args.save_dir, exist_ok=True)
    for image, out in zip(args.images, outputs):
        x, orig = gcv.data.transforms.presets.rcnn.load_test(
            image, short=args.image_short, max_size=args.image_max_size)
        x = pad_to_multiple(x[0], 'CHW').expand_dims(0).as_in_context(ctx)
        ids, scores, bboxes = [o[0].asnumpy() for o in net(x)]
        ax = gcv.utils.viz.plot_bbox(orig, bboxes, scores, ids, thresh=args.thresh,
                                     class_names=net.classes)
        ax.figure.savefig(out, bbox_inches='tight')
        plt.close(ax.figure)
        print('%s: %d detections above %.2f -> %s'
              % (image, int((scores[:, 0] >= args.thresh).sum()), args.thresh, out))
    return 0


if __name__ == '__main__':
    cli.run_main(main)
