"""The API's networks, layers and operators refuse inputs that would fail deep in MXNet (or
later, somewhere else) with one message naming the fix; hybridized networks pickle."""
import copy
import pickle

import mxnet as mx
import numpy as np
import pytest

from gluon_convattn import ops
from gluon_convattn.model_zoo import get_model
from gluon_convattn.nn.acmix import ACmix
from gluon_convattn.nn.san import SAM
from gluon_convattn.utils.checks import FLOAT16_ON_CPU

NET = 'cifar_resnet20_v2_atac'


@pytest.fixture(scope='module')
def net():
    net = get_model(NET, classes=10)
    net.initialize()
    return net


def _empty(*shape):
    return mx.nd.array(np.zeros(shape, np.float32))


BAD_INPUTS = [
    (lambda s: np.ones(s, np.float32), 'takes an mx.nd.NDArray, got a numpy.ndarray; convert it '
                                       'with mx.nd.array(x)'),
    (lambda s: [[0.0]], 'takes an mx.nd.NDArray, got a builtins.list'),
    (lambda s: mx.nd.ones(s, dtype='int32'), 'takes floating-point input (float32, or float16 '
                                             'on a GPU), got int32; convert it with '
                                             'x.astype("float32")'),
    (lambda s: _empty(0, *s[1:]), 'got an empty batch (shape (0, '),
    (lambda s: mx.nd.ones(s, dtype='float16'), FLOAT16_ON_CPU),
]
IDS = ['numpy', 'list', 'int32', 'empty-batch', 'float16-cpu']


@pytest.mark.parametrize('make,message', BAD_INPUTS, ids=IDS)
def test_a_network_refuses(net, make, message):
    with pytest.raises(ValueError) as info:
        net(make((2, 3, 32, 32)))
    assert message in str(info.value)
    assert str(info.value).startswith('CIFARResNetV2ATAC')


@pytest.mark.parametrize('make,message', BAD_INPUTS, ids=IDS)
def test_an_operator_refuses(make, message):
    with pytest.raises(ValueError) as info:
        ops.subtraction(mx.nd, make((2, 4, 6, 6)), kernel_size=3, padding=1)
    assert message in str(info.value)


def test_an_operator_checks_every_input():
    with pytest.raises(ValueError) as info:
        ops.aggregation(mx.nd, mx.nd.ones((1, 4, 6, 6)), np.ones((1, 1, 9, 36), np.float32),
                        kernel_size=3, padding=1)
    assert 'ops.aggregation takes an mx.nd.NDArray, got a numpy.ndarray' in str(info.value)


def test_a_float16_cast_network_fails_at_once_on_the_cpu():
    net = get_model(NET, classes=10)
    net.initialize()
    net.cast('float16')
    for x in (mx.nd.ones((1, 3, 32, 32)), mx.nd.ones((1, 3, 32, 32), dtype='float16')):
        with pytest.raises(ValueError) as info:
            net(x)
        assert FLOAT16_ON_CPU in str(info.value)
    net.cast('float32')
    assert net(mx.nd.ones((1, 3, 32, 32))).shape == (1, 10)
    # nothing failed in the background that another call would report later
    other = get_model(NET, classes=10)
    other.initialize()
    other(mx.nd.ones((1, 3, 32, 32))).wait_to_read()


@pytest.mark.parametrize('layer,name', [
    (lambda: SAM(0, 16, 2, 16, 8), 'SAM(in_planes=16)'),
    (lambda: SAM(1, 16, 2, 16, 8), 'SAM(in_planes=16)'),
    (lambda: ACmix(16, 16), 'ACmix(in_planes=16)'),
], ids=['sam-pairwise', 'sam-patchwise', 'acmix'])
def test_layers_name_the_channels_they_take(layer, name):
    block = layer()
    block.initialize()
    with pytest.raises(ValueError) as info:
        block(mx.nd.ones((1, 8, 8, 8)))
    assert str(info.value) == '%s takes a batch of shape (N, 16, H, W), got (1, 8, 8, 8)' % name
    assert block(mx.nd.ones((1, 16, 8, 8))).shape[1] == 16


def test_a_hybridized_network_pickles_and_still_runs(net):
    x = mx.nd.random.uniform(shape=(2, 3, 32, 32))
    net.hybridize()
    expected = net(x).asnumpy()
    for clone in (pickle.loads(pickle.dumps(net)), copy.deepcopy(net)):
        np.testing.assert_allclose(clone(x).asnumpy(), expected, rtol=1e-5, atol=1e-6)
        assert clone._active                                # still hybridized
    np.testing.assert_allclose(net(x).asnumpy(), expected, rtol=1e-5, atol=1e-6)


def test_every_float16_refusal_states_the_one_rule():
    from gluon_convattn.ops import custom
    from gluon_convattn.utils.checks import check_context_dtype
    x = mx.nd.ones((1, 4, 6, 6), dtype='float16')
    refusals = [lambda: ops.subtraction(mx.nd, x, kernel_size=3, padding=1, impl=impl)
                for impl in ('composite', 'kernel')]
    refusals += [lambda: check_context_dtype([mx.cpu()], 'float16'),
                 lambda: custom.check_runnable(mx.cpu(), 'float16')]
    for refuse in refusals:
        with pytest.raises(ValueError) as info:
            refuse()
        assert FLOAT16_ON_CPU in str(info.value)
    check_context_dtype([mx.cpu()], 'float32')


def test_every_layer_checks_impl_as_the_operators_do():
    from gluon_convattn.nn import SAM, ACmix, ATKernel
    with pytest.raises(ValueError) as info:
        ops.subtraction(mx.nd, mx.nd.ones((1, 4, 6, 6)), impl='cuda')
    message = str(info.value)
    assert message.startswith("impl must be one of 'auto', 'composite', 'kernel'")
    for make in (lambda: SAM(0, 8, 4, 8, impl='cuda'), lambda: ACmix(8, 8, impl='cuda'),
                 lambda: ATKernel(8, 8, impl='cuda')):
        with pytest.raises(ValueError) as info:
            make()
        assert str(info.value) == message
