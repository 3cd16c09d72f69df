"""Optimizer settings as GluonCV's training scripts make them."""
import mxnet as mx

__all__ = ['MOMENTUM_OPTIMIZERS', 'optimizer_params', 'optimizer_settings',
           'exclude_from_weight_decay']

MOMENTUM_OPTIMIZERS = ('nag', 'sgd')
NO_WD_PATTERN = '.*beta|.*gamma|.*bias'


def optimizer_params(optimizer, lr_scheduler, wd, momentum, dtype):
    """Arguments of ``mx.optimizer.create(optimizer, **params)`` for a training run.

    ``momentum`` goes to the momentum optimizers only (NAG, SGD); float16 training keeps a
    float32 master copy of the weights (``multi_precision``).
    """
    registry = mx.optimizer.Optimizer.opt_registry
    if optimizer.lower() not in registry:
        raise ValueError('optimizer %r is not an MXNet optimizer; use nag or sgd (or one of '
                         '%s)' % (optimizer, ', '.join(sorted(registry))))
    params = {'wd': wd, 'lr_scheduler': lr_scheduler}
    if optimizer.lower() in MOMENTUM_OPTIMIZERS:
        params['momentum'] = momentum
    if dtype != 'float32':
        params['multi_precision'] = True
    return params


def optimizer_settings(args):
    """The optimizer flags a checkpoint records (``optimizer_settings`` in its ``.json``), so that
    a resumed run can say which of them changed."""
    return {'optimizer': args.optimizer.lower(), 'lr': args.lr, 'wd': args.wd,
            'momentum': args.momentum, 'no_wd': bool(getattr(args, 'no_wd', False))}


def exclude_from_weight_decay(net):
    """``--no-wd``: no weight decay on biases and BatchNorm's beta and gamma (GluonCV's rule,
    by parameter name). Returns the names that were changed."""
    params = net.collect_params(NO_WD_PATTERN)
    for param in params.values():
        param.wd_mult = 0.0
    return sorted(params.keys())
