"""Targets and losses of GluonCV's ImageNet recipe: label smoothing, mixup and distillation."""
import numpy as np
from mxnet import gluon, nd

from ..utils.gluoncv_import import import_gluoncv

__all__ = ['SMOOTHING_ETA', 'smooth', 'mixup_transform', 'mixup_data', 'mixup_lambda',
           'make_loss', 'teacher_probabilities']

SMOOTHING_ETA = 0.1


def smooth(labels, classes, eta=SMOOTHING_ETA):
    """One-hot targets with ``1 - eta + eta / classes`` on the label and ``eta / classes``
    elsewhere, for each label array in ``labels``."""
    return [l.one_hot(classes, on_value=1 - eta + eta / classes, off_value=eta / classes)
            for l in labels]


def mixup_transform(labels, classes, lam, eta=0.0):
    """Mixup targets: ``lam * y + (1 - lam) * y[::-1]`` of (smoothed) one-hot labels."""
    out = []
    for l in labels:
        y1, y2 = smooth([l, l[::-1]], classes, eta)
        out.append(lam * y1 + (1 - lam) * y2)
    return out


def mixup_data(data, lam):
    """Mixup inputs: each batch blended with itself reversed along the batch axis."""
    return [lam * x + (1 - lam) * x[::-1] for x in data]


def mixup_lambda(alpha, epoch, num_epochs, off_epochs, rng=np.random):
    """``Beta(alpha, alpha)``, or 1 (no mixing) in the last ``off_epochs`` epochs."""
    if epoch >= num_epochs - off_epochs:
        return 1.0
    return float(rng.beta(alpha, alpha))


def make_loss(sparse_label, distillation=False, temperature=20.0, hard_weight=0.5):
    """Softmax cross-entropy, or GluonCV's distillation loss (soft teacher targets at
    ``temperature`` mixed with the hard labels by ``hard_weight``)."""
    if distillation:
        return import_gluoncv().loss.DistillationSoftmaxCrossEntropyLoss(
            temperature=temperature, hard_weight=hard_weight, sparse_label=sparse_label)
    return gluon.loss.SoftmaxCrossEntropyLoss(sparse_label=sparse_label)


def teacher_probabilities(teacher, data, dtype, temperature):
    """The teacher's softened class probabilities for each input batch."""
    return [nd.softmax(teacher(x.astype(dtype, copy=False)) / temperature) for x in data]
