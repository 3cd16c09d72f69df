"""The model registry and pretrained loading, exercised with the ATAC models."""
import os

import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon.data.vision import transforms

from gluon_convattn.data import DIGITS_MEAN, DIGITS_STD, Digits
from gluon_convattn.model_zoo import get_model, get_model_info, get_model_list, model_zoo
from gluon_convattn.model_zoo.atac import CIFARResNetV2ATAC
from gluon_convattn.model_zoo.configs import ModelConfig, Weights
from gluon_convattn.utils import ParamsMismatchError
from gluon_convattn.utils.files import sha256_file
from gluon_convattn.utils.params import ChecksumError

ATAC = ['cifar_resnet110_v2_atac', 'cifar_resnet20_v2_atac', 'cifar_resnet56_v2_atac',
        'resnet50_v1b_atac']


def _saved(tmp_path, filename, name='cifar_resnet20_v2_atac', seed=3, **kwargs):
    """Save a ``name`` network with seeded random weights; returns (path, net)."""
    net = get_model(name, **kwargs)
    net.initialize(mx.init.Zero())
    net(mx.nd.zeros((1, 3, 32, 32)))
    rs = np.random.RandomState(seed)
    for key, param in sorted(net._collect_params_with_prefix().items()):
        value = rs.normal(0, 0.1, param.shape)
        param.set_data(mx.nd.array(np.abs(value) + 0.5 if key.endswith('running_var')
                                   else value))
    path = str(tmp_path / filename)
    net.save_parameters(path)
    return path, net


def _values(net):
    return {k: v.data().asnumpy() for k, v in net._collect_params_with_prefix().items()}


def test_model_list_is_sorted_and_holds_the_atac_family():
    names = get_model_list()
    assert names == sorted(names)
    assert [n for n in names if get_model_info(n).family == 'ATAC'] == ATAC


def test_model_info_of_the_cifar_networks():
    info = get_model_info('cifar_resnet56_v2_atac')
    assert (info.family, info.input_size, info.default_dataset) == ('ATAC', 32, 'cifar10')
    assert 'ResNet20V2ATAC' in info.faithful_to and '--blocks 9' in info.faithful_to
    assert get_model_info('RESNET50_V1B_ATAC').name == 'resnet50_v1b_atac'


def test_unknown_name_lists_known_names_closest_first():
    with pytest.raises(ValueError) as err:
        get_model('cifar_resnet20_v2_atak')
    message = str(err.value)
    assert '"cifar_resnet20_v2_atak" is not a registered model' in message
    listed = message.split('closest first):')[1].split()
    assert listed[0] == 'cifar_resnet20_v2_atac'
    assert sorted(listed) == get_model_list()


@pytest.mark.parametrize('name,shape', [('cifar_resnet20_v2_atac', (2, 3, 32, 32)),
                                        ('resnet50_v1b_atac', (2, 3, 32, 32))])
def test_classes_passes_through(name, shape):
    net = get_model(name, classes=17)
    net.initialize()
    assert net(mx.nd.ones(shape)).shape == (2, 17)
    default = get_model(name)
    default.initialize()
    assert default(mx.nd.ones(shape)).shape[1] == (10 if name.startswith('cifar') else 1000)


def test_pretrained_true_without_a_file_says_where_to_put_it(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        get_model('cifar_resnet20_v2_atac', pretrained=True, root=str(tmp_path))
    message = str(err.value)
    assert os.path.join(str(tmp_path), 'cifar_resnet20_v2_atac.params') in message
    assert 'No pretrained cifar10 weights' in message
    assert 'Put the file at' in message and 'convert_weights.py' in message


def test_pretrained_true_loads_root_name_params(tmp_path):
    path, saved = _saved(tmp_path, 'cifar_resnet20_v2_atac.params')
    net = get_model('cifar_resnet20_v2_atac', pretrained=True, root=str(tmp_path))
    loaded = _values(net)
    for key, value in _values(saved).items():
        np.testing.assert_array_equal(loaded[key], value)


def test_pretrained_path_loads_that_file(tmp_path):
    path, saved = _saved(tmp_path, 'anything.params', act_layers=2)
    net = get_model('cifar_resnet20_v2_atac', pretrained=path, act_layers=2)
    x = mx.nd.ones((1, 3, 32, 32))
    np.testing.assert_allclose(net(x).asnumpy(), saved(x).asnumpy(), rtol=1e-6)


@pytest.fixture
def tagged_model(tmp_path, monkeypatch):
    """A temporary model ``tagged_resnet20`` whose record ships ``weights-v1.params`` (tag
    'mytag') from ``tmp_path``; returns (the file, the network saved in it)."""
    path, saved = _saved(tmp_path, 'weights-v1.params')
    weights = Weights(tag='mytag', file='weights-v1.params', sha256=sha256_file(path),
                      source='test', classes=10)
    config = ModelConfig('tagged_resnet20', family='ATAC', faithful_to='test', input_size=32,
                         weights=(weights,))
    model_zoo.register_model(config, network=CIFARResNetV2ATAC)(
        get_model_info('cifar_resnet20_v2_atac').constructor)
    monkeypatch.setattr(model_zoo, 'weights_dir', lambda: str(tmp_path))
    yield path, saved
    model_zoo.unregister_model('tagged_resnet20')


def test_pretrained_tag_loads_the_records_file(tagged_model):
    path, saved = tagged_model
    net = get_model('tagged_resnet20', pretrained='mytag')
    np.testing.assert_array_equal(_values(net)['output.weight'], _values(saved)['output.weight'])
    with pytest.raises(FileNotFoundError, match=r"neither a weights tag of tagged_resnet20 nor "
                                                r"an existing file.*one of: 'mytag'"):
        get_model('tagged_resnet20', pretrained='cifar100')


def test_a_corrupted_shipped_file_is_refused_naming_both_hashes(tagged_model):
    path, _ = tagged_model
    expected = sha256_file(path)
    with open(path, 'r+b') as f:        # same size, one byte changed
        f.seek(os.path.getsize(path) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ChecksumError) as err:
        get_model('tagged_resnet20', pretrained='mytag')
    message = str(err.value)
    assert path in message and expected in message and sha256_file(path) in message


def test_corrupt_params_file_is_named(tmp_path):
    path, _ = _saved(tmp_path, 'good.params')
    with open(path, 'rb') as f:
        head = f.read(300)
    bad = str(tmp_path / 'truncated.params')
    with open(bad, 'wb') as f:
        f.write(head)
    with pytest.raises(ValueError, match='truncated.params is not a readable MXNet parameter'):
        get_model('cifar_resnet20_v2_atac', pretrained=bad)


def test_params_of_another_model_name_the_first_mismatch(tmp_path):
    path, _ = _saved(tmp_path, 'resnet56.params', name='cifar_resnet56_v2_atac')
    ours = set(get_model('cifar_resnet20_v2_atac')._collect_params_with_prefix())
    theirs = set(mx.nd.load(path))
    first_extra = sorted(theirs - ours)[0]
    with pytest.raises(ParamsMismatchError) as err:
        get_model('cifar_resnet20_v2_atac', pretrained=path)
    assert repr(first_extra) in str(err.value) and 'resnet56.params' in str(err.value)


def test_params_without_a_layer_name_the_missing_parameter(tmp_path):
    path, _ = _saved(tmp_path, 'relu.params', act_type='relu')
    with pytest.raises(ParamsMismatchError, match=r"'features\.2\.0\.msAA1\.module\.0\.weight' "
                                                  r"of CIFARResNetV2ATAC is missing"):
        get_model('cifar_resnet20_v2_atac', pretrained=path)


def test_params_with_a_wrong_shape_name_both_shapes(tmp_path):
    path, _ = _saved(tmp_path, 'classes100.params', classes=100)
    with pytest.raises(ParamsMismatchError,
                       match=r"'output\.bias'.*needs shape \(10,\).*holds \(100,\)"):
        get_model('cifar_resnet20_v2_atac', pretrained=path)


def _digits():
    return get_model_info('cifar_resnet20_v2_atac').weights_for('digits')


def test_shipped_digits_checkpoint_matches_its_record():
    weights = _digits()
    assert sha256_file(os.path.join(model_zoo.weights_dir(), weights.file)) == weights.sha256
    assert os.path.isfile(os.path.join(model_zoo.weights_dir(), weights.log))


def test_committed_digits_checkpoint_reaches_95_percent():
    """Loads through the model zoo and re-measures the validation-split accuracy."""
    weights = _digits()
    net = get_model('cifar_resnet20_v2_atac', pretrained='digits')
    net.hybridize()
    normalize = transforms.Compose([transforms.ToTensor(),
                                    transforms.Normalize(list(DIGITS_MEAN), list(DIGITS_STD))])
    loader = mx.gluon.data.DataLoader(Digits(train=False).transform_first(normalize),
                                      batch_size=120)
    metric = mx.metric.Accuracy()
    for data, label in loader:
        metric.update([label], [net(data)])
    assert metric.num_inst == 360
    accuracy = metric.get()[1]
    assert accuracy >= 0.95
    assert abs(accuracy - weights.accuracy) <= 1.0 / 360


def test_float16_trained_checkpoint_loads_into_the_float32_network(tmp_path):
    """Upstream's ImageNet run trained with --dtype float16 and saved the cast network
    (float16 convolution/dense weights, float32 BN): such a file must load as float32."""
    path, saved = _saved(tmp_path, 'fp32.params')
    saved.cast('float16')
    half = str(tmp_path / 'fp16.params')
    saved.save_parameters(half)
    assert mx.nd.load(half)['output.weight'].dtype == np.float16
    net = get_model('cifar_resnet20_v2_atac', pretrained=half)
    assert net.output.weight.data().dtype == np.float32
    np.testing.assert_array_equal(net.output.weight.data().asnumpy(),
                                  mx.nd.load(half)['output.weight'].asnumpy().astype(np.float32))


@pytest.mark.parametrize('classes', [0, True, 2.5])
def test_every_model_rejects_a_bad_class_count(classes):
    for name in get_model_list():
        with pytest.raises(ValueError, match='classes'):
            get_model(name, classes=classes)
