"""utils.params: counting parameters infers deferred shapes and leaves the network as it was."""
import mxnet as mx
import pytest
from mxnet.gluon import nn

from gluon_convattn.utils import count_params, param_shapes

INPUT = (2, 3, 8, 8)


def _net():
    """The convolution's shapes are known at construction, the other layers' are deferred; the
    3x3 convolution maps 8x8 inputs to 4 maps of 6x6."""
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, in_channels=3), nn.BatchNorm(), nn.Dense(5))
    return net


def test_shapes_and_counts_come_from_the_input_shape():
    net = _net()
    assert param_shapes(net, INPUT) == {
        '0.weight': (4, 3, 3, 3), '0.bias': (4,),
        '1.gamma': (4,), '1.beta': (4,), '1.running_mean': (4,), '1.running_var': (4,),
        '2.weight': (5, 4 * 6 * 6), '2.bias': (5,)}
    trainable = 4 * 3 * 3 * 3 + 4 + 2 * 4 + 5 * 4 * 6 * 6 + 5
    assert count_params(net, INPUT) == trainable
    assert count_params(net, INPUT, trainable_only=False) == trainable + 2 * 4


@pytest.mark.parametrize('measure', [count_params, param_shapes])
def test_measuring_does_not_initialize_the_network(measure):
    net = _net()
    measure(net, INPUT)
    for layer in (net[0], net[2]):
        with pytest.raises(RuntimeError, match='not been initialized'):
            layer.weight.data()
    net.initialize(mx.init.Constant(0.5))       # taken, not ignored as "already initialized"
    assert net(mx.nd.ones(INPUT)).shape == (2, 5)
    for layer in (net[0], net[2]):
        assert (layer.weight.data().asnumpy() == 0.5).all()
