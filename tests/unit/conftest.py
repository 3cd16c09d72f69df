"""Fixtures shared by the training tests: the scripts loaded as modules, a packed RecordIO set
and the registered toy model."""
import pytest

from gluon_convattn.train.toy import toy_model_registered, write_record_files


@pytest.fixture(scope='module')
def train_imagenet(load_script):
    return load_script('train_imagenet')


@pytest.fixture(scope='module')
def eval_imagenet(load_script):
    return load_script('eval_imagenet')


@pytest.fixture(scope='module')
def records(tmp_path_factory):
    return write_record_files(str(tmp_path_factory.mktemp('rec')), classes=3, per_class=8)


@pytest.fixture
def toy():
    with toy_model_registered() as name:
        yield name
