"""tests/gpu runs on a lent GPU host that has CuPy and PyTorch but no MXNet: nothing here may
import mxnet or gluon_convattn's package __init__ (which imports it)."""
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _seed():
    """Replaces the suite-wide seeding fixture, which imports mxnet."""
    np.random.seed(0)

