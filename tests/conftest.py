"""Shared by every test directory: seeding, the scripts loaded as modules, a packed RecordIO set
and the registered toy model. ``tests/`` goes on ``sys.path`` so that every test imports the
scaffolding as ``support.toy`` / ``support.golden``."""
import importlib.util
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, 'tests'))
os.environ.setdefault('MXNET_SUBGRAPH_VERBOSE', '0')
os.environ.setdefault('OMP_NUM_THREADS', '1')

import gluon_convattn  # noqa: E402,F401  (before any mxnet import: the CUDA build needs it)


@pytest.fixture(autouse=True)
def _seed():
    import mxnet as mx
    import numpy as np
    mx.random.seed(0)
    np.random.seed(0)


@pytest.fixture(scope='session')
def load_script():
    """``load_script('train_imagenet')``: a script of ``scripts/`` loaded as a module (once)."""
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


@pytest.fixture(scope='module')
def train_imagenet(load_script):
    return load_script('train_imagenet')


@pytest.fixture(scope='module')
def train_cifar(load_script):
    return load_script('train_cifar')


@pytest.fixture(scope='module')
def eval_imagenet(load_script):
    return load_script('eval_imagenet')


@pytest.fixture(scope='module')
def detection_scripts(load_script):
    """The detection scripts as modules: ``detection_scripts['train_faster_rcnn'].main``."""
    return {name: load_script(name) for name in ('train_faster_rcnn', 'eval_faster_rcnn',
                                                 'demo_faster_rcnn', 'visualize_attention')}


@pytest.fixture(scope='module')
def records(tmp_path_factory):
    from support.toy import write_record_files
    return write_record_files(str(tmp_path_factory.mktemp('rec')), classes=3, per_class=8)


@pytest.fixture
def toy():
    from support.toy import toy_model_registered
    with toy_model_registered() as name:
        yield name
