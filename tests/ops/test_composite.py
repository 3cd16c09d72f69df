"""The composite operators (MXNet operators only) against a naive numpy version of SAN's
kernel formulas, finite-difference gradients, hybridize/export, and bad-input errors."""

import mxnet as mx
import numpy as np
import pytest

import ops_reference as reference
from gluon_convattn import ops
from gluon_convattn.ops import custom
from ops_cases import PAD_MODES, WINDOWS, OpBlock, inputs, run, window_kwargs
from support.autograd import output_and_input_gradient

OP_NAMES = ('aggregation', 'subtraction', 'subtraction2', 'local_dot')


def _extra(op_name, groups):
    return {'groups': groups} if op_name == 'local_dot' else {}


@pytest.mark.parametrize('pad_mode', PAD_MODES)
@pytest.mark.parametrize('case', WINDOWS, ids=[c[0] for c in WINDOWS])
@pytest.mark.parametrize('op_name', OP_NAMES)
def test_composite_matches_numpy_reference(op_name, case, pad_mode):
    win = window_kwargs(case, pad_mode)
    for groups in ((1, 4) if op_name == 'local_dot' else (None,)):
        arrays = inputs(op_name, case, pad_mode)
        extra = _extra(op_name, groups)
        expected = getattr(reference, op_name)(*arrays, **extra, **win)
        got = getattr(ops, op_name)(mx.nd, *[mx.nd.array(a, dtype='float64') for a in arrays],
                                    impl='composite', **extra, **win).asnumpy()
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def _numeric_grads(op_name, arrays, grad_out, eps=1e-6, **kwargs):
    """Central differences, element by element: every perturbed copy of the (batch 1) inputs
    is one item of a single batched call."""
    grads = []
    for i, a in enumerate(arrays):
        steps = np.eye(a.size).reshape((a.size,) + a.shape[1:]) * eps
        batch = [np.repeat(v, 2 * a.size, axis=0) for v in arrays]
        batch[i] = batch[i] + np.concatenate([steps, -steps])
        out = getattr(ops, op_name)(mx.nd, *[mx.nd.array(v, dtype='float64') for v in batch],
                                    impl='composite', **kwargs).asnumpy()
        loss = (out * grad_out).reshape(2 * a.size, -1).sum(axis=1)
        grads.append(((loss[:a.size] - loss[a.size:]) / (2 * eps)).reshape(a.shape))
    return grads


# Small enough for an element-by-element finite-difference check.
GRAD_CASE = ('grad', 1, 4, 2, 5, 4, 3, 2, 1, 1)


@pytest.mark.parametrize('pad_mode', PAD_MODES)
@pytest.mark.parametrize('op_name', OP_NAMES)
def test_composite_gradient_matches_finite_differences(op_name, pad_mode):
    win = window_kwargs(GRAD_CASE, pad_mode)
    extra = _extra(op_name, 2)
    arrays = inputs(op_name, GRAD_CASE, pad_mode)
    out, grads = run(op_name, arrays, 'composite', **extra, **win)
    grad_out = np.random.RandomState(1).randn(*out.shape)
    for analytic, numeric in zip(grads, _numeric_grads(op_name, arrays, grad_out, **extra,
                                                       **win)):
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize('op_name', OP_NAMES)
def test_composite_hybridized_equals_imperative(op_name):
    case = WINDOWS[2]
    win, extra = window_kwargs(case, 1), _extra(op_name, 4)
    arrays = inputs(op_name, case, 1, dtype='float32')
    eager = run(op_name, arrays, 'composite', **extra, **win)
    hybrid = run(op_name, arrays, 'composite', hybridize=True, **extra, **win)
    for a, b in zip([eager[0]] + eager[1], [hybrid[0]] + hybrid[1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings('ignore:Cannot decide type')
def test_composite_block_exports_and_reloads(tmp_path):
    case = WINDOWS[1]
    win = window_kwargs(case, 1)
    x, w = inputs('aggregation', case, 1, dtype='float32')
    block = OpBlock('aggregation', 'composite', **win)
    block.hybridize()
    eager = block(mx.nd.array(x), mx.nd.array(w)).asnumpy()
    prefix = str(tmp_path / 'aggregation')
    block.export(prefix)
    symbol = mx.sym.load(prefix + '-symbol.json')
    assert 'Custom' not in symbol.tojson()
    imported = mx.gluon.SymbolBlock.imports(prefix + '-symbol.json', ['data0', 'data1'])
    np.testing.assert_allclose(imported(mx.nd.array(x), mx.nd.array(w)).asnumpy(), eager,
                               rtol=1e-6)


WIN = dict(kernel_size=3, stride=1, padding=1, dilation=1, pad_mode=0)


@pytest.mark.parametrize('impl', ('composite', 'kernel'))
def test_bad_weight_shape_names_argument_and_shapes(impl):
    x, w = mx.nd.zeros((2, 8, 6, 6)), mx.nd.zeros((2, 2, 9, 35))
    with pytest.raises(ValueError, match=r'w has shape \(2, 2, 9, 35\), needs \(2, 2, 9, 36\)'):
        ops.aggregation(mx.nd, x, w, impl=impl, **WIN)
    with pytest.raises(ValueError, match='w has 3 channels, which do not divide the 8'):
        ops.aggregation(mx.nd, x, mx.nd.zeros((2, 3, 9, 36)), impl=impl, **WIN)


@pytest.mark.parametrize('impl', ('composite', 'kernel'))
def test_bad_input_shapes_raise_value_error(impl):
    with pytest.raises(ValueError, match=r'x must be 4-D \(N, C, H, W\), got shape \(8, 6, 6\)'):
        ops.subtraction(mx.nd, mx.nd.zeros((8, 6, 6)), impl=impl, **WIN)
    with pytest.raises(ValueError, match=r'x2 must have the shape of x1 \(1, 4, 6, 6\), got '
                                         r'\(1, 4, 6, 5\)'):
        ops.subtraction2(mx.nd, mx.nd.zeros((1, 4, 6, 6)), mx.nd.zeros((1, 4, 6, 5)), impl=impl,
                         **WIN)
    with pytest.raises(ValueError, match='groups=3 must be a positive int dividing the 4'):
        ops.local_dot(mx.nd, mx.nd.zeros((1, 4, 6, 6)), mx.nd.zeros((1, 4, 6, 6)), 3,
                      impl=impl, **WIN)
    with pytest.raises(ValueError, match=r'reflection padding \(3, 3\) needs x at least 4x4, '
                                         r'got 3x3'):
        ops.subtraction(mx.nd, mx.nd.zeros((1, 4, 3, 3)), kernel_size=7, padding=3, pad_mode=1,
                        impl=impl)
    with pytest.raises(ValueError, match='smaller than the window'):
        ops.subtraction(mx.nd, mx.nd.zeros((1, 4, 2, 2)), kernel_size=5, impl=impl)


def test_bad_window_arguments_raise_value_error():
    x = mx.nd.zeros((1, 4, 6, 6))
    with pytest.raises(ValueError, match='kernel_size must be odd'):
        ops.subtraction(mx.nd, x, kernel_size=4)
    with pytest.raises(ValueError, match='pad_mode must be 0'):
        ops.subtraction(mx.nd, x, pad_mode=2)
    with pytest.raises(ValueError, match='impl must be one of'):
        ops.subtraction(mx.nd, x, impl='cuda')


def test_float16_on_cpu_is_a_clear_error():
    x = mx.nd.zeros((1, 4, 6, 6), dtype='float16')
    for impl in ('composite', 'kernel', None):
        with pytest.raises(ValueError, match='ops.subtraction: float16 input needs a GPU'):
            ops.subtraction(mx.nd, x, impl=impl, **WIN)


def test_environment_variable_selects_implementation(monkeypatch):
    def graph(impl=None):
        return ops.aggregation(mx.sym, mx.sym.var('x'), mx.sym.var('w'), impl=impl,
                               **WIN).tojson()
    monkeypatch.setenv(ops.ENV_VAR, 'kernel')
    assert 'gluon_convattn_aggregation' in graph()
    assert 'gluon_convattn_aggregation' not in graph('composite')   # argument wins
    monkeypatch.setenv(ops.ENV_VAR, 'composite')
    assert 'gluon_convattn_aggregation' in graph('kernel')
    assert 'im2col' in graph()
    monkeypatch.setenv(ops.ENV_VAR, 'auto')   # the CPU kernels are built: kernels
    assert 'gluon_convattn_aggregation' in graph()
    assert ops.resolve_impl(mx.nd, None, mx.nd.zeros((1,))) == 'kernel'
    with custom.use_launcher('cpu', None):    # no CPU kernels, no GPU: composite
        assert 'gluon_convattn_aggregation' not in graph()
        assert ops.resolve_impl(mx.nd, None, mx.nd.zeros((1,))) == 'composite'
    monkeypatch.setenv(ops.ENV_VAR, 'gpu')
    with pytest.raises(ValueError, match='GLUON_CONVATTN_OPS'):
        graph()


def test_tap_softmax_equals_softmax_over_axis_2_with_gradients():
    logits = mx.nd.array(np.random.RandomState(5).randn(2, 3, 9, 7))
    head = mx.nd.array(np.random.RandomState(6).randn(2, 3, 9, 7))
    grads = [output_and_input_gradient(f, logits, loss=lambda out: (out * head).sum())
             for f in (lambda x: ops.tap_softmax(mx.nd, x), lambda x: mx.nd.softmax(x, axis=2))]
    np.testing.assert_allclose(grads[0][0], grads[1][0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(grads[0][1], grads[1][1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grads[0][0].sum(axis=2), 1, rtol=1e-6)
