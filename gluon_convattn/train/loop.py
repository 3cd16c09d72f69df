"""The epoch loop of GluonCV's classification scripts, shared by ``train_imagenet.py`` and
``train_cifar.py``: mixup, label smoothing, distillation, GluonCV's log lines, validation top-1
and top-5, checkpoints after epochs, and seeds per epoch so that a resumed run repeats what an
uninterrupted one would have done."""
import logging
import time
from collections import namedtuple

import mxnet as mx
from mxnet import autograd, gluon

from ..data.recordio import check_labels
from ..utils.seed import seed_everything
from . import labels as lbl
from .checkpoint import copy_checkpoint, save_checkpoint

__all__ = ['Recipe', 'Saver', 'seed_epoch', 'split_batch', 'validation_metrics', 'evaluate',
           'train_epoch', 'fit', 'EpochResult', 'imagenet_report']

_LOG = logging.getLogger(__name__)


class Recipe(object):
    """What one training step does besides forward, backward and update.

    Parameters
    ----------
    classes : int
    dtype : str
        'float32' or 'float16' (inputs are cast to it).
    label_smoothing : bool
        Targets smoothed with eta 0.1.
    mixup : bool
        Mix each batch with its reverse, ``lam ~ Beta(mixup_alpha, mixup_alpha)``, except in
        the last ``mixup_off_epoch`` epochs.
    teacher : Block or None
        Distillation teacher; ``temperature`` softens its outputs.
    log_interval : int
        Log speed, training metric and learning rate every this many batches (0: never).
    """

    def __init__(self, classes, dtype='float32', label_smoothing=False, mixup=False,
                 mixup_alpha=0.2, mixup_off_epoch=0, num_epochs=1, teacher=None,
                 temperature=20.0, log_interval=50):
        self.classes, self.dtype = classes, dtype
        self.label_smoothing, self.mixup = label_smoothing, mixup
        self.mixup_alpha, self.mixup_off_epoch = mixup_alpha, mixup_off_epoch
        self.num_epochs, self.teacher, self.temperature = num_epochs, teacher, temperature
        self.log_interval = log_interval

    @property
    def sparse_label(self):
        return not (self.label_smoothing or self.mixup)

    def train_metric(self):
        """RMSE of softmax against mixed targets under mixup, accuracy otherwise (GluonCV)."""
        return mx.metric.RMSE() if self.mixup else mx.metric.Accuracy()


class Saver(object):
    """Writes GluonCV-named checkpoints (``<tag>-<epoch>`` every ``frequency`` epochs and at
    the end, ``<err>-<tag>-<epoch>-best`` when validation improves), atomically, with the
    metadata resuming needs. ``enabled=False`` (workers other than 0, or no ``save_dir``)
    writes nothing."""

    def __init__(self, save_dir, tag, frequency, meta, enabled=True):
        self.save_dir, self.tag, self.frequency = save_dir, tag, frequency
        self.meta, self.enabled = dict(meta, tag=tag), enabled and bool(save_dir)

    def _meta(self, epoch, num_update, best_err):
        return dict(self.meta, epoch=epoch, num_update=num_update, best_val_err=best_err)

    def save(self, name, epoch, net, trainer, num_update, best_err):
        if not self.enabled:
            return None
        states = trainer if _trainer_states_savable(trainer) else None
        return save_checkpoint(self.save_dir, name, net, states,
                               self._meta(epoch, num_update, best_err))

    def after_epoch(self, epoch, num_epochs, net, trainer, num_update, err, best_err):
        """Save what GluonCV saves after ``epoch``; return the (possibly new) best error."""
        if not self.enabled:
            return min(err, best_err)
        improved = err < best_err
        best_err = min(err, best_err)
        regular = None
        if self.frequency and ((epoch + 1) % self.frequency == 0 or epoch == num_epochs - 1):
            regular = self.save('%s-%d' % (self.tag, epoch), epoch, net, trainer, num_update,
                                best_err)
        if improved:
            name = '%.4f-%s-%d-best' % (best_err, self.tag, epoch)
            if regular is not None:
                copy_checkpoint(regular, name, self._meta(epoch, num_update, best_err))
            else:
                self.save(name, epoch, net, trainer, num_update, best_err)
        return best_err


def _trainer_states_savable(trainer):
    kv = trainer._kvstore
    return not (trainer._update_on_kvstore and kv is not None and 'dist' in kv.type)


def seed_epoch(seed, epoch):
    """Seed Python's, NumPy's and MXNet's generators for ``epoch`` (mixup, dropout, loader
    augmentation)."""
    seed_everything(seed + epoch)


def split_batch(batch, ctx, valid=None):
    """Split a batch's first ``valid`` samples over the devices ``ctx``."""
    data, label = batch.data, batch.label
    if valid is not None and valid < data.shape[0]:
        data, label = data[:valid], label[:valid]
    ctx = ctx[:data.shape[0]]            # a short last batch may not reach every device
    return (gluon.utils.split_and_load(data, ctx, batch_axis=0, even_split=False),
            gluon.utils.split_and_load(label, ctx, batch_axis=0, even_split=False))


def _limited(source, epoch, limit):
    for i, batch in enumerate(source.batches(epoch)):
        if limit is not None and i >= limit:
            return
        yield batch


def _exactly(source, epoch, count):
    """``count`` batches of ``source``; when the data runs out first it starts again, so
    every distributed worker makes the same number of updates."""
    done = 0
    while done < count:
        before = done
        for batch in _limited(source, epoch, count - done):
            done += 1
            yield batch
        if done == before:
            raise ValueError('%s yields no complete batch; it holds fewer samples than one '
                             'batch' % getattr(source, 'name', 'the training data'))
        if done < count:
            _LOG.warning('%s ran out after %d batches of the %d of an epoch; continuing from '
                         'its start (set --num-training-samples to the data\'s size)',
                         getattr(source, 'name', 'the training data'), done - before, count)


def validation_metrics(classes):
    """GluonCV's validation metrics: ``mx.metric.Accuracy`` and ``mx.metric.TopKAccuracy`` with
    k = min(5, classes) (a top-5 of fewer than 5 classes is top-``classes``; with one class
    both are plain accuracy)."""
    top_k = min(5, classes)
    return mx.metric.Accuracy(), (mx.metric.TopKAccuracy(top_k) if top_k > 1
                                  else mx.metric.Accuracy())


def evaluate(net, source, ctx, dtype='float32', classes=None, max_batches=None):
    """Top-1 and top-5 accuracy of ``net`` over ``source`` (padding samples not counted), with
    MXNet's metrics (:func:`validation_metrics`).

    Returns ``(top1, top5, samples)``; top-5 is top-``classes`` when there are fewer than 5.
    """
    acc_top1 = acc_top5 = None
    for batch in _limited(source, 0, max_batches):
        if classes is not None:
            check_labels(batch.label[:batch.valid].asnumpy(), classes, source.name)
        data, label = split_batch(batch, ctx, batch.valid)
        for x, y in zip(data, label):
            scores = net(x.astype(dtype, copy=False)).astype('float32', copy=False)
            if acc_top1 is None:
                acc_top1, acc_top5 = validation_metrics(scores.shape[1])
            acc_top1.update([y], [scores])
            acc_top5.update([y], [scores])
    if acc_top1 is None or acc_top1.num_inst == 0:
        raise ValueError('%s yielded no samples to evaluate' % source.name)
    return acc_top1.get()[1], acc_top5.get()[1], acc_top1.num_inst


def _targets(recipe, data, label, epoch):
    """Inputs and targets of one step, and the labels the training metric compares with."""
    if recipe.mixup:
        lam = lbl.mixup_lambda(recipe.mixup_alpha, epoch, recipe.num_epochs,
                               recipe.mixup_off_epoch)
        eta = lbl.SMOOTHING_ETA if recipe.label_smoothing else 0.0
        targets = lbl.mixup_transform(label, recipe.classes, lam, eta)
        return lbl.mixup_data(data, lam), targets, targets
    if recipe.label_smoothing:
        return data, lbl.smooth(label, recipe.classes), label
    return data, label, label


def train_epoch(net, trainer, source, ctx, recipe, loss_fn, epoch, num_batches, step_size,
                logger=_LOG):
    """One epoch of ``num_batches`` updates; returns ``(metric name, value, samples/sec)``.

    ``step_size`` normalises the summed gradient: samples per update over all workers.
    """
    metric = recipe.train_metric()
    tic = btic = time.time()
    samples = 0
    for i, batch in enumerate(_exactly(source, epoch, num_batches)):
        check_labels(batch.label.asnumpy(), recipe.classes, source.name)
        data, label = split_batch(batch, ctx)
        data, targets, metric_labels = _targets(recipe, data, label, epoch)
        if recipe.teacher is not None:
            soft = lbl.teacher_probabilities(recipe.teacher, data, recipe.dtype,
                                             recipe.temperature)
        with autograd.record():
            outputs = [net(x.astype(recipe.dtype, copy=False)) for x in data]
            if recipe.teacher is not None:
                losses = [loss_fn(o.astype('float32', copy=False),
                                  t.astype('float32', copy=False),
                                  p.astype('float32', copy=False))
                          for o, t, p in zip(outputs, targets, soft)]
            else:
                losses = [loss_fn(o, t.astype(recipe.dtype, copy=False))
                          for o, t in zip(outputs, targets)]
        autograd.backward(losses)
        trainer.step(step_size)
        samples += batch.data.shape[0]
        if recipe.mixup:
            metric.update(metric_labels, [mx.nd.softmax(o.astype('float32', copy=False))
                                          for o in outputs])
        else:
            metric.update(metric_labels, outputs)
        # GluonCV 0.10's numbering: batch i (0-based) after every log_interval batches, so
        # 49, 99, ... for interval 50, and no line for a last partial interval
        if recipe.log_interval and (i + 1) % recipe.log_interval == 0:
            name, value = metric.get()
            logger.info('Epoch[%d] Batch [%d]\tSpeed: %f samples/sec\t%s=%f\tlr=%f' % (
                epoch, i, batch.data.shape[0] * recipe.log_interval
                / max(time.time() - btic, 1e-9), name, value, trainer.learning_rate))
            btic = time.time()
    name, value = metric.get()
    return name, value, samples / max(time.time() - tic, 1e-9)


EpochResult = namedtuple('EpochResult', ['epoch', 'metric', 'value', 'speed', 'train_time',
                                         'started', 'top1', 'top5'])
EpochResult.__doc__ = """What one epoch of :func:`fit` measured: the training metric's name and
value, samples/sec, the training time (s), the epoch's start (``time.time()``) and validation
top-1/top-5 accuracy."""


def imagenet_report(logger=_LOG):
    """The per-epoch log lines of GluonCV's ``train_imagenet.py`` (:func:`fit`'s default)."""
    def report(r):
        logger.info('[Epoch %d] training: %s=%f' % (r.epoch, r.metric, r.value))
        logger.info('[Epoch %d] speed: %d samples/sec\ttime cost: %f'
                    % (r.epoch, int(r.speed), r.train_time))
        logger.info('[Epoch %d] validation: err-top1=%f err-top5=%f'
                    % (r.epoch, 1 - r.top1, 1 - r.top5))
    return report


def fit(net, trainer, train_source, val_source, ctx, recipe, loss_fn, start_epoch, num_epochs,
        batches_per_epoch, step_size, saver, best_err=1.0, seed=0, max_val_batches=None,
        logger=_LOG, report=None):
    """Train from ``start_epoch`` to ``num_epochs``, validating and checkpointing after each
    epoch; returns the best validation top-1 error. ``report(EpochResult)`` runs after each
    validation (GluonCV's ImageNet log lines when None)."""
    report = report or imagenet_report(logger)
    start = time.time()
    for epoch in range(start_epoch, num_epochs):
        tic = time.time()
        seed_epoch(seed, epoch)
        name, value, speed = train_epoch(net, trainer, train_source, ctx, recipe, loss_fn,
                                         epoch, batches_per_epoch, step_size, logger)
        epoch_time = time.time() - tic
        top1, top5, _ = evaluate(net, val_source, ctx, recipe.dtype, recipe.classes,
                                 max_val_batches)
        report(EpochResult(epoch, name, value, speed, epoch_time, tic, top1, top5))
        best_err = saver.after_epoch(epoch, num_epochs, net, trainer,
                                     (epoch + 1) * batches_per_epoch, 1 - top1, best_err)
    logger.info('Training time for %d epochs: %f sec.'
                % (num_epochs - start_epoch, time.time() - start))
    return best_err
