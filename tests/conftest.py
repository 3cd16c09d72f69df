import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault('MXNET_SUBGRAPH_VERBOSE', '0')
os.environ.setdefault('OMP_NUM_THREADS', '1')

import gluon_convattn  # noqa: E402,F401  (before any mxnet import: the CUDA build needs it)


@pytest.fixture(autouse=True)
def _seed():
    import mxnet as mx
    import numpy as np
    mx.random.seed(0)
    np.random.seed(0)
