"""ops.batch_dot: the CPU library's batched product against MXNet's batch_dot."""
import mxnet as mx
import numpy as np
import pytest

from gluon_convattn import ops
from gluon_convattn.ops import custom, library, matmul
from support.autograd import outputs_and_gradients, weighted_by

FLAGS = [(False, False), (False, True), (True, False), (True, True)]


def _operands(ta, tb, dtype, batch=3, m=5, k=4, n=6):
    rs = np.random.RandomState(0)
    a = rs.standard_normal((batch, k, m) if ta else (batch, m, k))
    b = rs.standard_normal((batch, n, k) if tb else (batch, k, n))
    head = rs.standard_normal((batch, m, n))
    return [mx.nd.array(v, dtype=dtype) for v in (a, b, head)]


def _run(fn, a, b, head, grad_req='write'):
    return outputs_and_gradients(fn, [a, b], weighted_by(head), grad_req)


def test_the_kernel_serves_graphs_where_the_library_is_built():
    assert library.available('batch_dot')
    out = ops.batch_dot(mx.sym, mx.sym.var('a'), mx.sym.var('b'), transpose_b=True)
    assert matmul.OP_TYPE in out.tojson()


# (m, k, n): smaller than one block of the kernel (6 rows by 16 float or 8 double columns),
# then several blocks with partial ones at the bottom and right (Swin's 49 x 32 windows)
SIZES = [(5, 4, 6), (13, 7, 35), (49, 32, 49)]


@pytest.mark.parametrize('grad_req', ['write', 'add'])
@pytest.mark.parametrize('dtype,tol', [('float64', 1e-12), ('float32', 1e-5)])
@pytest.mark.parametrize('ta,tb', FLAGS)
@pytest.mark.parametrize('m,k,n', SIZES)
def test_product_and_both_gradients_equal_mxnets(ta, tb, dtype, tol, grad_req, m, k, n):
    a, b, head = _operands(ta, tb, dtype, m=m, k=k, n=n)
    got = _run(lambda x, y: ops.batch_dot(mx.nd, x, y, ta, tb), a, b, head, grad_req)
    want = _run(lambda x, y: mx.nd.batch_dot(x, y, transpose_a=ta, transpose_b=tb), a, b,
                head, grad_req)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol * np.abs(w).max())


@pytest.mark.parametrize('ta,tb', FLAGS)
def test_without_the_library_the_customop_computes_with_mxnet(ta, tb):
    """A graph built with the kernel, run where no library serves it (a GPU, or a host
    without the library): the CustomOp's products are MXNet's batch_dot."""
    a, b, head = _operands(ta, tb, 'float64')
    block = mx.gluon.nn.HybridLambda(lambda F, x, y: ops.batch_dot(F, x, y, ta, tb))
    block.hybridize()
    _run(block, a, b, head)
    assert matmul.OP_TYPE in block._cached_graph[1].tojson()
    with custom.use_launcher('cpu', None):
        assert not library.available('batch_dot')
        got = _run(block, a, b, head)
    want = _run(lambda x, y: mx.nd.batch_dot(x, y, transpose_a=ta, transpose_b=tb), a, b, head)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


def test_a_graph_built_without_the_library_uses_mxnets_batch_dot():
    with custom.use_launcher('cpu', None):
        out = ops.batch_dot(mx.sym, mx.sym.var('a'), mx.sym.var('b'))
    assert matmul.OP_TYPE not in out.tojson() and 'batch_dot' in out.tojson()
