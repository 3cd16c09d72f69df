"""The CUDA kernels, compiled for the CPU (ops/kernels/emulation.h) and launched through the
same CustomOps as on a GPU, against the composite operators, forward and backward."""
import mxnet as mx
import numpy as np
import pytest

from gluon_convattn import ops
from gluon_convattn.ops import custom, kernel_spec
from ops_cases import PAD_MODES, WINDOWS, OpBlock, inputs, run, window_kwargs

OP_CASES = [('aggregation', None), ('subtraction', None), ('subtraction2', None),
            ('local_dot', 1), ('local_dot', 4)]
OP_IDS = ['%s%s' % (op, '' if g is None else '_groups%d' % g) for op, g in OP_CASES]


def _extra(groups):
    return {} if groups is None else {'groups': groups}


def _max_error(a, b):
    return float(np.abs(a - b).max())


def _compare(launcher, op_name, groups, case, pad_mode, dtype, hybridize=False):
    """Max error of the kernel path against composite, output and each input gradient,
    relative to the largest composite value; checks that every kernel of the op ran."""
    win, extra = window_kwargs(case, pad_mode), _extra(groups)
    arrays = inputs(op_name, case, pad_mode, dtype=dtype)
    kernel = run(op_name, arrays, 'kernel', hybridize=hybridize, **extra, **win)
    mx.nd.waitall()
    operator = kernel_spec.OPERATORS[op_name]
    assert sorted(launcher.launched) == sorted(
        [operator.forward.name] + [k.name for k in operator.backward.values()])
    composite = run(op_name, arrays, 'composite', **extra, **win)
    assert kernel[0].shape == composite[0].shape
    scale = max(np.abs(v).max() for v in [composite[0]] + composite[1])
    return [_max_error(k, c) / scale for k, c in zip([kernel[0]] + kernel[1],
                                                    [composite[0]] + composite[1])]


@pytest.mark.parametrize('pad_mode', PAD_MODES)
@pytest.mark.parametrize('case', WINDOWS, ids=[c[0] for c in WINDOWS])
@pytest.mark.parametrize('op_name,groups', OP_CASES, ids=OP_IDS)
def test_kernels_match_composite_float64(emulated_kernels, op_name, groups, case, pad_mode):
    errors = _compare(emulated_kernels, op_name, groups, case, pad_mode, 'float64')
    assert max(errors) <= 1e-10, errors


@pytest.mark.parametrize('pad_mode', PAD_MODES)
@pytest.mark.parametrize('op_name,groups', OP_CASES, ids=OP_IDS)
def test_kernels_match_composite_float32(emulated_kernels, op_name, groups, pad_mode):
    errors = _compare(emulated_kernels, op_name, groups, WINDOWS[3], pad_mode, 'float32')
    assert max(errors) <= 1e-5, errors


@pytest.mark.parametrize('op_name,groups', OP_CASES, ids=OP_IDS)
def test_hybridized_kernel_graph_matches_composite(emulated_kernels, op_name, groups):
    errors = _compare(emulated_kernels, op_name, groups, WINDOWS[4], 1, 'float64',
                      hybridize=True)
    assert max(errors) <= 1e-10, errors


@pytest.mark.parametrize('op_name,groups', OP_CASES, ids=OP_IDS)
def test_float16_kernels_accumulate_in_float32(emulated_kernels, op_name, groups):
    """Half inputs through the half kernels (float32 accumulation) against float64 on the same
    half-rounded values: within a few half ulps of the result's scale."""
    case, win, extra = WINDOWS[1], window_kwargs(WINDOWS[1], 1), _extra(groups)
    arrays = inputs(op_name, case, 1, dtype='float16')
    half = run(op_name, arrays, 'kernel', **extra, **win)
    assert emulated_kernels.launched
    exact = run(op_name, [a.astype('float64') for a in arrays], 'composite', **extra, **win)
    for h, e in zip([half[0]] + half[1], [exact[0]] + exact[1]):
        assert h.dtype == np.float16
        np.testing.assert_allclose(h.astype('float64'), e, rtol=0,
                                   atol=2e-3 * np.abs(e).max())


def test_gradients_accumulate_with_grad_req_add(emulated_kernels):
    case = WINDOWS[0]
    win = window_kwargs(case, 1)
    x, w = [mx.nd.array(a, dtype='float64') for a in inputs('aggregation', case, 1)]
    grads = []
    for req, steps in (('write', 1), ('add', 2)):
        x.attach_grad(grad_req=req)
        w.attach_grad(grad_req=req)
        for _ in range(steps):
            with mx.autograd.record():
                out = ops.aggregation(mx.nd, x, w, impl='kernel', **win)
            out.backward()
        grads.append((x.grad.asnumpy(), w.grad.asnumpy()))
    np.testing.assert_allclose(grads[1][0], 2 * grads[0][0], rtol=1e-12)
    np.testing.assert_allclose(grads[1][1], 2 * grads[0][1], rtol=1e-12)


@pytest.mark.parametrize('op_name,groups', [OP_CASES[0], OP_CASES[4]], ids=[OP_IDS[0],
                                                                             OP_IDS[4]])
def test_kernel_graph_without_cpu_launcher_falls_back_to_composite(op_name, groups):
    """A kernel graph (e.g. hybridized on a GPU host) run on a CPU where no kernels were
    built: the CustomOp computes the composite operator, forward and backward."""
    case, win, extra = WINDOWS[2], window_kwargs(WINDOWS[2], 1), _extra(groups)
    arrays = inputs(op_name, case, 1)
    with custom.use_launcher('cpu', None):
        fallback = run(op_name, arrays, 'kernel', hybridize=True, **extra, **win)
    composite = run(op_name, arrays, 'composite', **extra, **win)
    for a, b in zip([fallback[0]] + fallback[1], [composite[0]] + composite[1]):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


class MixedOps(mx.gluon.HybridBlock):
    """SAN's pattern: subtraction2 and subtraction feed weights that aggregation applies, plus
    local_dot, all in one graph (each CustomOp type in the backward of the same pass)."""

    def __init__(self, impl, **win):
        super(MixedOps, self).__init__()
        self.impl, self.win = impl, win

    def hybrid_forward(self, F, x1, x2):
        relation = ops.subtraction2(F, x1, x2, impl=self.impl, **self.win)
        position = ops.subtraction(F, x1, impl=self.impl, **self.win)
        logits = ops.local_dot(F, x1, x2, 4, impl=self.impl, **self.win)
        weights = F.concat(relation + position, logits, dim=1).sum(axis=1, keepdims=True)
        return ops.aggregation(F, x2, weights, impl=self.impl, **self.win)


@pytest.mark.parametrize('hybridize', [False, True])
@pytest.mark.parametrize('launcher', ['emulated', 'none'])
def test_operators_mixed_in_one_graph(request, launcher, hybridize):
    """Different CustomOp types in one backward pass: with the emulated kernels, and with no
    CPU launcher (the composite computed inside every CustomOp)."""
    if launcher == 'emulated':
        request.getfixturevalue('emulated_kernels')
    case = WINDOWS[1]
    win = window_kwargs(case, 1)
    arrays = inputs('subtraction2', case, 1)
    results = {}
    for impl in ('kernel', 'composite'):
        nd_in = [mx.nd.array(a, dtype='float64') for a in arrays]
        for a in nd_in:
            a.attach_grad()
        block = MixedOps(impl, **win)
        if hybridize:
            block.hybridize()
        with mx.autograd.record():
            out = block(*nd_in)
        out.backward(mx.nd.array(np.random.RandomState(1).randn(*out.shape), dtype='float64'))
        results[impl] = [out.asnumpy()] + [a.grad.asnumpy() for a in nd_in]
    for k, c in zip(results['kernel'], results['composite']):
        np.testing.assert_allclose(k, c, rtol=1e-10, atol=1e-10 * np.abs(c).max())


def test_kernel_graph_exports_as_custom_op(emulated_kernels, tmp_path):
    """Export works for kernel graphs too; loading needs gluon_convattn imported (it registers
    the CustomOps)."""
    case, win = WINDOWS[0], window_kwargs(WINDOWS[0], 1)
    x, w = (mx.nd.array(a, dtype='float32') for a in inputs('aggregation', case, 1))
    block = OpBlock('aggregation', 'kernel', **win)
    block.hybridize()
    expected = block(x, w).asnumpy()
    block.export(str(tmp_path / 'agg'))
    assert 'gluon_convattn_aggregation' in open(str(tmp_path / 'agg-symbol.json')).read()
    imported = mx.gluon.SymbolBlock.imports(str(tmp_path / 'agg-symbol.json'),
                                            ['data0', 'data1'])
    np.testing.assert_allclose(imported(x, w).asnumpy(), expected, rtol=1e-6)


def test_launch_config_covers_with_grid_stride_and_rejects_huge_arrays():
    assert kernel_spec.launch_config(1) == ((1, 1, 1), (kernel_spec.THREADS, 1, 1))
    assert kernel_spec.launch_config(1000)[0][0] == 4
    grid, block = kernel_spec.launch_config(2 ** 30)
    assert grid[0] == kernel_spec.MAX_BLOCKS and block[0] == kernel_spec.THREADS
    with pytest.raises(ValueError, match='too large for the sliding-window kernels'):
        kernel_spec.launch_config(2 ** 31)


def test_rtc_signatures_name_every_argument():
    sig = kernel_spec.rtc_signature(kernel_spec.OPERATORS['aggregation'].backward['w'],
                                    'float16')
    assert sig.startswith('const __half *grad_out, const __half *x, __half *grad_w, int num,')
    assert sig.endswith('int pad_mode, int weight_channels')
    assert kernel_spec.entry_name(kernel_spec.OPERATORS['local_dot'].forward,
                                  'float64') == 'local_dot_forward_double'
