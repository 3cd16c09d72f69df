"""Train any registered model on ImageNet (or Tiny ImageNet) with GluonCV's recipe.

GluonCV's ``scripts/classification/imagenet/train_imagenet.py`` flags, defaults and log lines,
for every model of ``gluon_convattn.model_zoo``; in addition: ``--optimizer``, ``--kvstore``
(several machines), ``--resume-from DIR``, ``--seed``, ``--dataset tiny-imagenet``, the families'
model options and ``--max-batches``. See docs/imagenet.md for the recipes of each family.

Example (the ATAC paper's ResNet-50 run)::

    python scripts/train_imagenet.py --model resnet50_v1b_atac --mode hybrid --lr 0.075 \\
        --lr-mode cosine --num-epochs 160 --batch-size 128 --num-gpus 2 -j 48 \\
        --warmup-epochs 5 --dtype float16 --use-rec --last-gamma --no-wd --label-smoothing \\
        --r 2 --act-layers 2 --save-dir params_resnet50_v1b_atac
"""
import argparse
import os
from types import SimpleNamespace

from gluon_convattn.model_zoo import get_model, get_model_info
from gluon_convattn.train import cli, inputs
from gluon_convattn.train.checkpoint import find_checkpoints
from gluon_convattn.train.context import KVSTORES, check_dtype, setup_distribution
from gluon_convattn.train.finetune import add_finetune_args, plan_finetuning, start_finetuning
from gluon_convattn.train.labels import make_loss
from gluon_convattn.train.logs import setup_logger
from gluon_convattn.train.loop import Recipe, Saver, fit, seed_epoch
from gluon_convattn.train.network import prepare_network
from gluon_convattn.train.optim import (exclude_from_weight_decay, optimizer_params,
                                        optimizer_settings)
from gluon_convattn.train.resume import check_epochs_left, find_resume_point, restore
from gluon_convattn.train.rundir import prepare_save_dir
from gluon_convattn.train.validate import check_script_args
from gluon_convattn.train.schedule import LR_MODES, build_lr_scheduler


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model for image classification.')
    cli.add_model_args(parser)
    add_finetune_args(parser)
    data = cli.add_data_args(parser, train=True)
    data.add_argument('--num-training-samples', type=int, default=None,
                      help='training samples per epoch for the schedule; default: the number '
                           'of images in the training data (GluonCV: 1281167).')
    data.add_argument('--jitter-param', type=float, default=0.4,
                      help='brightness/contrast/saturation jitter (GluonCV 0.4; 0 disables).')
    data.add_argument('--lighting-param', type=float, default=0.1,
                      help='PCA lighting noise (GluonCV 0.1; 0 disables).')
    data.add_argument('--min-random-area', type=float, default=0.08,
                      help='smallest area of the random resized crop (GluonCV 0.08; larger '
                           'keeps more of small images, e.g. when fine-tuning on 32 px ones).')
    opt = parser.add_argument_group('optimization')
    opt.add_argument('--num-epochs', type=int, default=3, help='number of training epochs.')
    opt.add_argument('--optimizer', type=str, default='nag',
                     help='optimizer: nag (GluonCV) or sgd (momentum SGD), or any MXNet one.')
    opt.add_argument('--lr', type=float, default=0.1, help='learning rate. default is 0.1.')
    opt.add_argument('--momentum', type=float, default=0.9,
                     help='momentum value for optimizer, default is 0.9.')
    opt.add_argument('--wd', type=float, default=0.0001,
                     help='weight decay rate. default is 0.0001.')
    opt.add_argument('--lr-mode', type=str, default='step', choices=LR_MODES,
                     help='learning rate scheduler mode. options are step, poly and cosine.')
    opt.add_argument('--lr-decay', type=float, default=0.1,
                     help='decay rate of learning rate. default is 0.1.')
    opt.add_argument('--lr-decay-period', type=int, default=0,
                     help='interval for periodic learning rate decays. default is 0 to '
                          'disable.')
    opt.add_argument('--lr-decay-epoch', type=str, default='40,60',
                     help='epochs at which learning rate decays. default is 40,60.')
    opt.add_argument('--warmup-lr', type=float, default=0.0,
                     help='starting warmup learning rate. default is 0.0.')
    opt.add_argument('--warmup-epochs', type=int, default=0, help='number of warmup epochs.')
    opt.add_argument('--last-gamma', action='store_true',
                     help='whether to init gamma of the last BN layer in each bottleneck to 0 '
                          '(models that take last_gamma).')
    opt.add_argument('--mixup', action='store_true',
                     help='whether train the model with mix-up. default is false.')
    opt.add_argument('--mixup-alpha', type=float, default=0.2,
                     help='beta distribution parameter for mixup sampling, default is 0.2.')
    opt.add_argument('--mixup-off-epoch', type=int, default=0,
                     help='how many last epochs to train without mixup, default is 0.')
    opt.add_argument('--label-smoothing', action='store_true',
                     help='use label smoothing or not in training. default is false.')
    opt.add_argument('--no-wd', action='store_true',
                     help='whether to remove weight decay on bias, and beta/gamma for '
                          'batchnorm layers.')
    opt.add_argument('--teacher', type=str, default=None,
                     help='teacher model for distillation training (pretrained weights).')
    opt.add_argument('--teacher-params', type=str, default=None,
                     help='parameter file of the teacher (default: its pretrained weights).')
    opt.add_argument('--temperature', type=float, default=20,
                     help='temperature parameter for distillation teacher model')
    opt.add_argument('--hard-weight', type=float, default=0.5,
                     help='weight for the loss of one-hot label for distillation training')
    opt.add_argument('--seed', type=int, default=0,
                     help='seed of the initial weights, data order, augmentation and mixup '
                          '(epoch e uses seed+e).')
    run = parser.add_argument_group('checkpoints, logging, machines')
    run.add_argument('--save-frequency', type=int, default=10,
                     help='frequency of model saving.')
    run.add_argument('--save-dir', type=str, default='params',
                     help='directory of saved models')
    run.add_argument('--resume-epoch', type=int, default=0,
                     help='epoch to resume training from.')
    run.add_argument('--resume-params', type=str, default='',
                     help='path of parameters to load from.')
    run.add_argument('--resume-states', type=str, default='',
                     help='path of trainer state to load from.')
    run.add_argument('--resume-from', type=str, default='',
                     help='folder of checkpoints: resume from the latest complete one (start '
                          'from scratch when it has none yet).')
    run.add_argument('--log-interval', type=int, default=50,
                     help='Number of batches to wait before logging.')
    run.add_argument('--logging-file', type=str, default='train_imagenet.log',
                     help='name of training log file')
    run.add_argument('--kvstore', type=str, default='device', choices=KVSTORES,
                     help='device/local (one machine), dist_sync/dist_device_sync/dist_async '
                          '(MXNet parameter servers, see docs/imagenet.md) or horovod.')
    run.add_argument('--overwrite', action='store_true',
                     help='a fresh run deletes the checkpoints of this model and data set that '
                          'another run left in --save-dir (without it, it refuses to start).')
    return parser.parse_args(argv)


def _check_args(args):
    check_script_args(args)
    if args.mode not in (None, 'hybrid', 'imperative'):
        raise ValueError('--mode must be hybrid or imperative, got %r' % args.mode)


def _batches_per_epoch(args, train_data, global_batch):
    """Updates per epoch: the training samples (all workers' data) over the global batch,
    at most ``--max-batches``."""
    num_samples = args.num_training_samples or train_data.total_samples
    batches = num_samples // global_batch
    if batches < 1:
        raise ValueError('an epoch of %d training samples holds no complete batch of %d (--batch-'
                         'size x devices x workers); lower --batch-size or use more data'
                         % (num_samples, global_batch))
    if args.max_batches:
        batches = min(batches, args.max_batches)
    return batches


def _teacher(args, classes, ctx):
    if args.teacher is None or args.hard_weight >= 1.0:
        return None
    pretrained = os.path.expanduser(args.teacher_params) if args.teacher_params else True
    teacher = get_model(args.teacher, pretrained=pretrained, classes=classes, ctx=ctx)
    teacher.cast(args.dtype)
    if args.mode == 'hybrid':
        teacher.hybridize(static_alloc=True, static_shape=True)
    return teacher


def main(argv=None):
    """Train as the flags say; returns a namespace with ``net``, ``best_err``, ``args`` and
    ``checkpoints`` (the complete checkpoints in ``--save-dir``)."""
    args = parse_args(argv)
    with cli.flag_errors(args):
        return _train(args)


def _train(args):
    _check_args(args)
    dist, ctx = setup_distribution(args.kvstore, args.num_gpus)
    logger = setup_logger(args.logging_file, dist.rank)
    logger.info(args)
    logger.info(dist)
    check_dtype(ctx, args.dtype)
    info = get_model_info(args.model)
    classes = inputs.default_classes(args)
    input_size = inputs.default_input_size(args, info)
    inputs.check_input_size(args.model, input_size)
    batch_size = args.batch_size * len(ctx)
    aug = inputs.augmentation(args, input_size)
    train_data = inputs.train_source(args, batch_size, classes, aug, dist.num_workers,
                                     dist.rank, args.seed)
    val_data = inputs.val_source(args, batch_size, classes, aug)

    batches_per_epoch = _batches_per_epoch(args, train_data, batch_size * dist.num_workers)
    lr_scheduler = build_lr_scheduler(
        args.lr, args.lr_mode, args.num_epochs, batches_per_epoch, args.warmup_epochs,
        args.warmup_lr, args.lr_decay, args.lr_decay_epoch, args.lr_decay_period)

    tag = '%s-%s' % (args.dataset, args.model)
    point = find_resume_point(args, tag)
    check_epochs_left(point, args.num_epochs)
    prepare_save_dir(args.save_dir if args.save_frequency else '', tag, point, args.overwrite,
                     writes=dist.is_main)
    seed_epoch(args.seed, 0)        # the initial weights depend on --seed only
    net, kwargs = cli.create_network(args, classes, last_gamma=args.last_gamma)
    pretrained = plan_finetuning(args, net, classes, input_size, kwargs)
    prepare_network(net, ctx, args.dtype, input_size, point.params if point else None)
    start_finetuning(pretrained, net, args.lr_mult_backbone, point is not None, logger)
    if args.no_wd:
        exclude_from_weight_decay(net)
    trainer = dist.make_trainer(net.collect_params(), args.optimizer, optimizer_params(
        args.optimizer, lr_scheduler, args.wd, args.momentum, args.dtype))
    if point is not None:
        restore(point, trainer, lr_scheduler, batches_per_epoch, optimizer_settings(args))
    dist.broadcast_parameters(net.collect_params(), trainer)
    if args.mode == 'hybrid':
        net.hybridize(static_alloc=True, static_shape=True)

    teacher = _teacher(args, classes, ctx)
    recipe = Recipe(classes, args.dtype, args.label_smoothing, args.mixup, args.mixup_alpha,
                    args.mixup_off_epoch, args.num_epochs, teacher, args.temperature,
                    args.log_interval)
    loss_fn = make_loss(recipe.sparse_label, teacher is not None, args.temperature,
                        args.hard_weight)
    saver = Saver(args.save_dir if args.save_frequency else '', tag, args.save_frequency,
                  dict(model=args.model, dataset=args.dataset, classes=classes,
                       dtype=args.dtype, input_size=input_size, model_kwargs=kwargs,
                       batches_per_epoch=batches_per_epoch,
                       optimizer_settings=optimizer_settings(args)), enabled=dist.is_main)
    best_err = fit(net, trainer, train_data, val_data, ctx, recipe, loss_fn,
                   point.epoch if point else 0, args.num_epochs, batches_per_epoch,
                   batch_size * dist.num_workers, saver,
                   best_err=point.best_err if point else 1.0, seed=args.seed,
                   max_val_batches=args.max_batches, logger=logger)
    checkpoints = find_checkpoints(args.save_dir, tag) if saver.enabled else []
    return SimpleNamespace(net=net, best_err=best_err, args=args, checkpoints=checkpoints,
                           trainer=trainer, rank=dist.rank, pretrained=pretrained)


if __name__ == '__main__':
    cli.run_main(main)
