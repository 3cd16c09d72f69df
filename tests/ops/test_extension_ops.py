"""The CPU library's kernels as MXNet operators (ops/extension.py): built by the install step,
used where they may be, the same numbers as the composite operators and MXNet's own, gradient
requests honoured, clear errors, and the CustomOps wherever the operators may not run."""
import json

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd
from mxnet.gluon import HybridBlock

from gluon_convattn import ops
from gluon_convattn.nn.transformer import LayerNorm
from gluon_convattn.ops import cpu_build, extension, kernel_spec
from gluon_convattn.ops.mix import mix_composite

from ops_cases import PAD_MODES, WINDOWS, inputs, window_kwargs


def test_the_install_step_built_and_loaded_the_operators():
    assert cpu_build.mxnet_api_dir() is not None, 'MXNet ships no lib_api.h here'
    assert extension.loaded(), 'the install step did not build %s' % cpu_build.PACKAGE_EXTENSION
    for name in [extension.LAYER_NORM, extension.BATCH_DOT, extension.MIX] + [
            'gluon_convattn_' + op for op in kernel_spec.OPERATORS]:
        assert hasattr(mx.sym, name) and hasattr(mx.nd, name)


class _Graph(HybridBlock):
    """``fn(F, *inputs)`` as a block; each input first goes through ``x * 1``, so the operator
    under test reads intermediate results, as it does inside a network."""

    def __init__(self, fn, intermediate=True):
        super(_Graph, self).__init__()
        self.fn, self.intermediate = fn, intermediate

    def hybrid_forward(self, F, *arrays):
        return self.fn(F, *[a * 1 if self.intermediate else a for a in arrays])


def _ops_in_graph(block):
    return [n['op'] for n in json.loads(block._cached_graph[1].tojson())['nodes']]


def _forward_backward(fn, arrays, hybridize, grad_seed=1, intermediate=True):
    block = _Graph(fn, intermediate)
    if hybridize:
        block.hybridize(static_alloc=True, static_shape=True)
    nd_in = [mx.nd.array(a, dtype=a.dtype) for a in arrays]
    for a in nd_in:
        a.attach_grad()
    with autograd.record():
        out = block(*nd_in)
    head = np.random.RandomState(grad_seed).standard_normal(out.shape).astype(arrays[0].dtype)
    out.backward(mx.nd.array(head, dtype=head.dtype))
    return block, [out.asnumpy()] + [a.grad.asnumpy() for a in nd_in]


def _window_fn(name, impl, **kwargs):
    return lambda F, *arrays: getattr(ops, name)(F, *arrays, impl=impl, **kwargs)


@pytest.mark.parametrize('hybridize', [False, True], ids=['imperative', 'hybridized'])
@pytest.mark.parametrize('pad_mode', PAD_MODES)
@pytest.mark.parametrize('case', WINDOWS, ids=[c[0] for c in WINDOWS])
@pytest.mark.parametrize('name', list(kernel_spec.OPERATORS))
def test_window_operators_match_composite_forward_and_every_gradient(name, case, pad_mode,
                                                                    hybridize):
    kwargs = window_kwargs(case, pad_mode)
    if name == 'local_dot':
        kwargs['groups'] = 2
    arrays = inputs(name, case, pad_mode, dtype='float64')
    block, ours = _forward_backward(_window_fn(name, 'kernel', **kwargs), arrays, hybridize)
    _, reference = _forward_backward(_window_fn(name, 'composite', **kwargs), arrays, hybridize)
    if hybridize:
        assert 'gluon_convattn_' + name in _ops_in_graph(block)
    assert ours[0].shape == reference[0].shape
    for got, want in zip(ours, reference):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize('name', list(kernel_spec.OPERATORS))
def test_window_operators_float32_repeated_on_the_threaded_engine(name):
    case = WINDOWS[1]
    kwargs = window_kwargs(case, 0)
    if name == 'local_dot':
        kwargs['groups'] = 4
    arrays = inputs(name, case, 0, dtype='float32')
    _, reference = _forward_backward(_window_fn(name, 'composite', **kwargs), arrays, True)
    block = _Graph(_window_fn(name, 'kernel', **kwargs))
    block.hybridize(static_alloc=True, static_shape=True)
    for _ in range(3):
        nd_in = [mx.nd.array(a) for a in arrays]
        for a in nd_in:
            a.attach_grad()
        with autograd.record():
            out = block(*nd_in)
        head = np.random.RandomState(1).standard_normal(out.shape).astype('float32')
        out.backward(mx.nd.array(head))
        got = [out.asnumpy()] + [a.grad.asnumpy() for a in nd_in]
        for g, want in zip(got, reference):
            np.testing.assert_allclose(g, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('case', WINDOWS, ids=[c[0] for c in WINDOWS])
def test_output_shapes_follow_kernel_spec(case):
    """The C++ geometry of the MXNet operators and kernel_spec's formulas agree."""
    for name in kernel_spec.OPERATORS:
        arrays = inputs(name, case, 0, dtype='float32')
        kwargs = window_kwargs(case, 0)
        groups = 2 if name == 'local_dot' else None
        win = ops.composite.window(kwargs['kernel_size'], kwargs['stride'], kwargs['padding'],
                                   kwargs['dilation'], 0)
        params = dict(zip(win._fields, (str(v) for v in win)))
        if groups:
            params['groups'] = str(groups)
        symbols = [mx.sym.var('in%d' % i) for i in range(len(arrays))]
        out = getattr(mx.sym, 'gluon_convattn_' + name)(*symbols, **params)
        _, out_shapes, _ = out.infer_shape(**{'in%d' % i: a.shape for i, a in enumerate(arrays)})
        geom = kernel_spec.geometry(arrays[0].shape, *win)
        extra = kernel_spec.extra_arg(name, [a.shape for a in arrays], groups)
        assert tuple(out_shapes[0]) == tuple(kernel_spec.output_shape(name, geom, extra))


def test_a_wrong_weight_shape_is_named_by_the_operator():
    x, w = mx.sym.var('x'), mx.sym.var('w')
    out = mx.sym.gluon_convattn_aggregation(x, w, kernel='(3, 3)', stride='(1, 1)',
                                            padding='(1, 1)', dilation='(1, 1)', pad_mode='0')
    with pytest.raises(mx.base.MXNetError, match='the weights need shape'):
        out.infer_shape(x=(2, 8, 6, 5), w=(2, 3, 9, 30))


def test_float16_is_refused_with_a_way_out():
    out = mx.sym.gluon_convattn_batch_dot(mx.sym.var('a'), mx.sym.var('b'), transpose_a='0',
                                          transpose_b='0')
    with pytest.raises(mx.base.MXNetError, match='GLUON_CONVATTN_MXNET_OPS=0'):
        out.infer_type(a='float16', b='float16')


@pytest.mark.parametrize('transpose_a', [False, True])
@pytest.mark.parametrize('transpose_b', [False, True])
@pytest.mark.parametrize('hybridize', [False, True], ids=['imperative', 'hybridized'])
def test_batch_dot_matches_mxnet(transpose_a, transpose_b, hybridize):
    rs = np.random.RandomState(0)
    a = rs.standard_normal((5, 7, 13) if transpose_a else (5, 13, 7))
    b = rs.standard_normal((5, 35, 7) if transpose_b else (5, 7, 35))
    flags = dict(transpose_a=transpose_a, transpose_b=transpose_b)
    block, ours = _forward_backward(lambda F, x, y: ops.batch_dot(F, x, y, **flags), [a, b],
                                    hybridize)
    _, want = _forward_backward(lambda F, x, y: F.batch_dot(x, y, **flags), [a, b], hybridize)
    if hybridize:
        assert extension.BATCH_DOT in _ops_in_graph(block)
    for got, ref in zip(ours, want):
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize('hybridize', [False, True], ids=['imperative', 'hybridized'])
def test_layer_norm_gradients_accumulate_with_grad_req_add(hybridize):
    """MXNet gives these operators no write request: the parameters' gradients must still add
    up over two backward passes, through the copies :func:`extension.guarded` puts in."""
    norm = LayerNorm(in_channels=6)
    norm.initialize()
    norm.collect_params().setattr('grad_req', 'add')
    norm.gamma.set_data(mx.nd.array(np.linspace(0.5, 2, 6)))
    if hybridize:
        norm.hybridize(static_alloc=True, static_shape=True)
    x = mx.nd.array(np.random.RandomState(0).standard_normal((4, 6)))
    x.attach_grad(grad_req='add')
    grads = []
    for _ in range(2):
        with autograd.record():
            loss = (norm(x) * mx.nd.arange(24).reshape((4, 6))).sum()
        loss.backward()
        grads.append([p.grad().asnumpy().copy() for p in (norm.gamma, norm.beta)] +
                     [x.grad.asnumpy().copy()])
    if hybridize:
        assert extension.LAYER_NORM in _ops_in_graph(norm)
    for once, twice in zip(*grads):
        assert np.abs(once).max() > 0
        np.testing.assert_allclose(twice, 2 * once, rtol=1e-5, atol=1e-6)


def _one_and_two_backward_passes(block, arrays, tracked, weight=None):
    """The gradients of ``tracked`` (attached with grad_req 'add') after one and after two
    backward passes of ``(block(*arrays) * weight).sum()``."""
    for t in tracked:
        t.attach_grad(grad_req='add')
    grads = []
    for _ in range(2):
        with autograd.record():
            out = block(*arrays)
            loss = (out if weight is None else out * weight).sum()
        loss.backward()
        grads.append([t.grad.asnumpy().copy() for t in tracked])
    return grads


def test_window_operator_input_gradients_accumulate_with_grad_req_add():
    case = WINDOWS[0]
    kwargs = window_kwargs(case, 0)
    arrays = [mx.nd.array(a) for a in inputs('aggregation', case, 0, dtype='float32')]
    block = _Graph(_window_fn('aggregation', 'kernel', **kwargs), intermediate=False)
    block.hybridize(static_alloc=True, static_shape=True)
    once, twice = _one_and_two_backward_passes(block, arrays, arrays)
    assert 'gluon_convattn_aggregation' in _ops_in_graph(block)
    for a, b in zip(once, twice):
        np.testing.assert_allclose(b, 2 * a, rtol=1e-5, atol=1e-5)


def _layer_norm_graph_ops():
    block = _Graph(lambda F, x, g, b: ops.layer_norm(F, x, g, b))
    block.hybridize()
    block(mx.nd.ones((2, 4)), mx.nd.ones((4,)), mx.nd.zeros((4,)))
    ops_in = _ops_in_graph(block)
    return extension.LAYER_NORM in ops_in, 'Custom' in ops_in


def test_switched_off_by_the_environment_variable(monkeypatch):
    assert _layer_norm_graph_ops() == (True, False)
    monkeypatch.setenv(extension.ENV_VAR, '0')
    assert _layer_norm_graph_ops() == (False, True)


def test_not_used_when_mxnet_adds_gradients_in_place(monkeypatch):
    monkeypatch.setenv('MXNET_EXEC_ENABLE_ADDTO', '1')
    assert _layer_norm_graph_ops() == (False, True)


def test_not_used_for_a_graph_built_for_a_gpu():
    with mx.gpu(0):                 # only the context Gluon builds a graph in; no GPU needed
        assert not extension.usable(mx.sym, [mx.sym.var('x')])
    assert extension.usable(mx.sym, [mx.sym.var('x')])


def test_cpu_build_says_when_mxnet_headers_are_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(cpu_build, 'mxnet_api_dir', lambda: None)
    with pytest.raises(cpu_build.CompilerError, match='lib_api.h'):
        cpu_build.build_extension(str(tmp_path))
    assert not list(tmp_path.iterdir())


def test_a_library_that_does_not_load_warns_and_leaves_the_customops(tmp_path, monkeypatch):
    broken = tmp_path / 'libgluon_convattn_mxnet.so'
    broken.write_bytes(b'not a shared library')
    monkeypatch.setattr(cpu_build, 'PACKAGE_EXTENSION', str(broken))
    monkeypatch.setattr(extension, '_state', {})
    with pytest.warns(RuntimeWarning, match='did not load.*cpu_build'):
        assert not extension.loaded()
    assert not extension.usable(mx.sym, [mx.sym.var('x')])


def test_a_cpu_graph_exported_with_the_operators_loads_and_runs_again(tmp_path):
    """Importing the package registers the operators, so an exported CPU graph imports."""
    x = mx.nd.array(np.random.RandomState(0).standard_normal((2, 5, 8)))
    norm = LayerNorm(in_channels=8)
    norm.initialize()
    norm.hybridize()
    want = norm(x)
    assert extension.LAYER_NORM in _ops_in_graph(norm)
    norm.export(str(tmp_path / 'norm'))
    loaded = mx.gluon.SymbolBlock.imports(str(tmp_path / 'norm-symbol.json'), ['data'],
                                          str(tmp_path / 'norm-0000.params'))
    np.testing.assert_allclose(loaded(x).asnumpy(), want.asnumpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('hybridize', [False, True], ids=['imperative', 'hybridized'])
def test_mix_matches_its_composite_form_with_every_gradient(hybridize):
    rs = np.random.RandomState(3)
    arrays = [rs.standard_normal((2, 5, 3, 7)), rs.standard_normal((2, 5, 3, 7)),
              np.array([0.3]), np.array([-1.7])]

    def ours(F, a, b, r1, r2):
        return ops.mix(F, r1, r2, a, b)

    def composite(F, a, b, r1, r2):
        return mix_composite(F, r1, r2, a, b)
    block, got = _forward_backward(ours, arrays, hybridize)
    _, want = _forward_backward(composite, arrays, hybridize)
    if hybridize:
        assert extension.MIX in _ops_in_graph(block)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-10)


def test_mix_rates_accumulate_with_grad_req_add():
    """The rates are parameters: their gradients add up over two backward passes."""
    a, b = (mx.nd.array(np.random.RandomState(i).standard_normal((2, 3, 4))) for i in (0, 1))
    rates = [mx.nd.array([0.5]), mx.nd.array([2.0])]
    block = _Graph(lambda F, a, b, r1, r2: ops.mix(F, r1, r2, a, b), intermediate=False)
    block.hybridize(static_alloc=True, static_shape=True)
    once, twice = _one_and_two_backward_passes(block, [a, b] + rates, rates, weight=a)
    assert extension.MIX in _ops_in_graph(block)
    for r1, r2 in zip(once, twice):
        np.testing.assert_allclose(r2, 2 * r1, rtol=1e-5)


def test_reflection_padding_wider_than_the_input_is_refused_in_a_graph():
    """Shapes are known only when the graph runs: the operator checks what the Python checks
    of an imperative call check, instead of reading outside the input."""
    block = _Graph(_window_fn('subtraction2', 'kernel', kernel_size=7, padding=3, pad_mode=1))
    block.hybridize()
    small = [mx.nd.ones((1, 2, 3, 9)), mx.nd.ones((1, 2, 3, 9))]
    with pytest.raises(mx.base.MXNetError, match='reflection padding 3 needs inputs of at least 4'):
        block(*small).wait_to_read()
