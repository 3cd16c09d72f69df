#!/usr/bin/env python
"""Train Faster R-CNN + FPN on the AT-kernel ResNet-50, as GluonCV's
``scripts/detection/faster_rcnn/train_faster_rcnn.py`` does (its flags, defaults and log lines).

Data is a COCO-format json plus an image folder (``--train-json/--train-images``,
``--val-json/--val-images``; COCO's own layout under ``--data-root`` by default), or GluonCV's
VOC with ``--dataset voc``. Differences from GluonCV's script:

* every epoch writes an atomic, resumable checkpoint (``<prefix>_<epoch>_<mAP>.params``,
  ``.states`` with the trainer, ``.json``; ``_best`` likewise): ``--resume`` that ``.params``
  continues the schedule where it stopped, with the optimizer's momentum;
* ``--max-batches`` caps the batches of an epoch (smoke tests); ``--model-kwargs`` passes the
  detector's switches (``anchors``, ``roi_align``, ``p6``, ``frozen_bn``, ``frozen_stages``);
  ``--pretrained-base`` the ImageNet backbone (nothing is downloaded);
* ``--rpn-smoothl1-rho 0`` / ``--rcnn-smoothl1-rho 0`` is a plain L1 loss (upstream's), and
  ``--kv-store dist_sync`` shards the data over the workers as ``--horovod`` does.

The seed's 1x schedule (8 images a step, lr 0.01 with 2000 warm-up iterations from 0.001x,
decays at 8 and 11, 12 epochs) is in the README.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('MXNET_CUDNN_AUTOTUNE_DEFAULT', '0')

import gluon_convattn  # noqa: E402,F401  (loads the CUDA libraries before mxnet)
import mxnet as mx  # noqa: E402
from mxnet import gluon  # noqa: E402

from gluon_convattn.train import cli  # noqa: E402
from gluon_convattn.train.detection import (NETWORKS, add_data_args, detector_name,  # noqa: E402
                                            gpu_context, load_datasets, val_loader, validate)
from gluon_convattn.utils.checks import check_float16_on_cpu  # noqa: E402

DEFAULTS = {'voc': dict(epochs=20, lr_decay_epoch='14,20', lr=0.001, lr_warmup=-1, wd=5e-4),
            'coco': dict(epochs=26, lr_decay_epoch='17,23', lr=0.00125, lr_warmup=1000,
                         wd=1e-4)}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train Faster-RCNN networks e2e.')
    parser.add_argument('--network', type=str, default='atkernel_resnet50', choices=NETWORKS,
                        help='Base network name which serves as feature extraction base.')
    parser.add_argument('--dataset', type=str, default='coco', choices=['coco', 'voc'],
                        help='Training dataset: coco (COCO-format json) or voc.')
    parser.add_argument('--num-workers', '-j', dest='num_workers', type=int, default=4,
                        help='Number of data workers.')
    parser.add_argument('--batch-size', type=int, default=1, help='Training mini-batch size.')
    parser.add_argument('--gpus', type=str, default='0',
                        help="Training with GPUs, you can specify 1,3 for example; '' for CPU.")
    parser.add_argument('--epochs', type=str, default='', help='Training epochs.')
    parser.add_argument('--resume', type=str, default='',
                        help='Resume from previously saved parameters (a checkpoint .params: '
                             'its .json and .states continue the schedule).')
    parser.add_argument('--start-epoch', type=int, default=0,
                        help='Starting epoch for resuming (default: from the checkpoint).')
    parser.add_argument('--lr', type=str, default='', help='Learning rate.')
    parser.add_argument('--lr-decay', type=float, default=0.1,
                        help='decay rate of learning rate. default is 0.1.')
    parser.add_argument('--lr-decay-epoch', type=str, default='',
                        help='epochs at which learning rate decays.')
    parser.add_argument('--lr-warmup', type=str, default='',
                        help='warmup iterations to adjust learning rate.')
    parser.add_argument('--lr-warmup-factor', type=float, default=1. / 3.,
                        help='warmup factor of base lr.')
    parser.add_argument('--momentum', type=float, default=0.9, help='SGD momentum.')
    parser.add_argument('--wd', type=str, default='', help='Weight decay.')
    parser.add_argument('--log-interval', type=int, default=100,
                        help='Logging mini-batch interval. Default is 100.')
    parser.add_argument('--save-prefix', type=str, default='', help='Saving parameter prefix')
    parser.add_argument('--save-interval', type=int, default=1,
                        help='Saving parameters epoch interval, best model will always be saved.')
    parser.add_argument('--val-interval', type=int, default=1,
                        help='Epoch interval for validation.')
    parser.add_argument('--seed', type=int, default=233, help='Random seed to be fixed.')
    parser.add_argument('--verbose', dest='verbose', action='store_true',
                        help='Print helpful debugging info once set.')
    parser.add_argument('--rpn-smoothl1-rho', type=float, default=1. / 9.,
                        help='RPN box regression transition point from L1 to L2 loss; 0 is L1.')
    parser.add_argument('--rcnn-smoothl1-rho', type=float, default=1.,
                        help='RCNN box regression transition point from L1 to L2 loss; 0 is L1.')
    parser.add_argument('--disable-hybridization', action='store_true',
                        help='Whether to disable hybridize the model.')
    parser.add_argument('--static-alloc', action='store_true',
                        help='Whether to use static memory allocation.')
    parser.add_argument('--amp', action='store_true',
                        help='Use MXNet AMP for mixed precision (float16) training on GPUs.')
    parser.add_argument('--horovod', action='store_true',
                        help='Use Horovod for distributed training (--gpus is ignored).')
    parser.add_argument('--kv-store', type=str, default='nccl',
                        help='KV store options. local, device, nccl, dist_sync, '
                             'dist_device_sync, dist_async are available.')
    add_data_args(parser)
    cli.add_constructor_args(parser)    # the detector's switches go in --model-kwargs
    parser.add_argument('--pretrained-base', default='',
                        help="ImageNet backbone: a .params file, or 'true' for "
                             '~/.mxnet/models/atkernel_resnet50.params')
    parser.add_argument('--max-batches', type=int, default=0,
                        help='stop each epoch after this many batches (0: the whole epoch)')
    args = parser.parse_args(argv)
    defaults = DEFAULTS[args.dataset]
    args.epochs = int(args.epochs) if args.epochs else defaults['epochs']
    args.lr_decay_epoch = args.lr_decay_epoch or defaults['lr_decay_epoch']
    args.lr = float(args.lr) if args.lr else defaults['lr']
    args.lr_warmup = args.lr_warmup if args.lr_warmup else defaults['lr_warmup']
    args.wd = float(args.wd) if args.wd else defaults['wd']
    if args.batch_size < 1:
        parser.error('--batch-size must be >= 1, got %d' % args.batch_size)
    return args


def get_lr_at_iter(alpha, lr_warmup_factor=1. / 3.):
    return lr_warmup_factor * (1 - alpha) + alpha


def box_loss(rho):
    """GluonCV's smooth L1 (Huber) loss, or plain L1 for ``rho <= 0`` (upstream's loss)."""
    return gluon.loss.HuberLoss(rho=rho) if rho > 0 else gluon.loss.L1Loss()


def make_kvstore(args, ctx):
    """``(kvstore, rank, num_workers, hvd)`` for ``--horovod`` / ``--kv-store``."""
    if args.horovod:
        try:
            import horovod.mxnet as hvd
        except ImportError as err:
            raise ValueError('--horovod needs Horovod built with MXNet (%s); use --kv-store '
                             'dist_sync with MXNet\'s launcher instead' % err) from None
        hvd.init()
        return None, hvd.rank(), hvd.size(), hvd
    kind = args.kv_store
    if kind == 'nccl' and ctx[0].device_type == 'cpu':
        kind = 'device'          # nccl needs GPUs
    kv = mx.kvstore.create(kind)
    return kv, getattr(kv, 'rank', 0), getattr(kv, 'num_workers', 1), None


def build_network(args, classes, ctx, num_devices):
    from gluon_convattn.model_zoo import get_model
    pretrained_base = args.pretrained_base
    if pretrained_base.lower() in ('true', '1'):
        pretrained_base = True
    net = get_model(detector_name(args.network), classes=list(classes),
                    pretrained_base=pretrained_base or False,
                    per_device_batch_size=args.batch_size // num_devices,
                    short=args.image_short, max_size=args.image_max_size,
                    **cli.constructor_kwargs(args))
    return net


def resume_state(args, net, logger):
    """Load ``--resume``; return ``(start_epoch, best_map, trainer states or None, updates so
    far)``."""
    from gluon_convattn.train.checkpoint import meta_path_for, read_checkpoint
    from gluon_convattn.utils.params import load_parameters_checked
    path = os.path.expanduser(args.resume.strip())
    if not os.path.isfile(path):
        raise FileNotFoundError('--resume %s: no such file' % path)
    load_parameters_checked(net, path)
    ckpt = read_checkpoint(meta_path_for(path))
    if ckpt is None or ckpt.params != path:
        logger.info('Resumed parameters from %s (no checkpoint record: starting at epoch %d '
                    'without trainer states)', path, args.start_epoch)
        return args.start_epoch, 0., None, 0
    start = args.start_epoch or ckpt.epoch + 1
    logger.info('Resumed from %s: epoch %d, best mAP %.4f', path, start,
                ckpt.meta.get('best_map', 0.))
    return start, float(ckpt.meta.get('best_map', 0.)), ckpt.states, \
        int(ckpt.meta.get('num_update') or 0)


def save_params(net, trainer, logger, best_map, current_map, epoch, args, num_update):
    """GluonCV's ``save_params`` with atomic, resumable checkpoints."""
    from gluon_convattn.train.checkpoint import copy_checkpoint, save_checkpoint
    prefix = args.save_prefix
    save_dir = os.path.dirname(prefix) or '.'
    base = os.path.basename(prefix)
    current_map = float(current_map)
    meta = dict(epoch=epoch, tag=base, model=detector_name(args.network), map=current_map,
                num_update=num_update, model_kwargs=cli.constructor_kwargs(args),
                classes=list(net.classes))
    improved = current_map > best_map[0]
    if improved:
        best_map[0] = current_map
    meta['best_map'] = best_map[0]
    ckpt = None
    if args.save_interval and (epoch + 1) % args.save_interval == 0:
        name = '{:s}_{:04d}_{:.4f}'.format(base, epoch, current_map)
        logger.info('[Epoch {}] Saving parameters to {}'.format(
            epoch, os.path.join(save_dir, name + '.params')))
        ckpt = save_checkpoint(save_dir, name, net, trainer, meta)
    if improved:
        logger.info('[Epoch {}] mAP {} higher than current best {} saving to {}'.format(
            epoch, current_map, best_map, '{:s}_best.params'.format(prefix)))
        if ckpt is not None:
            copy_checkpoint(ckpt, base + '_best', meta)
        else:
            save_checkpoint(save_dir, base + '_best', net, trainer, meta)
        with open(prefix + '_best_map.log', 'a') as f:
            f.write('{:04d}:\t{:.4f}\n'.format(epoch, current_map))


def train(net, train_data, val_data, eval_metric, batch_size, ctx, args, logger, kv, hvd,
          start_epoch, best, states, num_update=0):
    """GluonCV's training pipeline."""
    from gluoncv.model_zoo.rcnn.faster_rcnn.data_parallel import ForwardBackwardTask
    from gluoncv.utils.metrics.rcnn import (RCNNAccMetric, RCNNL1LossMetric, RPNAccMetric,
                                            RPNL1LossMetric)
    net.collect_params().setattr('grad_req', 'null')
    net.collect_train_params().setattr('grad_req', 'write')
    optimizer_params = {'learning_rate': args.lr, 'wd': args.wd, 'momentum': args.momentum}
    if args.amp:
        optimizer_params['multi_precision'] = True
    if hvd is not None:
        hvd.broadcast_parameters(net.collect_params(), root_rank=0)
        trainer = hvd.DistributedTrainer(net.collect_train_params(), 'sgd', optimizer_params)
    else:
        trainer = gluon.Trainer(net.collect_train_params(), 'sgd', optimizer_params,
                                update_on_kvstore=(False if args.amp else None), kvstore=kv)
    if args.amp:
        from mxnet.contrib import amp
        amp.init_trainer(trainer)
    if states is not None:
        trainer.load_states(states)
        trainer.set_learning_rate(args.lr)    # the epoch loop applies the decays again
    lr_decay = float(args.lr_decay)
    lr_steps = sorted([float(ls) for ls in args.lr_decay_epoch.split(',') if ls.strip()])
    lr_warmup = float(args.lr_warmup)
    rpn_cls_loss = gluon.loss.SigmoidBinaryCrossEntropyLoss(from_sigmoid=False)
    rpn_box_loss = box_loss(args.rpn_smoothl1_rho)
    rcnn_cls_loss = gluon.loss.SoftmaxCrossEntropyLoss()
    rcnn_box_loss = box_loss(args.rcnn_smoothl1_rho)
    metrics = [mx.metric.Loss('RPN_Conf'), mx.metric.Loss('RPN_SmoothL1'),
               mx.metric.Loss('RCNN_CrossEntropy'), mx.metric.Loss('RCNN_SmoothL1')]
    metrics2 = [RPNAccMetric(), RPNL1LossMetric(), RCNNAccMetric(), RCNNL1LossMetric()]
    logger.info(args)
    if args.verbose:
        logger.info('Trainable parameters:')
        logger.info(net.collect_train_params().keys())
    logger.info('Start training from [Epoch {}]'.format(start_epoch))
    best_map = [best]
    rank0 = hvd is None or hvd.rank() == 0
    for epoch in range(start_epoch, args.epochs):
        rcnn_task = ForwardBackwardTask(net, trainer, rpn_cls_loss, rpn_box_loss, rcnn_cls_loss,
                                        rcnn_box_loss, mix_ratio=1.0, amp_enabled=args.amp)
        if not args.disable_hybridization:
            net.hybridize(static_alloc=args.static_alloc)
        while lr_steps and epoch >= lr_steps[0]:
            new_lr = trainer.learning_rate * lr_decay
            lr_steps.pop(0)
            trainer.set_learning_rate(new_lr)
            logger.info("[Epoch {}] Set learning rate to {}".format(epoch, new_lr))
        for metric in metrics:
            metric.reset()
        for metric in metrics2:
            metric.reset()
        tic = time.time()
        btic = time.time()
        base_lr = trainer.learning_rate
        for i, batch in enumerate(train_data):
            if args.max_batches and i >= args.max_batches:
                break
            if epoch == 0 and i <= lr_warmup:
                new_lr = base_lr * get_lr_at_iter(i / lr_warmup, args.lr_warmup_factor)
                if new_lr != trainer.learning_rate:
                    if i % args.log_interval == 0:
                        logger.info(
                            '[Epoch 0 Iteration {}] Set learning rate to {}'.format(i, new_lr))
                    trainer.set_learning_rate(new_lr)
            batch = [[x.as_in_context(c) for x, c in zip(data, ctx)] if isinstance(
                data, (list, tuple)) else [data.as_in_context(ctx[0])] for data in batch]
            metric_losses = [[] for _ in metrics]
            add_losses = [[] for _ in metrics2]
            for shard in zip(*batch):
                result = rcnn_task.forward_backward(shard)
                for k in range(len(metric_losses)):
                    metric_losses[k].append(result[k])
                for k in range(len(add_losses)):
                    add_losses[k].append(result[len(metric_losses) + k])
            trainer.step(batch_size)
            num_update += 1
            for metric, record in zip(metrics, metric_losses):
                metric.update(0, record)
            for metric, records in zip(metrics2, add_losses):
                for pred in records:
                    metric.update(pred[0], pred[1])
            if rank0 and args.log_interval and not (i + 1) % args.log_interval:
                msg = ','.join(['{}={:.3f}'.format(*metric.get())
                                for metric in metrics + metrics2])
                logger.info('[Epoch {}][Batch {}], Speed: {:.3f} samples/sec, {}'.format(
                    epoch, i, args.log_interval * args.batch_size / (time.time() - btic), msg))
                btic = time.time()
        if rank0:
            msg = ','.join(['{}={:.3f}'.format(*metric.get()) for metric in metrics])
            logger.info('[Epoch {}] Training cost: {:.3f}, {}'.format(
                epoch, (time.time() - tic), msg))
            if not (epoch + 1) % args.val_interval:
                map_name, mean_ap = validate(net, val_data, ctx, eval_metric,
                                             not args.disable_hybridization, args.static_alloc)
                val_msg = '\n'.join(['{}={}'.format(k, v) for k, v in zip(map_name, mean_ap)])
                logger.info('[Epoch {}] Validation: \n{}'.format(epoch, val_msg))
                current_map = float(mean_ap[-1])
            else:
                current_map = 0.
            save_params(net, trainer, logger, best_map, current_map, epoch, args, num_update)
    return best_map[0]


def main(argv=None):
    args = parse_args(argv)
    with cli.flag_errors(args):
        return _train(args)


def _train(args):
    from gluon_convattn.train.logs import setup_logger
    from gluon_convattn.utils.gluoncv_import import import_gluoncv
    from gluon_convattn.utils.seed import seed_everything
    gcv = import_gluoncv()
    from gluoncv.data.batchify import FasterRCNNTrainBatchify
    from gluon_convattn.data.coco_detection import PaddedTrainTransform
    seed_everything(args.seed)
    ctx = gpu_context(args.gpus)
    if args.amp:
        check_float16_on_cpu('float16', ctx[0], '--amp (float16 training)',
                             'drop --amp or pass --gpus 0,...')
    kv, rank, num_workers, hvd = make_kvstore(args, ctx)
    if hvd is not None:
        ctx = [mx.gpu(hvd.local_rank())] if ctx[0].device_type == 'gpu' else ctx
    args.save_prefix += detector_name(args.network)
    log_dir = os.path.dirname(args.save_prefix)
    if log_dir:
        os.makedirs(log_dir, exist_ok=True)
    logger = setup_logger(args.save_prefix + '_train.log', rank)
    if args.amp:
        from mxnet.contrib import amp
        amp.init()
    train_dataset, val_dataset, eval_metric = load_datasets(
        args, eval_prefix=args.save_prefix + '_eval')
    net = build_network(args, train_dataset.classes, ctx, len(ctx))
    start_epoch, best_map, states, num_update = args.start_epoch, 0., None, 0
    if args.resume.strip():
        start_epoch, best_map, states, num_update = resume_state(args, net, logger)
    else:
        for param in net.collect_params().values():
            if param._data is not None:
                continue
            param.initialize()
    net.collect_params().reset_ctx(ctx)
    if args.amp:
        net.cast('float16')
        net.collect_params('.*batchnorm.*').setattr('dtype', 'float32')
        net.collect_params('.*normalizedperclassboxcenterencoder.*').setattr('dtype', 'float32')
    batch_size = args.batch_size // num_workers if hvd is not None else args.batch_size
    aspect = train_dataset.get_im_aspect_ratio() if hasattr(
        train_dataset, 'get_im_aspect_ratio') else [1.] * len(train_dataset)
    sampler = gcv.data.sampler.SplitSortedBucketSampler(
        aspect, batch_size, num_parts=num_workers,
        part_index=rank, shuffle=True)
    train_data = mx.gluon.data.DataLoader(
        train_dataset.transform(PaddedTrainTransform(net.short, net.max_size, net,
                                                     ashape=net.ashape, multi_stage=True)),
        batch_sampler=sampler, batchify_fn=FasterRCNNTrainBatchify(net, len(ctx)),
        num_workers=args.num_workers)
    val_data = val_loader(net, val_dataset, len(ctx), args.num_workers)
    train(net, train_data, val_data, eval_metric, batch_size, ctx, args, logger, kv, hvd,
          start_epoch, best_map, states, num_update)
    return 0


if __name__ == '__main__':
    cli.run_main(main)
