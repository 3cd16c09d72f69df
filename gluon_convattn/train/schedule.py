"""GluonCV's learning-rate schedule (linear warm-up, then step, cosine, poly or linear decay),
and putting an optimizer at a given position of it when training resumes."""
from ..utils.checks import check_choice
from ..utils.gluoncv_import import import_gluoncv

__all__ = ['LR_MODES', 'decay_epochs', 'build_lr_scheduler', 'set_update_count']

LR_MODES = ('step', 'cosine', 'poly', 'linear')


def decay_epochs(num_epochs, warmup_epochs, lr_decay_epoch='40,60', lr_decay_period=0):
    """Step-decay epochs counted from the end of the warm-up (as GluonCV counts them)."""
    if lr_decay_period > 0:
        epochs = list(range(lr_decay_period, num_epochs, lr_decay_period))
    else:
        try:
            epochs = [int(e) for e in str(lr_decay_epoch).split(',') if e.strip()]
        except ValueError:
            raise ValueError('lr_decay_epoch must be comma-separated integers such as '
                             '"30,60,90", got %r' % (lr_decay_epoch,)) from None
    return [e - warmup_epochs for e in epochs]


def build_lr_scheduler(lr, lr_mode, num_epochs, batches_per_epoch, warmup_epochs=0,
                       warmup_lr=0.0, lr_decay=0.1, lr_decay_epoch='40,60', lr_decay_period=0,
                       power=2):
    """The schedule of GluonCV's ``train_imagenet.py`` as a ``gluoncv.utils.LRSequential``.

    Parameters
    ----------
    lr : float
        Learning rate at the end of the warm-up.
    lr_mode : str
        'step', 'cosine', 'poly' or 'linear' decay after the warm-up (to 0).
    num_epochs, batches_per_epoch : int
        The schedule's length: it is evaluated at every update.
    warmup_epochs : int
        Linear warm-up from ``warmup_lr`` to ``lr``.
    lr_decay, lr_decay_epoch, lr_decay_period : step mode's factor and epochs.
    power : float
        Exponent of 'poly'.
    """
    check_choice(lr_mode, LR_MODES, 'lr_mode')
    if batches_per_epoch < 1:
        raise ValueError('batches_per_epoch must be >= 1, got %d: the training samples are '
                         'fewer than the batch size of all devices and workers together'
                         % batches_per_epoch)
    if not 0 <= warmup_epochs <= num_epochs:
        raise ValueError('warmup_epochs must be between 0 and num_epochs (%d), got %d'
                         % (num_epochs, warmup_epochs))
    utils = import_gluoncv().utils
    return utils.LRSequential([
        utils.LRScheduler('linear', base_lr=warmup_lr, target_lr=lr, nepochs=warmup_epochs,
                          iters_per_epoch=batches_per_epoch),
        utils.LRScheduler(lr_mode, base_lr=lr, target_lr=0,
                          nepochs=num_epochs - warmup_epochs, iters_per_epoch=batches_per_epoch,
                          step_epoch=decay_epochs(num_epochs, warmup_epochs, lr_decay_epoch,
                                                  lr_decay_period),
                          step_factor=lr_decay, power=power)])


def set_update_count(optimizer, num_update):
    """Put ``optimizer`` after ``num_update`` updates of every parameter.

    The learning-rate scheduler reads ``optimizer.num_update``; Adam-style bias corrections
    read the per-parameter counts. Counts loaded with trainer states are overwritten, and
    parameters not seen yet start from ``num_update``.
    """
    optimizer.begin_num_update = num_update
    optimizer.num_update = num_update
    for counts in optimizer._all_index_update_counts.values():
        for index in counts:
            counts[index] = num_update
