"""Checks of the training and evaluation scripts' numeric flags, made once before anything is
read or built: every flag that would otherwise train on NaN, divide by zero or be replaced by a
default without a word is refused with a message naming it and what works."""
import math

from .cli import flag as _flag

__all__ = ['check_script_args']

# flag attribute -> (lowest, highest, lowest allowed, highest allowed, what works); a flag the
# script does not have (or left at None) is not checked
_RANGES = {
    'lr': (0.0, math.inf, False, False, 'a positive learning rate, e.g. 0.1'),
    'wd': (0.0, math.inf, True, False, 'a weight decay >= 0, e.g. 0.0001'),
    'momentum': (0.0, 1.0, True, False, 'a momentum in [0, 1), e.g. 0.9'),
    'warmup_lr': (0.0, math.inf, True, False, 'a warm-up learning rate >= 0'),
    'lr_decay': (0.0, math.inf, False, False, 'a positive decay factor, e.g. 0.1'),
    'crop_ratio': (0.0, 1.0, False, True, 'a crop ratio in (0, 1], e.g. 0.875'),
    'mixup_alpha': (0.0, math.inf, False, False, 'a positive Beta parameter, e.g. 0.2'),
    'temperature': (0.0, math.inf, False, False, 'a positive temperature, e.g. 20'),
    'hard_weight': (0.0, 1.0, True, True, 'a weight in [0, 1], e.g. 0.5'),
    'jitter_param': (0.0, math.inf, True, False, 'a jitter >= 0 (0 disables), e.g. 0.4'),
    'lighting_param': (0.0, math.inf, True, False, 'a lighting noise >= 0, e.g. 0.1'),
}
# flag attribute -> smallest value
_INTS = {'classes': 1, 'batch_size': 1, 'num_epochs': 1, 'num_workers': 0,
         'num_training_samples': 1, 'input_size': 1, 'max_batches': 1, 'resume_epoch': 0,
         'warmup_epochs': 0, 'log_interval': 0, 'save_frequency': 0, 'save_period': 0,
         'num_gpus': 0, 'limit_train': 1, 'limit_val': 1, 'mixup_off_epoch': 0,
         'lr_decay_period': 0}


def _check_range(args, name):
    value = getattr(args, name, None)
    if value is None:
        return
    low, high, low_ok, high_ok, works = _RANGES[name]
    fits = (math.isfinite(value) and (value > low or (low_ok and value == low))
            and (value < high or (high_ok and value == high)))
    if not fits:
        raise ValueError('%s must be %s, got %r' % (_flag(name), works, value))


def _check_rgb(args):
    for name, positive in (('rgb_mean', False), ('rgb_std', True)):
        values = getattr(args, name, None)
        if values is None:
            continue
        if len(values) != 3 or not all(math.isfinite(v) and (v > 0 or not positive)
                                       for v in values):
            raise ValueError('%s takes three comma-separated %snumbers (R,G,B on the 0-255 '
                             'scale), got %s' % (_flag(name), 'positive ' if positive else '',
                                                 ','.join('%g' % v for v in values)))


def check_script_args(args):
    """Raise ValueError naming the first flag of ``args`` that is out of range.

    Covers the learning rate, weight decay, momentum, crop ratio, RGB mean and standard deviation,
    the integer counts (batch size, epochs, workers, samples, input size...) and
    ``--resume-epoch`` at or past ``--num-epochs``. Flags a script does not have are skipped.
    """
    for name, minimum in _INTS.items():
        value = getattr(args, name, None)
        if value is not None and value < minimum:
            raise ValueError('%s must be >= %d, got %d' % (_flag(name), minimum, value))
    for name in _RANGES:
        _check_range(args, name)
    _check_rgb(args)
    resume_epoch, num_epochs = getattr(args, 'resume_epoch', 0), getattr(args, 'num_epochs', None)
    if resume_epoch and num_epochs is not None and resume_epoch >= num_epochs:
        raise ValueError('--resume-epoch %d is at or past --num-epochs %d: nothing is left to '
                         'train; raise --num-epochs to train on' % (resume_epoch, num_epochs))
    return args
