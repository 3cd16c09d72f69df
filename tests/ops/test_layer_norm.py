"""ops.layer_norm: the CPU library's layer norm against MXNet's LayerNorm."""
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

from gluon_convattn import ops
from gluon_convattn.nn.transformer import LayerNorm
from gluon_convattn.ops import custom, norm as layer_norm_module
from support.autograd import outputs_and_gradients, weighted_by

SHAPES = [(2, 5, 7), (3, 33), (2, 4, 3, 130)]


def _run(fn, arrays, head, grad_req='write'):
    return outputs_and_gradients(fn, arrays, weighted_by(head), grad_req)


def _arrays(shape, dtype, seed=0):
    rs = np.random.RandomState(seed)
    arrays = [mx.nd.array(3 * rs.standard_normal(s) + 1, dtype=dtype)
              for s in (shape, shape[-1:], shape[-1:])]
    return arrays, mx.nd.array(rs.standard_normal(shape), dtype=dtype)


def _mxnet(x, gamma, beta):
    return mx.nd.LayerNorm(x, gamma, beta, axis=-1, eps=1e-5)


def _ours(x, gamma, beta):
    return ops.layer_norm(mx.nd, x, gamma, beta, eps=1e-5)


def test_the_kernel_runs_where_the_library_is_built():
    assert layer_norm_module.kernel_available()
    x = mx.sym.var('x')
    out = ops.layer_norm(mx.sym, x, mx.sym.var('g'), mx.sym.var('b'))
    assert layer_norm_module.OP_TYPE in out.tojson()


@pytest.mark.parametrize('grad_req', ['write', 'add'])
@pytest.mark.parametrize('dtype,tol', [('float64', 1e-10), ('float32', 2e-6)])
@pytest.mark.parametrize('shape', SHAPES)
def test_forward_and_every_gradient_equal_mxnets(shape, dtype, tol, grad_req):
    arrays, head = _arrays(shape, dtype)
    got, want = _run(_ours, arrays, head, grad_req), _run(_mxnet, arrays, head, grad_req)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol * np.abs(w).max())


def test_block_matches_gluons_hybridized_with_its_parameters():
    x = mx.nd.array(np.random.RandomState(1).standard_normal((2, 9, 16)))
    ours, gluons = LayerNorm(epsilon=1e-6, in_channels=16), mx.gluon.nn.LayerNorm(
        epsilon=1e-6, in_channels=16)
    for block in (ours, gluons):
        block.initialize()
    assert sorted(ours._collect_params_with_prefix()) == ['beta', 'gamma']
    ours.gamma.set_data(mx.nd.arange(16) / 8)
    ours.beta.set_data(mx.nd.arange(16) / 4)
    gluons.gamma.set_data(ours.gamma.data())
    gluons.beta.set_data(ours.beta.data())
    ours.hybridize(static_alloc=True, static_shape=True)
    results = []
    for block in (ours, gluons):
        xs = x.copy()
        xs.attach_grad()
        with autograd.record():
            out = block(xs)
        out.backward()
        results.append([out.asnumpy(), xs.grad.asnumpy(), block.gamma.grad().asnumpy(),
                        block.beta.grad().asnumpy()])
    for g, w in zip(*results):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_a_blocked_scale_gets_no_gradient_and_the_input_still_does():
    arrays, head = _arrays((2, 6, 40), 'float64')

    def blocked(fn):
        return lambda x, g, b: fn(x, mx.nd.BlockGrad(g), mx.nd.BlockGrad(b))
    got, want = _run(blocked(_ours), arrays, head), _run(blocked(_mxnet), arrays, head)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-10, atol=1e-10)
    assert not got[2].any() and not got[3].any()


def test_without_the_library_mxnets_layer_norm_runs():
    arrays, head = _arrays((2, 5, 7), 'float64')
    with custom.use_launcher('cpu', None):
        assert not layer_norm_module.kernel_available()
        out = ops.layer_norm(mx.sym, mx.sym.var('x'), mx.sym.var('g'), mx.sym.var('b'))
        assert layer_norm_module.OP_TYPE not in out.tojson()
        got = _run(_ours, arrays, head)
    for g, w in zip(got, _run(_mxnet, arrays, head)):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


def test_a_graph_with_the_kernel_runs_where_the_library_is_gone():
    """The CustomOp computes MXNet's LayerNorm where no library serves it (a graph built on a
    host with the library, run on a GPU or where it was not built)."""
    arrays, head = _arrays((2, 5, 7), 'float64')
    block = LayerNorm(in_channels=7)
    block.initialize()
    block.cast('float64')
    block.hybridize()
    def step():
        x = arrays[0].copy()
        x.attach_grad()
        with autograd.record():
            out = block(x)
            (out * head).sum().backward()
        return out, x
    step()                                            # the graph is built with the kernel
    assert layer_norm_module.OP_TYPE in block._cached_graph[1].tojson()
    with custom.use_launcher('cpu', None):
        out, x = step()
    reference = _run(lambda a, g, b: _mxnet(a, g, b), [arrays[0], block.gamma.data(),
                                                       block.beta.data()], head)
    np.testing.assert_allclose(out.asnumpy(), reference[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x.grad.asnumpy(), reference[1], rtol=1e-10, atol=1e-10)
