"""The production CPU kernels: the library the install step builds with OpenMP, used by
``impl='kernel'`` and ``'auto'`` on the CPU, against the composite operators."""
import os
import warnings

import mxnet as mx
import numpy as np
import pytest

from gluon_convattn import ops
from gluon_convattn.ops import cpu_build, cpu_kernels, custom, kernel_spec
from ops_cases import PAD_MODES, WINDOWS, inputs, run, window_kwargs

OP_CASES = [('aggregation', None), ('subtraction', None), ('subtraction2', None),
            ('local_dot', 1), ('local_dot', 4)]
OP_IDS = ['%s%s' % (op, '' if g is None else '_groups%d' % g) for op, g in OP_CASES]


def test_install_built_the_library_and_kernels_serve_the_cpu():
    assert os.path.isfile(cpu_build.PACKAGE_LIBRARY), (
        'the install step did not build %s' % cpu_build.PACKAGE_LIBRARY)
    launcher = custom.get_launcher('cpu')
    assert isinstance(launcher, cpu_kernels.CtypesLauncher)
    assert launcher.library == cpu_build.PACKAGE_LIBRARY
    assert set(launcher.dtypes) == {'float32', 'float64'}
    x = mx.nd.ones((1, 2, 5, 5))
    assert ops.resolve_impl(mx.nd, None, x) == 'kernel'
    assert ops.resolve_impl(mx.sym, None) == 'kernel'


def test_library_exports_every_kernel_of_every_dtype():
    launcher = custom.get_launcher('cpu')
    for operator in kernel_spec.OPERATORS.values():
        for kernel in [operator.forward] + list(operator.backward.values()):
            for dtype in launcher.dtypes:
                assert launcher.function(kernel, dtype) is not None


def test_cpu_loop_orders_serve_the_operators_that_have_them(emulated_library):
    """The production library's plane-by-plane CPU loops (kernels/cpu/) run aggregation,
    subtraction2 and local_dot; subtraction keeps the CUDA loop body; the single-threaded
    test build has no CPU loops, so the emulated tests run the CUDA loop bodies."""
    import ctypes
    launcher = custom.get_launcher('cpu')
    for op_name, operator in kernel_spec.OPERATORS.items():
        suffix = '' if op_name == 'subtraction' else '_cpu'
        for kernel in [operator.forward] + list(operator.backward.values()):
            for dtype in launcher.dtypes:
                assert launcher.function(kernel, dtype).__name__ == \
                    kernel_spec.entry_name(kernel, dtype) + suffix
    emulated = ctypes.CDLL(emulated_library)
    assert hasattr(emulated, 'aggregation_forward_float')
    assert not hasattr(emulated, 'aggregation_forward_float_cpu')


def _errors(launcher, op_name, groups, case, pad_mode, dtype, hybridize=False):
    extra = {} if groups is None else {'groups': groups}
    win = window_kwargs(case, pad_mode)
    arrays = inputs(op_name, case, pad_mode, dtype=dtype)
    kernel = run(op_name, arrays, 'kernel', hybridize=hybridize, **extra, **win)
    mx.nd.waitall()
    operator = kernel_spec.OPERATORS[op_name]
    assert sorted(set(launcher.launched)) == sorted(
        [operator.forward.name] + [k.name for k in operator.backward.values()])
    composite = run(op_name, arrays, 'composite', **extra, **win)
    scale = max(np.abs(v).max() for v in [composite[0]] + composite[1])
    return [float(np.abs(k - c).max()) / scale for k, c in zip([kernel[0]] + kernel[1],
                                                              [composite[0]] + composite[1])]


@pytest.mark.parametrize('pad_mode', PAD_MODES)
@pytest.mark.parametrize('case', WINDOWS, ids=[c[0] for c in WINDOWS])
@pytest.mark.parametrize('op_name,groups', OP_CASES, ids=OP_IDS)
def test_openmp_kernels_match_composite_float64(openmp_kernels, op_name, groups, case,
                                                pad_mode):
    """Forward and every input gradient; strides, dilation, odd and non-square sizes, a
    non-square kernel, padding beyond the centre, zero and reflection padding."""
    errors = _errors(openmp_kernels, op_name, groups, case, pad_mode, 'float64')
    assert max(errors) <= 1e-10, errors


@pytest.mark.parametrize('pad_mode', PAD_MODES)
@pytest.mark.parametrize('op_name,groups', OP_CASES, ids=OP_IDS)
def test_openmp_kernels_match_composite_float32_hybridized(openmp_kernels, op_name, groups,
                                                           pad_mode):
    errors = _errors(openmp_kernels, op_name, groups, WINDOWS[3], pad_mode, 'float32',
                     hybridize=True)
    assert max(errors) <= 1e-5, errors


def test_float16_on_the_cpu_is_refused_by_the_openmp_kernels():
    x = mx.nd.ones((1, 2, 5, 5), dtype='float16')
    with pytest.raises(ValueError, match='ops.subtraction: float16 input needs a GPU'):
        ops.subtraction(mx.nd, x, kernel_size=3, padding=1, impl='kernel')


def test_missing_library_warns_once_and_composite_runs(monkeypatch, tmp_path):
    monkeypatch.setattr(cpu_build, 'PACKAGE_LIBRARY', str(tmp_path / 'absent.so'))
    monkeypatch.setattr(cpu_kernels, '_loaded', {})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        assert cpu_kernels.launcher() is None
        assert cpu_kernels.launcher() is None
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1
    assert 'python -m gluon_convattn.ops.cpu_build' in messages[0]
    assert 'absent.so' in messages[0]
    with custom.use_launcher('cpu', None):
        x = mx.nd.random.normal(shape=(1, 2, 6, 6))
        assert ops.resolve_impl(mx.nd, None, x) == 'composite'
        np.testing.assert_allclose(
            ops.subtraction(mx.nd, x, kernel_size=3, padding=1, impl='kernel').asnumpy(),
            ops.subtraction(mx.nd, x, kernel_size=3, padding=1, impl='composite').asnumpy())


def test_build_without_a_compiler_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv('CXX', '')
    monkeypatch.setattr(cpu_build.shutil, 'which', lambda name: None)
    with pytest.raises(cpu_build.CompilerError, match='no C\\+\\+ compiler found'):
        cpu_build.build(str(tmp_path))
    assert cpu_build.main(['--out-dir', str(tmp_path)]) == 1


def test_build_writes_a_loadable_library(tmp_path):
    library = cpu_build.build(str(tmp_path), 'libprobe.so')
    assert os.listdir(str(tmp_path)) == ['libprobe.so']
    launcher = cpu_kernels.CtypesLauncher(library)
    assert launcher.function(kernel_spec.OPERATORS['aggregation'].forward, 'float32')


def test_a_failed_build_leaves_the_previous_library_and_nothing_else(tmp_path, monkeypatch):
    library = cpu_build.build(str(tmp_path), 'libprobe.so')
    before = open(library, 'rb').read()
    broken = tmp_path / 'broken.cc'
    broken.write_text('this is not C++\n')
    real_sources = cpu_build._sources
    monkeypatch.setattr(cpu_build, '_sources', lambda cpu_loops: real_sources(cpu_loops) + [
        str(broken)])
    with pytest.raises(cpu_build.CompilerError, match='broken.cc'):
        cpu_build.build(str(tmp_path), 'libprobe.so')
    assert sorted(os.listdir(str(tmp_path))) == ['broken.cc', 'libprobe.so']
    assert open(library, 'rb').read() == before


def test_use_launcher_restores_the_default_launcher():
    """A block that installs no launcher must not leave the CPU without its default one."""
    from gluon_convattn.ops.custom import _LAUNCHERS
    saved = _LAUNCHERS.pop('cpu', None)
    try:
        with custom.use_launcher('cpu', None):
            assert custom.get_launcher('cpu') is None
        assert isinstance(custom.get_launcher('cpu'), cpu_kernels.CtypesLauncher)
    finally:
        if saved is not None:
            _LAUNCHERS['cpu'] = saved
