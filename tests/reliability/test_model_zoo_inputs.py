"""get_model given what a user might pass: context strings, unknown keywords, and
``pretrained=`` as a directory, a pathlib.Path or a file name without ``.params``."""
import inspect
import os
import pathlib

import mxnet as mx
import numpy as np
import pytest

from gluon_convattn.model_zoo import get_model, get_model_info
from gluon_convattn.model_zoo.model_zoo import as_context

NAME = 'cifar_resnet20_v2_atac'


@pytest.fixture
def saved(tmp_path):
    """A seeded cifar_resnet20_v2_atac saved as ``tmp_path/weights.params``; (path, net)."""
    net = get_model(NAME)
    net.initialize(mx.init.Normal(0.1))
    net(mx.nd.zeros((1, 3, 32, 32)))
    path = tmp_path / 'weights.params'
    net.save_parameters(str(path))
    return path, net


def _same(a, b):
    x = mx.nd.random.normal(shape=(2, 3, 32, 32))
    np.testing.assert_array_equal(a(x).asnumpy(), b(x).asnumpy())


@pytest.mark.parametrize('text,expected', [('cpu', mx.cpu()), ('CPU', mx.cpu()),
                                           ('gpu', mx.gpu(0)), ('gpu0', mx.gpu(0)),
                                           ('gpu1', mx.gpu(1)), ('gpu(2)', mx.gpu(2)),
                                           ('gpu:3', mx.gpu(3))])
def test_context_strings_name_the_device(text, expected):
    assert as_context(text) == expected


def test_context_list_and_context_pass_through():
    assert as_context(mx.cpu()) == mx.cpu()
    assert as_context(['cpu', mx.gpu(1)]) == [mx.cpu(), mx.gpu(1)]


@pytest.mark.parametrize('ctx', ['tpu', 'gpu-1', 'cuda', 3, None, []])
def test_other_contexts_are_refused_saying_what_works(ctx):
    with pytest.raises(ValueError, match=r"ctx must be an mx.Context .*'cpu' or 'gpu0', got"):
        get_model(NAME, ctx=ctx)


def test_ctx_cpu_string_loads_pretrained_weights(saved):
    path, net = saved
    loaded = get_model(NAME, pretrained=str(path), ctx='cpu')
    assert loaded.output.weight.list_ctx() == [mx.cpu()]
    _same(loaded, net)


def test_unknown_keyword_names_the_model_and_its_arguments():
    with pytest.raises(ValueError) as err:
        get_model('san10_pairwise', kernel=3)
    message = str(err.value)
    assert message.startswith('san10_pairwise does not take the argument(s) kernel; it takes:')
    assert set(message.split('it takes: ')[1].split(', ')) == set(
        get_model_info('san10_pairwise').arguments)
    assert 'kernels' in get_model_info('san10_pairwise').arguments


def test_every_listed_argument_is_taken():
    """Each argument in a model's list can be given (no TypeError from a duplicate)."""
    info = get_model_info(NAME)
    for argument, value in (('r', 4), ('act_layers', 1), ('layers', [1, 1, 1]),
                            ('channels', [8, 8, 16, 32]), ('classes', 3), ('prefix', 'n_')):
        assert argument in info.arguments
        get_model(NAME, **{argument: value})


def test_pretrained_directory_is_refused_listing_its_params_files(saved, tmp_path):
    with pytest.raises(ValueError) as err:
        get_model(NAME, pretrained=str(tmp_path))
    message = str(err.value)
    assert 'is a directory' in message and 'give the .params file in it' in message
    assert 'weights.params' in message
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(ValueError, match='holds no .params file'):
        get_model(NAME, pretrained=empty)


def test_pretrained_pathlib_path_loads(saved):
    path, net = saved
    assert isinstance(path, pathlib.Path)
    _same(get_model(NAME, pretrained=path), net)


def test_missing_pathlib_path_names_the_absolute_path(tmp_path):
    missing = tmp_path / 'nothing.params'
    with pytest.raises(FileNotFoundError, match='%s does not exist' % missing):
        get_model(NAME, pretrained=missing)


def test_relative_file_name_loads_from_the_working_directory(saved, monkeypatch):
    path, net = saved
    monkeypatch.chdir(str(path.parent))
    _same(get_model(NAME, pretrained='weights.params'), net)


def test_relative_name_without_params_suffix_says_which_file_was_meant(saved, monkeypatch):
    path, _ = saved
    monkeypatch.chdir(str(path.parent))
    with pytest.raises(FileNotFoundError) as err:
        get_model(NAME, pretrained='weights')
    message = str(err.value)
    assert "pretrained='weights' is neither a weights tag of %s nor an existing file" % NAME \
        in message
    assert "did you mean 'weights.params'?" in message
    assert os.path.join(str(path.parent), 'weights') in message


def test_unknown_tag_lists_the_tags():
    with pytest.raises(FileNotFoundError, match=r"weights tag of %s is one of: 'digits'" % NAME):
        get_model(NAME, pretrained='imagenet')


@pytest.mark.parametrize('pretrained', [1, 2.5, ['digits']])
def test_pretrained_of_another_type_is_refused(pretrained):
    with pytest.raises(ValueError, match='pretrained must be True, a weights tag'):
        get_model(NAME, pretrained=pretrained)


def _declared_defaults(network):
    """{argument: default} from the ``__init__`` signatures along ``network``'s classes."""
    defaults = {}
    for cls in reversed(network.__mro__):
        if '__init__' in cls.__dict__:
            for p in inspect.signature(cls.__dict__['__init__']).parameters.values():
                if p.default is not inspect.Parameter.empty:
                    defaults[p.name] = p.default
    return defaults


# the smallest model of each network class
ONE_PER_CLASS = ['cifar_resnet20_v2_atac', 'resnet50_v1b_atac', 'san10_pairwise', 'acmix_resnet26',
                 'acmix_swin_tiny', 'karesnet50_l', 'kamobilenetv2_0.5_l',
                 'atkernel_resnet26_tiny', 'pvt_tiny']


def test_every_listed_argument_can_be_given_to_a_model_of_each_network_class():
    """No listed argument reaches the network twice (a "multiple values" TypeError): each is
    given, at its declared default, to a model of every network class."""
    from gluon_convattn.model_zoo import get_model_list
    # the detector names its network lazily ('module:Class'); tests/unit/test_detection.py
    # builds it with its arguments
    assert ({get_model_info(n).network for n in ONE_PER_CLASS}
            == {get_model_info(n).network for n in get_model_list()
                if not isinstance(get_model_info(n).network, str)})
    for name in ONE_PER_CLASS:
        info = get_model_info(name)
        defaults = _declared_defaults(info.network)
        for argument in info.arguments:
            if argument in defaults:
                get_model(name, **{argument: defaults[argument]})
