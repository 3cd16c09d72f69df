"""The kernel sources on a real GPU, launched with CuPy (no MXNet on the GPU host), against
PyTorch references built from F.unfold, forward and backward, in float64, float32 and float16.

With ``GLUON_CONVATTN_SAN_UPSTREAM`` pointing at a checkout of hszhao/SAN, also runs the
upstream CuPy kernels on SAN's layer shapes: same values, and a timing table (printed, and
written as JSON to ``GLUON_CONVATTN_GPU_REPORT`` if that is set).
"""
import json
import os
import sys
import time
import types

import numpy as np
import pytest

from gpu_kernels import CupyKernels, Window, cupy, kernel_spec, torch, torch_reference

pytestmark = pytest.mark.gpu

UPSTREAM_ENV_VAR = 'GLUON_CONVATTN_SAN_UPSTREAM'
REPORT_ENV_VAR = 'GLUON_CONVATTN_GPU_REPORT'

# (name, batch, channels, weight channels, height, width, window): stride 2, dilation 2,
# kernels 3/5/7, non-square inputs and kernels, C/Cw 1 and 8, batch 3, padding past the centre.
CASES = [
    ('k3', 2, 8, 8, 6, 5, Window((3, 3), (1, 1), (1, 1), (1, 1), 0)),
    ('k3_stride2_batch3', 3, 8, 1, 7, 6, Window((3, 3), (2, 2), (1, 1), (1, 1), 0)),
    ('k5_dilation2', 2, 8, 2, 9, 8, Window((5, 5), (1, 1), (4, 4), (2, 2), 0)),
    ('k7_stride2_wide', 1, 16, 2, 8, 11, Window((7, 7), (2, 2), (3, 3), (1, 1), 0)),
    ('k3x5_pad2', 2, 4, 4, 6, 7, Window((3, 5), (1, 2), (2, 2), (1, 1), 0)),
]
OPS = [('aggregation', None), ('subtraction', None), ('subtraction2', None), ('local_dot', 1),
       ('local_dot', 4)]
# Max error relative to the reference's largest value. float16 inputs are rounded to half
# first and the reference runs in float64 on those values, so only the kernels' float32
# accumulation and the half rounding of the result count.
TOLERANCE = {'float64': 1e-10, 'float32': 1e-5, 'float16': 2e-3}


@pytest.fixture(scope='module')
def kernels():
    return CupyKernels()


def _inputs(op_name, case, dtype, rng):
    _, n, c, cw, h, w, win = case
    x = rng.randn(n, c, h, w).astype(dtype)
    if op_name == 'aggregation':
        ho, wo = kernel_spec.output_size(win.kernel, win.stride, win.padding, win.dilation, h,
                                         w)
        return [x, rng.randn(n, cw, win.kernel[0] * win.kernel[1], ho * wo).astype(dtype)]
    return [x] if op_name == 'subtraction' else [x, rng.randn(n, c, h, w).astype(dtype)]


def _relative_error(got, expected):
    expected = np.asarray(expected, dtype='float64')
    return float(np.abs(got.astype('float64') - expected).max() / np.abs(expected).max())


@pytest.mark.parametrize('dtype', ['float64', 'float32', 'float16'])
@pytest.mark.parametrize('pad_mode', [0, 1])
@pytest.mark.parametrize('case', CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize('op_name,groups', OPS, ids=['%s%s' % (o, '' if g is None else g)
                                                     for o, g in OPS])
def test_kernels_match_torch_unfold(kernels, op_name, groups, case, pad_mode, dtype):
    win = case[-1]._replace(pad_mode=pad_mode)
    rng = np.random.RandomState(0)
    arrays = _inputs(op_name, case, dtype, rng)
    ref_in = [torch.tensor(a.astype('float64'), device='cuda', requires_grad=True)
              for a in arrays]
    ref_out = torch_reference(op_name, ref_in, win, groups)
    grad_out = rng.randn(*ref_out.shape).astype(dtype)
    ref_grads = torch.autograd.grad(ref_out, ref_in, torch.tensor(grad_out.astype('float64'),
                                                                  device='cuda'))
    inputs = [cupy.asarray(a) for a in arrays]
    out = kernels.run(op_name, inputs, win, groups=groups)
    grads = kernels.run(op_name, inputs, win, grad_out=cupy.asarray(grad_out), groups=groups)
    assert out.shape == tuple(ref_out.shape) and out.dtype == arrays[0].dtype
    errors = [_relative_error(cupy.asnumpy(k), r.detach().cpu().numpy())
              for k, r in zip([out] + grads, [ref_out] + list(ref_grads))]
    assert max(errors) <= TOLERANCE[dtype], errors


# SAN10's layer shapes (stage 1 and stage 4 at 224 px, kernel 7, reflection padding 3).
SAN_SHAPES = [('stage1', 8, 64, 8, 56), ('stage4', 8, 512, 64, 7)]
SAN_WINDOW = Window((7, 7), (1, 1), (3, 3), (1, 1), 1)
UPSTREAM_NAMES = {'aggregation': 'aggregation_refpad', 'subtraction': 'subtraction_refpad',
                  'subtraction2': 'subtraction2_refpad'}


class _LegacyModule(object):
    """What upstream expects from ``cupy.cuda.compile_with_cache``: functions called as
    ``f(grid=..., block=..., args=[...], stream=<object with .ptr>)``."""

    def __init__(self, code):
        self.module = cupy.RawModule(code=code)

    def get_function(self, name):
        kernel = self.module.get_function(name)

        def call(grid, block, args, stream=None, shared_mem=0):
            ptr = 0 if stream is None else stream.ptr
            with cupy.cuda.ExternalStream(ptr):
                kernel(tuple(grid), tuple(block), tuple(args), shared_mem=shared_mem)
        return call


def _upstream_functions(path):
    """SAN's lib.sa.functions from the checkout at ``path``, with shims for the CuPy APIs
    newer CuPy removed (cupy.util.memoize, cupy.cuda.compile_with_cache)."""
    if not hasattr(cupy, 'util'):
        cupy.util = types.SimpleNamespace(memoize=cupy.memoize)
    if not hasattr(cupy.cuda, 'compile_with_cache'):
        cupy.cuda.compile_with_cache = _LegacyModule
    sys.path.insert(0, path)
    try:
        import lib.sa.functions as functions
    finally:
        sys.path.remove(path)
    return {op: getattr(functions, name) for op, name in UPSTREAM_NAMES.items()}


def _median_ms(step, repeat=10, warmup=3):
    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    return sorted(times)[len(times) // 2]


def test_kernels_against_upstream_san(kernels):
    path = os.environ.get(UPSTREAM_ENV_VAR)
    if not path:
        pytest.skip('set %s to a hszhao/SAN checkout to compare with its CuPy kernels'
                    % UPSTREAM_ENV_VAR)
    upstream = _upstream_functions(path)
    rows = []
    for op_name, fn in upstream.items():
        for stage, n, c, cw, size in SAN_SHAPES:
            case = (stage, n, c, cw, size, size, SAN_WINDOW)
            arrays = _inputs(op_name, case, 'float32', np.random.RandomState(0))
            inputs = [cupy.asarray(a) for a in arrays]
            t_in = [torch.tensor(a, device='cuda', requires_grad=True) for a in arrays]
            k = dict(kernel_size=7, stride=1, padding=3, dilation=1)
            expected = fn(*t_in, **k)
            grad_out = torch.randn_like(expected)
            expected_grads = torch.autograd.grad(expected, t_in, grad_out)
            ours = kernels.run(op_name, inputs, SAN_WINDOW)
            ours_grads = kernels.run(op_name, inputs, SAN_WINDOW,
                                     grad_out=cupy.asarray(grad_out.cpu().numpy()))
            errors = [_relative_error(cupy.asnumpy(a), b.detach().cpu().numpy()) for a, b in
                      zip([ours] + ours_grads, [expected] + list(expected_grads))]
            assert max(errors) <= 1e-5, (op_name, stage, errors)

            def upstream_step():
                out = fn(*t_in, **k)
                torch.autograd.grad(out, t_in, grad_out)

            g = cupy.asarray(grad_out.cpu().numpy())

            def ours_step():
                kernels.run(op_name, inputs, SAN_WINDOW)
                kernels.run(op_name, inputs, SAN_WINDOW, grad_out=g)

            rows.append(dict(op=op_name, shape='%s N%d C%d %dx%d k7' % (stage, n, c, size, size),
                             upstream_ms=_median_ms(upstream_step), ours_ms=_median_ms(ours_step),
                             max_rel_error=max(errors)))
    print('\n| op | shape | upstream fwd+bwd ms | ours fwd+bwd ms | max rel error |')
    print('|---|---|---:|---:|---:|')
    for r in rows:
        print('| %(op)s | %(shape)s | %(upstream_ms).2f | %(ours_ms).2f | %(max_rel_error).1e |'
              % r)
    if os.environ.get(REPORT_ENV_VAR):
        with open(os.environ[REPORT_ENV_VAR], 'w') as f:
            json.dump(rows, f, indent=1)
