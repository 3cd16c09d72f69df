"""ops.pointwise (a 1x1 convolution as a batched matrix product) against MXNet's convolution."""
import mxnet as mx
import numpy as np
import pytest

from gluon_convattn import ops
from gluon_convattn.nn.atkernel import MatmulConv1x1
from support.autograd import outputs_and_gradients


def _run(fn, arrays):
    """Output of ``fn(*arrays)`` and the gradients of ``sum(out * probe)`` w.r.t. the arrays."""
    def loss(out):
        return (out * mx.nd.array(np.random.RandomState(1).normal(size=out.shape))).sum()
    return outputs_and_gradients(fn, arrays, loss)


@pytest.mark.parametrize('shape', [(2, 5, 3, 7), (1, 3, 11), (2, 4, 2, 3, 5)])
@pytest.mark.parametrize('with_bias', [True, False])
def test_pointwise_matches_the_1x1_convolution_and_its_gradients(shape, with_bias):
    rs = np.random.RandomState(0)
    x = mx.nd.array(rs.normal(size=shape))
    weight = mx.nd.array(rs.normal(size=(6, shape[1], 1, 1)))
    bias = mx.nd.array(rs.normal(size=(6,)))
    arrays = [x, weight, bias] if with_bias else [x, weight]

    def reference(x, weight, bias=None):
        flat = x.reshape((0, 0, 1, -1))
        out = mx.nd.Convolution(flat, weight, bias, kernel=(1, 1), num_filter=6,
                                no_bias=bias is None)
        return out.reshape((0, 0) + shape[2:])

    got = _run(lambda *a: ops.pointwise(mx.nd, *a), arrays)
    expected = _run(reference, arrays)
    assert got[0].shape == (shape[0], 6) + shape[2:]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)


def test_matmul_conv1x1_is_a_conv2d_with_its_parameters_and_values():
    rs = np.random.RandomState(2)
    x = mx.nd.array(rs.normal(size=(2, 4, 3, 5)))
    conv = mx.gluon.nn.Conv2D(6, 1, in_channels=4)
    matmul = MatmulConv1x1(6, 4)
    for block in (conv, matmul):
        block.initialize()
    assert sorted(matmul.collect_params().keys()) == sorted(
        k.replace(conv.prefix, matmul.prefix) for k in conv.collect_params().keys())
    matmul.weight.set_data(conv.weight.data())
    matmul.bias.set_data(conv.bias.data())
    matmul.hybridize(static_alloc=True, static_shape=True)
    np.testing.assert_allclose(matmul(x).asnumpy(), conv(x).asnumpy(), rtol=1e-5, atol=1e-5)
