"""Seeding every random generator a training step draws from."""
import random

import mxnet as mx
import numpy as np

__all__ = ['seed_everything']


def seed_everything(seed):
    """Seed Python's, NumPy's and MXNet's generators (data order, augmentation, mixup, dropout)."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    mx.random.seed(seed)
