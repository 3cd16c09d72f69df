#!/usr/bin/env python
"""Train a registered model on the embedded digits set, CIFAR-10 or CIFAR-100.

Follows GluonCV's ``scripts/classification/cifar/train_cifar10.py`` (its flags, NAG, random
crop with 4 px padding, the ``TrainingHistory`` plot, ``[Epoch N] train=.. val=.. time: ..``
lines) on the training pieces shared with ``train_imagenet.py`` (``gluon_convattn.train``):
GluonCV's learning-rate schedules (``--lr-mode``, ``--warmup-epochs``), its
``Epoch[..] Batch [..] Speed: ..`` lines, ``--dtype``, atomic checkpoints and resuming.

Usage::

    python scripts/train_cifar.py                                    # ATAC ResNet-20 on digits
    python scripts/train_cifar.py --model cifar_resnet20_v2_atac --dataset digits \\
        --save-dir runs/digits                                        # what `make run` does
    python scripts/train_cifar.py --model cifar_resnet20_v2_atac --dataset cifar100 \\
        --num-gpus 1 --num-epochs 400 -j 32 --batch-size 128 --wd 0.0001 --lr 0.2 \\
        --lr-mode step --lr-decay 0.1 --lr-decay-epoch 300,350 --warmup-epochs 0 \\
        --act-type ChaATAC --useReLU --r 2                            # upstream's recipe
    python scripts/train_cifar.py --save-dir runs/digits --num-epochs 20 \\
        --resume-from runs/digits                                     # continue the latest

The defaults train ``cifar_resnet20_v2_atac`` on ``digits`` (scikit-learn's handwritten digits,
32x32, no download) to about 99 % validation accuracy in a few CPU minutes. Checkpoints are
GluonCV's ``<save-dir>/<dataset>-<model>-<epoch>.params`` with ``.states`` and ``.json``
beside them, and ``<err>-<dataset>-<model>-<epoch>-best.params``; the log and the error plot
go to the same folder. See docs/cifar.md.
"""
import argparse
import os
import re
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import matplotlib  # noqa: E402

matplotlib.use('Agg')

from gluon_convattn.data import DATASETS, get_dataset  # noqa: E402
from gluon_convattn.data.imagenet import LoaderSource  # noqa: E402
from gluon_convattn.train import (Recipe, Saver, build_lr_scheduler, check_dtype,  # noqa: E402
                                  cli, find_resume_point, fit, latest_checkpoint, make_context,
                                  prepare_network, read_checkpoint, restore)
from gluon_convattn.train.checkpoint import meta_path_for  # noqa: E402
from gluon_convattn.train.finetune import (add_finetune_args, plan_finetuning,  # noqa: E402
                                           start_finetuning)
from gluon_convattn.train.inputs import check_input_size  # noqa: E402
from gluon_convattn.utils.gluoncv_import import import_gluoncv  # noqa: E402
from gluon_convattn.train.labels import make_loss  # noqa: E402
from gluon_convattn.train.logs import setup_logger  # noqa: E402
from gluon_convattn.train.loop import seed_epoch  # noqa: E402
from gluon_convattn.train.optim import optimizer_params, optimizer_settings  # noqa: E402
from gluon_convattn.train.resume import check_epochs_left  # noqa: E402
from gluon_convattn.train.rundir import prepare_save_dir  # noqa: E402
from gluon_convattn.train.validate import check_script_args  # noqa: E402
from gluon_convattn.train.schedule import LR_MODES  # noqa: E402

IMAGE_SIZE = 32        # digits and CIFAR images; --input-size resizes them

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add('--model', default='cifar_resnet20_v2_atac', help='any registered model name')
    add('--dataset', default='digits', choices=sorted(DATASETS),
        help='digits (embedded, no download), cifar10 or cifar100')
    add('--data-dir', help="folder of the CIFAR binary files (Gluon's default: "
                           '~/.mxnet/datasets/cifar10 or cifar100)')
    add('--no-download', action='store_true', help='never download CIFAR; fail if it is absent')
    add('--input-size', type=int, default=IMAGE_SIZE,
        help='resize the 32x32 images to this size (networks that need larger inputs: SAN '
             'and ACmix-ResNet 128, Swin 224)')
    add('--cifar100-coarse', action='store_true',
        help="CIFAR-100 with the 20 coarse labels (what upstream ATAC trained on, through "
             "Gluon's default fine_label=False) instead of the 100 fine ones")
    add('--num-gpus', type=int, default=0, help='number of GPUs to use (0: CPU)')
    add('--batch-size', type=int, default=32, help='training batch size per device')
    add('-j', '--num-data-workers', dest='num_workers', type=int, default=0,
        help='data loading worker processes')
    add('--num-epochs', type=int, default=10, help='number of training epochs')
    add('--lr', type=float, default=0.1, help='learning rate after the warm-up')
    add('--lr-mode', default='cosine', choices=LR_MODES, help='learning-rate decay')
    add('--lr-decay', type=float, default=0.1, help='step mode: decay factor')
    add('--lr-decay-period', type=int, default=0,
        help='step mode: decay every this many epochs (0: use --lr-decay-epoch)')
    add('--lr-decay-epoch', default='40,60', help='step mode: epochs at which to decay')
    add('--warmup-epochs', type=int, default=1, help='linear warm-up epochs')
    add('--warmup-lr', type=float, default=0.0, help='learning rate at the start of warm-up')
    add('--wd', type=float, default=0.0001, help='weight decay')
    add('--momentum', type=float, default=0.9, help='momentum')
    add('--optimizer', default='nag', help='optimizer (GluonCV and upstream ATAC: nag)')
    add('--mode', default='hybrid', choices=('hybrid', 'imperative'),
        help='hybridize the network (faster) or run it imperatively')
    add('--dtype', default='float32', choices=('float32', 'float16'),
        help='training precision; float16 needs a GPU')
    add('--save-dir', default='runs', help='folder for checkpoints, the log and the plot')
    add('--save-period', type=int, default=10,
        help='save a checkpoint every this many epochs and after the last (0: none)')
    add('--resume-from', default='',
        help="a .params file to continue from (GluonCV's CIFAR flag; its .states and .json "
             'beside it are used), or a folder: continue from its latest complete checkpoint')
    add('--resume-params', default='', help="GluonCV's ImageNet flags: parameters, ...")
    add('--resume-states', default='', help='... trainer states ...')
    add('--resume-epoch', type=int, default=0, help='... and the first epoch to run')
    add('--overwrite', action='store_true',
        help="a fresh run deletes the checkpoints of this model and data set that another run "
             'left in --save-dir (without it, it refuses to start)')
    add('--save-plot-dir', help='folder for the training-history plot (default: --save-dir)')
    add('--logging-file', help='log file (default: <save-dir>/<dataset>-<model>.log)')
    add('--log-interval', type=int, default=20, help='log speed every this many batches')
    add('--seed', type=int, default=0,
        help='seed of the initial weights, data order and augmentation (epoch e uses seed+e)')
    add('--limit-train', type=int, help='use only the first N training images (smoke tests)')
    add('--limit-val', type=int, help='use only the first N validation images (smoke tests)')
    model = cli.add_constructor_args(parser)
    model.add_argument('--last-gamma', action='store_true',
                       help='zero-initialise the last BN gamma of every block (models that '
                            'take last_gamma)')
    add_finetune_args(parser)
    return parser.parse_args(argv)


def resume_from_file(args):
    """GluonCV's CIFAR ``--resume-from PARAMS``: turn it into ``--resume-params/-states/-epoch``
    (from the checkpoint's ``.json`` when there is one, else the file name and the ``.states``
    beside it)."""
    if not args.resume_from or os.path.isdir(os.path.expanduser(args.resume_from)):
        return args
    params = os.path.expanduser(args.resume_from)
    if not os.path.isfile(params):
        raise FileNotFoundError('--resume-from %s: no such file or folder' % params)
    ckpt = read_checkpoint(meta_path_for(params))
    if ckpt is not None and ckpt.params == params:
        epoch, states = ckpt.epoch, ckpt.states
    else:
        match = re.search(r'-(\d+)(-best)?\.params$', params)
        epoch = int(match.group(1)) if match else -1
        states = os.path.splitext(params)[0] + '.states'
        states = states if os.path.isfile(states) else ''
    args.resume_params, args.resume_states = params, states or ''
    args.resume_epoch = args.resume_epoch or epoch + 1
    args.resume_from = ''
    return args


def image_transform(dataset, train, input_size=IMAGE_SIZE):
    """GluonCV's CIFAR transforms; no flips for digits (a mirrored digit is another glyph).
    At another ``input_size`` the images are resized (bilinearly) first and the random crop's
    padding scales with them (4 px at 32)."""
    from mxnet.gluon.data.vision import transforms
    _, mean, std, flips = DATASETS[dataset]
    steps = [] if input_size == IMAGE_SIZE else [transforms.Resize(input_size)]
    if train:
        pad = max(1, int(round(4 * input_size / IMAGE_SIZE)))
        steps.append(import_gluoncv().data.transforms.RandomCrop(input_size, pad=pad))
        if flips:
            steps.append(transforms.RandomFlipLeftRight())
    steps += [transforms.ToTensor(), transforms.Normalize(list(mean), list(std))]
    return transforms.Compose(steps)


def data_sources(args, batch_size):
    sources = []
    for train, limit in ((True, args.limit_train), (False, args.limit_val)):
        dataset = get_dataset(args.dataset, train=train, root=args.data_dir,
                              download=not args.no_download,
                              fine_label=not args.cifar100_coarse)
        if limit:
            dataset = dataset.take(limit)
        sources.append(LoaderSource(
            dataset, batch_size, train, image_transform(args.dataset, train, args.input_size),
            args.num_workers,
            seed=args.seed, name='%s %s split' % (args.dataset,
                                                  'training' if train else 'validation')))
    if len(sources[0]) == 0:
        raise ValueError('the training set (%d images) is smaller than one batch (%d)'
                         % (sources[0].num_samples, batch_size))
    return sources


class Run(object):
    """A training run whose arguments, data and network are checked before the first batch."""

    def __init__(self, args):
        self.args = check_script_args(args)
        self.ctx = make_context(args.num_gpus)
        check_dtype(self.ctx, args.dtype)
        check_input_size(args.model, args.input_size,
                         " (the %dx%d %s images are resized to it)"
                         % (IMAGE_SIZE, IMAGE_SIZE, args.dataset))
        self.classes = DATASETS[args.dataset][0]
        self.tag = '%s-%s' % (args.dataset, args.model)
        self.point = find_resume_point(resume_from_file(args), self.tag)
        check_epochs_left(self.point, args.num_epochs)
        prepare_save_dir(args.save_dir if args.save_period else '', self.tag, self.point,
                         args.overwrite)
        seed_epoch(args.seed, 0)        # the initial weights depend on --seed only
        self.net, self.kwargs = cli.create_network(args, self.classes, args.last_gamma)
        self.pretrained = plan_finetuning(args, self.net, self.classes, args.input_size,
                                          self.kwargs)
        self.batch_size = args.batch_size * len(self.ctx)
        self.train_data, self.val_data = data_sources(args, self.batch_size)
        self.plot_dir = args.save_plot_dir or args.save_dir
        self.log_file = args.logging_file or os.path.join(args.save_dir, self.tag + '.log')
        for folder in {args.save_dir, self.plot_dir, os.path.dirname(self.log_file) or '.'}:
            os.makedirs(folder, exist_ok=True)

    def execute(self):
        """Train and report; returns a dict: val_acc, best_val_acc, seconds, params, log, plot."""
        args, net, ctx = self.args, self.net, self.ctx
        logger = setup_logger(self.log_file)
        logger.info(args)
        logger.info('Model %s %s, %d training / %d validation images, context %s', args.model,
                    self.kwargs, self.train_data.num_samples, self.val_data.num_samples, ctx)
        point = self.point
        prepare_network(net, ctx, args.dtype, args.input_size, point.params if point else None)
        start_finetuning(self.pretrained, net, args.lr_mult_backbone, point is not None, logger)
        batches = len(self.train_data)
        scheduler = build_lr_scheduler(args.lr, args.lr_mode, args.num_epochs, batches,
                                       args.warmup_epochs, args.warmup_lr, args.lr_decay,
                                       args.lr_decay_epoch, args.lr_decay_period)
        from mxnet import gluon
        trainer = gluon.Trainer(net.collect_params(), args.optimizer, optimizer_params(
            args.optimizer, scheduler, args.wd, args.momentum, args.dtype))
        if point is not None:
            restore(point, trainer, scheduler, batches, optimizer_settings(args))
        if args.mode == 'hybrid':
            net.hybridize(static_alloc=True, static_shape=True)
        recipe = Recipe(self.classes, args.dtype, log_interval=args.log_interval)
        saver = Saver(args.save_dir if args.save_period else '', self.tag, args.save_period,
                      dict(model=args.model, dataset=args.dataset, classes=self.classes,
                           dtype=args.dtype, input_size=args.input_size, model_kwargs=self.kwargs,
                           batches_per_epoch=batches,
                           optimizer_settings=optimizer_settings(args)))
        loss_fn = make_loss(sparse_label=True)
        history = import_gluoncv().utils.TrainingHistory(['training-error', 'validation-error'])
        plot = os.path.join(self.plot_dir, self.tag + '_history.png')
        val_acc = None

        def report(r):
            # GluonCV's train_cifar10.py log lines; its time includes the validation
            nonlocal val_acc
            history.update([1 - r.value, 1 - r.top1])
            history.plot(save_path=plot)
            logger.info('[Epoch %d] train=%f val=%f time: %f'
                        % (r.epoch, r.value, r.top1, time.time() - r.started))
            logger.info('[Epoch %d] speed: %d samples/sec' % (r.epoch, int(r.speed)))
            val_acc = r.top1

        start = time.time()
        best_err = fit(net, trainer, self.train_data, self.val_data, ctx, recipe, loss_fn,
                       point.epoch if point else 0, args.num_epochs, batches, self.batch_size,
                       saver, point.best_err if point else 1.0, args.seed, logger=logger,
                       report=report)
        took = time.time() - start
        last = latest_checkpoint(args.save_dir, self.tag) if saver.enabled else None
        params = last.params if last is not None else '(not saved: --save-period 0)'
        logger.info('Final validation accuracy: %.4f (best %.4f)' % (val_acc, 1 - best_err))
        logger.info('Training took %.1f s (%.1f min)' % (took, took / 60))
        logger.info('Parameters: %s' % params)
        logger.info('Log: %s' % self.log_file)
        logger.info('Plot: %s' % plot)
        return {'val_acc': val_acc, 'best_val_acc': 1 - best_err, 'seconds': took,
                'params': params, 'log': self.log_file, 'plot': plot}


def start(argv=None):
    """Parse and check the arguments, the data and the model; raises ValueError or
    FileNotFoundError (with the fix) before anything is trained."""
    args = parse_args(argv)
    with cli.flag_errors(args):
        return Run(args)


def main(argv=None):
    """Train as the command line says; returns the summary of :meth:`Run.execute`."""
    run = start(argv)
    with cli.flag_errors(run.args):
        return run.execute()


if __name__ == '__main__':
    cli.run_main(main)
