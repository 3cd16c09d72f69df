"""The model records (configs as data) and the README model table generated from them."""
import os

import pytest

from gluon_convattn.model_zoo import get_model, get_model_info, get_model_list, model_zoo
from gluon_convattn.model_zoo.configs import ModelConfig, Weights, config_table
from gluon_convattn.utils.files import sha256_file
from tools import model_table

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAMILIES = {'ATAC', 'SAN', 'ACmix', 'KAConv', 'AT-kernel', 'PVT'}


def test_readme_model_table_is_the_generated_one():
    with open(os.path.join(ROOT, 'README.md')) as f:
        readme = model_table.readme_table(f.read())
    assert readme == model_table.model_table(), \
        'README.md is out of date: run python tools/model_table.py --update'


def test_update_replaces_only_the_table():
    text = 'head\n%s\nold table\n%s\ntail\n' % (model_table.BEGIN, model_table.END)
    new = model_table.updated_readme(text, '| new |')
    assert new == 'head\n%s\n| new |\n%s\ntail\n' % (model_table.BEGIN, model_table.END)
    with pytest.raises(ValueError, match='no model table markers'):
        model_table.updated_readme('no markers', '| new |')


def test_every_model_has_a_complete_record():
    for name in get_model_list():
        info = get_model_info(name)
        assert info.config.name == name and info.family in FAMILIES
        assert info.faithful_to and info.network is not None
        assert len(info.mean) == 3 and len(info.std) == 3 and 0 < info.crop_ratio <= 1
        assert info.min_size <= info.input_size


def test_min_size_is_read_from_the_network_not_stored_in_the_record():
    assert 'min_size' not in ModelConfig.__dataclass_fields__
    assert get_model_info('san10_pairwise').min_size == get_model('san10_pairwise').min_size


def test_every_shipped_weights_file_matches_its_record():
    shipped = [(name, w) for name in get_model_list() for w in get_model_info(name).weights]
    assert ('cifar_resnet20_v2_atac', 'digits') in [(n, w.tag) for n, w in shipped]
    for name, weights in shipped:
        path = os.path.join(model_zoo.weights_dir(), weights.file)
        assert sha256_file(path) == weights.sha256, (name, weights.tag)
        if weights.log:
            assert os.path.isfile(os.path.join(model_zoo.weights_dir(), weights.log))


def test_records_refuse_duplicates_and_upper_case_names():
    digits = get_model_info('cifar_resnet20_v2_atac').weights_for('digits')
    with pytest.raises(ValueError, match='lists the weights tag'):
        ModelConfig('x', 'ATAC', 'test', weights=(digits, digits))
    with pytest.raises(ValueError, match='lower case'):
        ModelConfig('X', 'ATAC', 'test')
    with pytest.raises(ValueError, match="model 'x' has two configurations"):
        config_table(ModelConfig('x', 'ATAC', 'a'), ModelConfig('x', 'ATAC', 'b'))
    assert isinstance(digits, Weights) and digits.classes == 10


def test_register_model_takes_a_record():
    with pytest.raises(TypeError, match='ModelConfig'):
        model_zoo.register_model('name_only')
