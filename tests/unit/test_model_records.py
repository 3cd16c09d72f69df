"""The model records (configs as data) and the README model table generated from them."""
import os

import pytest

from gluon_convattn.model_zoo import get_model, get_model_info, get_model_list, model_zoo
from gluon_convattn.model_zoo.configs import ModelConfig, Weights, config_table, parse_flops
from gluon_convattn.utils.files import sha256_file
from tools import model_table

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAMILIES = {'ATAC', 'SAN', 'ACmix', 'KAConv', 'AT-kernel', 'PVT'}


@pytest.fixture(scope='module')
def measured():
    return model_table.measure()


@pytest.mark.parametrize('path, make_table', [('README.md', model_table.model_table),
                                              ('docs/flops.md', model_table.flops_table)])
def test_model_tables_are_the_generated_ones(measured, path, make_table):
    with open(os.path.join(ROOT, path)) as f:
        written = model_table.readme_table(f.read())
    assert written == make_table(measured), \
        '%s is out of date: run python tools/model_table.py --update' % path


def test_every_measured_difference_over_3_percent_links_its_note(measured):
    with open(os.path.join(ROOT, 'docs', 'flops.md')) as f:
        headings = {line[4:].strip() for line in f if line.startswith('### ')}
    anchors = {h.lower().replace(':', '').replace(' ', '-') for h in headings}
    for m in measured:
        if m.difference is not None and abs(m.difference) > model_table.TOLERANCE:
            assert 'note-' + m.config.flops_note in anchors, m.info.name
            assert '#note-%s)' % m.config.flops_note in m.readme_row()


def test_a_difference_over_3_percent_needs_a_note():
    config = ModelConfig('made_up', family='SAN', faithful_to='x', seed_flops='2.0G')
    assert model_table.seed_difference(config, 2.05e9) == pytest.approx(0.025)
    with pytest.raises(ValueError, match=r'made_up: 2.10 G multiply-adds are \+5.0 %.*flops_note'):
        model_table.seed_difference(config, 2.1e9)
    noted = ModelConfig('made_up', family='SAN', faithful_to='x', seed_flops='2.0G',
                        flops_note='san')
    assert model_table.seed_difference(noted, 2.1e9) == pytest.approx(0.05)
    assert model_table.seed_difference(ModelConfig('m', family='SAN', faithful_to='x'), 1e9) \
        is None


@pytest.mark.parametrize('text, value', [('2.2G', 2.2e9), ('180.52M', 180.52e6)])
def test_seed_flops_figures_parse(text, value):
    assert parse_flops(text) == pytest.approx(value)


@pytest.mark.parametrize('text', ['2.2', '2.2 G', 'G', '2.2T', ''])
def test_a_malformed_seed_flops_figure_is_refused(text):
    with pytest.raises(ValueError, match='number followed by G or M'):
        parse_flops(text)
    if text:
        with pytest.raises(ValueError, match='number followed by G or M'):
            ModelConfig('m', family='SAN', faithful_to='x', seed_flops=text)


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
