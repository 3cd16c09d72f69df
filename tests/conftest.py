import importlib.util
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault('MXNET_SUBGRAPH_VERBOSE', '0')
os.environ.setdefault('OMP_NUM_THREADS', '1')


@pytest.fixture(autouse=True)
def _seed():
    import mxnet as mx
    import numpy as np
    mx.random.seed(0)
    np.random.seed(0)


@pytest.fixture(scope='session')
def load_script():
    """``load_script('train_imagenet')``: a script of ``scripts/`` loaded as a module (each once)."""
    loaded = {}

    def _load(script):
        if script not in loaded:
            spec = importlib.util.spec_from_file_location(
                script + '_under_test', os.path.join(ROOT, 'scripts', script + '.py'))
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            loaded[script] = module
        return loaded[script]
    return _load
