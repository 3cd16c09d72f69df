#!/usr/bin/env python
"""Regenerate the AT-kernel Faster R-CNN golden fixture from upstream code.

Usage::

    python tools/make_golden_detection.py --upstream /path/to/AT-kernel \\
        --mmdet /path/to/mmdetection-2.14          # a checkout or the unpacked mmdet wheel
    python tools/make_golden_detection.py ... --counts   # upstream's parameter counts

Upstream here is Koooko96/AT-kernel's ``mmdetection/mmdet/models/backbones/resnet_ATkernel.py``
and its config ``faster_rcnn_r50_AT_0001_11_fpn_1x_b4x2_coco.py`` (executed as the plain Python
dicts it is), and mmdetection 2.14's own ``FPN``, ``RPNHead`` (with ``AnchorHead`` and
``AnchorGenerator``), ``SingleRoIExtractor`` and ``Shared2FCBBoxHead`` files. They are imported
by file without running mmdetection's package ``__init__`` files (which import every model and
mmcv's compiled operators); what they import from mmcv and from the rest of mmdetection is
stood in for here:

* ``mmcv.runner.BaseModule`` -> ``torch.nn.Module``; ``auto_fp16``/``force_fp32`` -> no-ops;
  the registries -> no-op decorators; loss, coder and sampler builders -> None (not used by a
  forward pass); ``build_linear_layer`` -> ``nn.Linear``; ``build_anchor_generator`` builds
  upstream's ``AnchorGenerator``;
* ``mmcv.cnn.ConvModule`` without norm and activation (all FPN uses) -> ``conv`` = a biased
  ``nn.Conv2d``, the same state-dict keys;
* ``mmcv.ops.RoIAlign`` (a compiled operator) -> :func:`roi_align_reference`, a transcription
  of mmcv's CPU kernel (``aligned=True``, adaptive sampling for ``sampling_ratio=0``).

The network (backbone, FPN, RPN head, RoI extractor and box head, with mmdetection's
``state_dict`` layout ``backbone.``/``neck.``/``rpn_head.``/``roi_head.bbox_head.``) runs in eval
mode and float64 with ``support.golden.seeded_state_dict`` weights on a ``seeded_input`` image
and fixed RoIs. The fixture keeps, flattened into one vector (layout in ``outputs``): the five
FPN levels, each level's RPN scores and deltas (upstream's NCHW layout), each level's anchors,
and the box head's class scores (background last, as upstream) and deltas for the RoIs.
Nothing from upstream is copied into the repository.
"""
import argparse
import importlib.util
import math
import os
import runpy
import sys
import types

import numpy as np

import golden_tool
import make_golden_atkernel
from support.golden import seeded_input  # noqa: E402 (golden_tool sets the path)

BACKBONE_FILE = os.path.join('mmdetection', 'mmdet', 'models', 'backbones', 'resnet_ATkernel.py')
CONFIG = os.path.join('mmdetection', 'configs', 'faster_rcnn_r50_AT_0001_11_fpn_1x_b4x2_coco.py')
MMDET_FILES = {
    'necks.fpn': 'mmdet/models/necks/fpn.py',
    'dense_heads.base_dense_head': 'mmdet/models/dense_heads/base_dense_head.py',
    'dense_heads.dense_test_mixins': 'mmdet/models/dense_heads/dense_test_mixins.py',
    'dense_heads.anchor_head': 'mmdet/models/dense_heads/anchor_head.py',
    'dense_heads.rpn_head': 'mmdet/models/dense_heads/rpn_head.py',
    'roi_heads.roi_extractors.base_roi_extractor':
        'mmdet/models/roi_heads/roi_extractors/base_roi_extractor.py',
    'roi_heads.roi_extractors.single_level_roi_extractor':
        'mmdet/models/roi_heads/roi_extractors/single_level_roi_extractor.py',
    'roi_heads.bbox_heads.bbox_head': 'mmdet/models/roi_heads/bbox_heads/bbox_head.py',
    'roi_heads.bbox_heads.convfc_bbox_head':
        'mmdet/models/roi_heads/bbox_heads/convfc_bbox_head.py',
}
ANCHOR_FILE = 'mmdet/core/anchor/anchor_generator.py'
NAME = 'faster_rcnn_fpn_atkernel_resnet50_coco'
SEED, INPUT_SEED, INPUT_SHAPE = 41, 2021, [1, 3, 64, 64]
# RoIs (batch index, x1, y1, x2, y2) in image pixels, spanning the four RoI levels, partly
# outside the 64x64 image, one fractional
ROIS = [[0, 2, 3, 30, 25], [0, 5, 5, 60, 58], [0, 10.3, 7.7, 20.9, 40.1],
        [0, -20, -10, 100, 90], [0, -40, -40, 100, 100], [0, -100, -80, 160, 150],
        [0, -200, -200, 260, 260], [0, 30, 12, 31.5, 50]]


def roi_align_reference(feat, rois, output_size, spatial_scale, sampling_ratio, aligned):
    """mmcv's ``roi_align_forward_cpu`` (avg pooling) in numpy: (R, C, PH, PW)."""
    feat = np.asarray(feat, np.float64)
    _, channels, height, width = feat.shape
    ph_n, pw_n = output_size
    out = np.zeros((len(rois), channels, ph_n, pw_n))
    offset = 0.5 if aligned else 0.0

    def bilinear(img, y, x):
        if y < -1.0 or y > height or x < -1.0 or x > width:
            return np.zeros(channels)
        y, x = max(y, 0.0), max(x, 0.0)
        y_low, x_low = int(y), int(x)
        if y_low >= height - 1:
            y_high = y_low = height - 1
            y = float(y_low)
        else:
            y_high = y_low + 1
        if x_low >= width - 1:
            x_high = x_low = width - 1
            x = float(x_low)
        else:
            x_high = x_low + 1
        ly, lx = y - y_low, x - x_low
        hy, hx = 1. - ly, 1. - lx
        return (hy * hx * img[:, y_low, x_low] + hy * lx * img[:, y_low, x_high]
                + ly * hx * img[:, y_high, x_low] + ly * lx * img[:, y_high, x_high])

    for r, roi in enumerate(np.asarray(rois, np.float64)):
        img = feat[int(roi[0])]
        x1, y1 = roi[1] * spatial_scale - offset, roi[2] * spatial_scale - offset
        x2, y2 = roi[3] * spatial_scale - offset, roi[4] * spatial_scale - offset
        roi_w, roi_h = x2 - x1, y2 - y1
        if not aligned:
            roi_w, roi_h = max(roi_w, 1.), max(roi_h, 1.)
        bin_h, bin_w = roi_h / ph_n, roi_w / pw_n
        grid_h = sampling_ratio if sampling_ratio > 0 else int(math.ceil(roi_h / ph_n))
        grid_w = sampling_ratio if sampling_ratio > 0 else int(math.ceil(roi_w / pw_n))
        count = max(grid_h * grid_w, 1)
        for ph in range(ph_n):
            for pw in range(pw_n):
                acc = np.zeros(channels)
                for iy in range(grid_h):
                    y = y1 + ph * bin_h + (iy + .5) * bin_h / grid_h
                    for ix in range(grid_w):
                        x = x1 + pw * bin_w + (ix + .5) * bin_w / grid_w
                        acc += bilinear(img, y, x)
                out[r, :, ph, pw] = acc / count
    return out


def _module(name, **attrs):
    module = types.ModuleType(name)
    module.__path__ = []
    module.__dict__.update(attrs)
    sys.modules[name] = module
    return module


def _load_file(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_mmdet(mmdet_root):
    """Import the mmdetection files the detector needs, with the stand-ins of the docstring."""
    import torch
    from torch import nn

    def passthrough(*args, **kwargs):
        return lambda fn: fn

    class BaseModule(nn.Module):
        def __init__(self, init_cfg=None):
            super().__init__()
            self.init_cfg = init_cfg

    class ConvModule(nn.Module):
        def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                     conv_cfg=None, norm_cfg=None, act_cfg=None, inplace=True):
            super().__init__()
            if conv_cfg or norm_cfg or act_cfg:
                raise NotImplementedError('ConvModule stand-in: plain biased convolution only')
            self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding)

        def forward(self, x):
            return self.conv(x)

    class RoIAlign(nn.Module):
        def __init__(self, output_size, spatial_scale=1.0, sampling_ratio=0, pool_mode='avg',
                     aligned=True, use_torchvision=False):
            super().__init__()
            self.output_size = (output_size, output_size) if isinstance(output_size, int) \
                else tuple(output_size)
            self.spatial_scale, self.sampling_ratio = spatial_scale, sampling_ratio
            self.aligned = aligned
            if pool_mode != 'avg':
                raise NotImplementedError('RoIAlign stand-in: avg pooling only')

        def forward(self, feat, rois):
            out = roi_align_reference(feat.detach().numpy(), rois.detach().numpy(),
                                      self.output_size, self.spatial_scale,
                                      self.sampling_ratio, self.aligned)
            return torch.from_numpy(out).to(feat.dtype)

    def multi_apply(func, *args, **kwargs):
        return tuple(map(list, zip(*[func(*a, **kwargs) for a in zip(*args)])))

    registry = types.SimpleNamespace(register_module=passthrough)
    runner = _module('mmcv.runner', BaseModule=BaseModule, auto_fp16=passthrough,
                     force_fp32=passthrough)
    cnn = _module('mmcv.cnn', ConvModule=ConvModule)
    ops = _module('mmcv.ops', RoIAlign=RoIAlign, batched_nms=None)
    _module('mmcv', runner=runner, cnn=cnn, ops=ops,
            is_tuple_of=lambda seq, kind: all(isinstance(s, kind) for s in seq))
    for pkg in ('mmdet', 'mmdet.models', 'mmdet.models.necks', 'mmdet.models.dense_heads',
                'mmdet.models.roi_heads', 'mmdet.models.roi_heads.roi_extractors',
                'mmdet.models.roi_heads.bbox_heads', 'mmdet.core.anchor'):
        _module(pkg)
    _module('mmdet.models.builder', HEADS=registry, NECKS=registry, ROI_EXTRACTORS=registry,
            build_loss=lambda cfg: None)
    _module('mmdet.models.losses', accuracy=None)
    _module('mmdet.utils')
    _module('mmdet.utils.contextmanagers', completed=None)
    _module('mmdet.models.utils',
            build_linear_layer=lambda cfg, in_features, out_features: nn.Linear(
                in_features, out_features))
    _module('mmdet.core.anchor.builder', PRIOR_GENERATORS=registry, ANCHOR_GENERATORS=registry)
    anchors = _load_file('mmdet.core.anchor.anchor_generator',
                         os.path.join(mmdet_root, ANCHOR_FILE))

    def build_anchor_generator(cfg):
        cfg = dict(cfg)
        return getattr(anchors, cfg.pop('type'))(**cfg)
    unused = dict.fromkeys(('anchor_inside_flags', 'images_to_levels', 'unmap',
                            'multiclass_nms', 'bbox_mapping_back', 'merge_aug_proposals'))
    _module('mmdet.core', build_anchor_generator=build_anchor_generator,
            multi_apply=multi_apply, build_bbox_coder=lambda cfg: None,
            build_assigner=lambda cfg: None, build_sampler=lambda cfg, **kw: None, **unused)
    loaded = {}
    for name, path in MMDET_FILES.items():
        loaded[name] = _load_file('mmdet.models.' + name, os.path.join(mmdet_root, path))
    return loaded


def build_detector(upstream, mmdet_root):
    """Upstream's detector: the config's backbone, FPN, RPN head, RoI extractor and box head."""
    import torch
    model = runpy.run_path(os.path.join(upstream, CONFIG))['model']
    backbone_module = make_golden_atkernel.load_backbone_module(upstream, BACKBONE_FILE)
    mm = load_mmdet(mmdet_root)

    def kwargs(cfg, *drop):
        return {k: v for k, v in cfg.items() if k not in ('type',) + drop}

    class Detector(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = backbone_module.ResNet_ATkernel(
                **kwargs(model['backbone'], 'init_cfg'))
            self.neck = mm['necks.fpn'].FPN(**kwargs(model['neck']))
            self.rpn_head = mm['dense_heads.rpn_head'].RPNHead(**kwargs(model['rpn_head']))
            roi = model['roi_head']
            self.roi_extractor = mm['roi_heads.roi_extractors.single_level_roi_extractor'] \
                .SingleRoIExtractor(**kwargs(roi['bbox_roi_extractor']))
            self.roi_head = torch.nn.Module()
            self.roi_head.bbox_head = mm['roi_heads.bbox_heads.convfc_bbox_head'] \
                .Shared2FCBBoxHead(**kwargs(roi['bbox_head']))

        def forward(self, x, rois):
            feats = self.neck(self.backbone(x))
            scores, deltas = self.rpn_head(feats)
            anchors = self.rpn_head.anchor_generator.grid_anchors(
                [f.shape[-2:] for f in feats], device='cpu')
            roi_feats = self.roi_extractor(feats[:self.roi_extractor.num_inputs], rois)
            cls_score, bbox_pred = self.roi_head.bbox_head(roi_feats)
            named = [('P%d' % (i + 2), f) for i, f in enumerate(feats)]
            named += [('rpn_score_P%d' % (i + 2), s) for i, s in enumerate(scores)]
            named += [('rpn_delta_P%d' % (i + 2), d) for i, d in enumerate(deltas)]
            named += [('anchors_P%d' % (i + 2), a) for i, a in enumerate(anchors)]
            return named + [('cls_score', cls_score), ('bbox_pred', bbox_pred)]
    return Detector(), model


def mmdet_version(mmdet_root):
    """``__version__`` from the checkout's ``mmdet/version.py`` (read, not imported)."""
    import re
    text = open(os.path.join(mmdet_root, 'mmdet', 'version.py')).read()
    match = re.search(r"__version__ = '([^']+)'", text)
    return match.group(1) if match else 'unknown'


def parts(net):
    """Parameters per upstream part (frozen ones included, as upstream's count does)."""
    counts = {}
    for key, p in net.named_parameters():
        part = key.split('.')[0]
        counts[part] = counts.get(part, 0) + p.numel()
    return counts


def make_fixture(upstream, mmdet_root, out):
    import torch
    torch.manual_seed(0)
    net, model = build_detector(upstream, mmdet_root)
    net = net.eval()
    manifest = golden_tool.load_seeded_weights(net, SEED)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        with torch.no_grad():
            named = net.double()(torch.from_numpy(seeded_input(INPUT_SHAPE, INPUT_SEED))
                                 .double(), torch.tensor(ROIS, dtype=torch.float64))
    finally:
        torch.set_default_dtype(default)
    outputs = [[name, list(t.shape)] for name, t in named]
    expected = np.concatenate([t.numpy().ravel() for _, t in named])
    meta = {
        'model': NAME, 'kwargs': {},
        'upstream': golden_tool.provenance(
            'Koooko96/AT-kernel + open-mmlab/mmdetection 2.14', upstream,
            '%s model (backbone, neck, rpn_head, roi_head); mmdetection files %s'
            % (CONFIG, sorted(MMDET_FILES.values())), mmdet_version=mmdet_version(mmdet_root),
            stand_ins='mmcv RoIAlign -> numpy transcription of its CPU kernel; ConvModule -> '
                      'biased Conv2d; builders/registries -> no-ops',
            quirk_1='softmax= dropped from AT_kernel(...) calls',
            params=sum(parts(net).values()), params_by_part=parts(net),
            trainable_params_after_frozen_stages=golden_tool.trainable_count(net),
            torch=torch.__version__, roi_layer=model['roi_head']['bbox_roi_extractor']),
        'seed': SEED, 'manifest': manifest, 'input_seed': INPUT_SEED,
        'input_shape': INPUT_SHAPE, 'rois': ROIS, 'outputs': outputs, 'rtol': 1e-4,
    }
    golden_tool.write_fixture(out, NAME, meta, expected)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--upstream', required=True, help='path to a Koooko96/AT-kernel checkout')
    parser.add_argument('--mmdet', required=True,
                        help='path holding mmdetection 2.14\'s mmdet/ (checkout or wheel)')
    parser.add_argument('--out', default=golden_tool.FIXTURE_DIR, help='fixture folder')
    parser.add_argument('--counts', action='store_true', help='print upstream parameter counts')
    args = parser.parse_args(argv)
    for root, files in ((args.upstream, [BACKBONE_FILE, CONFIG]),
                        (args.mmdet, list(MMDET_FILES.values()) + [ANCHOR_FILE])):
        missing = [f for f in files if not os.path.isfile(os.path.join(root, f))]
        if missing:
            parser.error('%s lacks %s' % (root, ', '.join(missing)))
    if args.counts:
        net = build_detector(args.upstream, args.mmdet)[0]
        for part, count in parts(net).items():
            print('%s %d' % (part, count))
        print('total %d' % sum(parts(net).values()))
        return 0
    make_fixture(args.upstream, args.mmdet, args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
