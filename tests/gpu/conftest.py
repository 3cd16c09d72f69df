"""tests/gpu runs on a lent GPU host that has CuPy and PyTorch but no MXNet: nothing here may
import mxnet or gluon_convattn's package __init__ (which imports it).

A plain ``pytest tests`` deselects these tests (``-m "not gpu"`` in pytest.ini); ``pytest -m gpu``
selects them, and then a missing CuPy, PyTorch or GPU fails every one of them, saying which.
"""
import numpy as np
import pytest


def gpu_stack_problem():
    """What tests/gpu lacks on this host, or None."""
    try:
        import cupy
    except ImportError as err:
        return 'CuPy is not installed (%s): pip install -e ".[cupy]"' % err
    try:
        import torch
    except ImportError as err:
        return 'PyTorch is not installed (%s)' % err
    if not torch.cuda.is_available():
        return 'PyTorch %s sees no CUDA GPU' % torch.__version__
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:    # CuPy raises its own CUDARuntimeError types
        return 'CuPy cannot reach the GPU: %s' % err
    return None if count else 'CuPy sees no GPU'


@pytest.fixture(scope='session', autouse=True)
def gpu_stack():
    """Fails (never skips) each selected test when the GPU stack is incomplete."""
    problem = gpu_stack_problem()
    if problem:
        pytest.fail('tests/gpu needs CuPy, PyTorch and a CUDA GPU: %s' % problem, pytrace=False)


@pytest.fixture(autouse=True)
def _seed():
    """Replaces the suite-wide seeding fixture, which imports mxnet."""
    np.random.seed(0)
