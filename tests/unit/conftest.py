"""Fixtures shared by the training tests: the scripts loaded as modules, a packed RecordIO set
and the registered toy model."""
import importlib.util
import os

import pytest

from gluon_convattn.train.toy import toy_model_registered, write_record_files

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _load(script):
    spec = importlib.util.spec_from_file_location(script + '_under_test',
                                                  os.path.join(ROOT, 'scripts', script + '.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def train_imagenet():
    return _load('train_imagenet')


@pytest.fixture(scope='module')
def eval_imagenet():
    return _load('eval_imagenet')


@pytest.fixture(scope='module')
def detection_scripts():
    """The detection scripts as modules: ``detection_scripts['train_faster_rcnn'].main``."""
    return {name: _load(name) for name in ('train_faster_rcnn', 'eval_faster_rcnn',
                                           'demo_faster_rcnn', 'visualize_attention')}


@pytest.fixture(scope='module')
def records(tmp_path_factory):
    return write_record_files(str(tmp_path_factory.mktemp('rec')), classes=3, per_class=8)


@pytest.fixture
def toy():
    with toy_model_registered() as name:
        yield name
