"""The CUDA build of MXNet (the [gpu] extra) on a machine without a GPU: run by
``make test-gpu-build`` with the no-device stand-in driver on LD_LIBRARY_PATH (see
no_device_driver.py). It imports, reports CUDA and RTC, sees no GPU, and NVRTC compiles every
kernel of every dtype with every signature through ``mx.rtc``, as on a GPU host."""
import ctypes
import os
import shutil
import subprocess
import sys

import pytest

import gluon_convattn
from gluon_convattn import cuda_libs

import mxnet as mx  # noqa: E402  (after gluon_convattn, which loads the CUDA libraries)

from gluon_convattn import ops
from gluon_convattn.ops import custom, kernel_spec, rtc  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import no_device_driver  # noqa: E402

pytestmark = pytest.mark.gpu_build
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _mapped_libraries():
    with open('/proc/self/maps') as f:
        return {line.split()[-1] for line in f if '/' in line}


def test_mxnet_is_the_cuda_build_on_the_stand_in_driver():
    assert cuda_libs.mxnet_needs_cuda()
    driver = ctypes.CDLL(cuda_libs.DRIVER)
    assert hasattr(driver, 'gluon_convattn_stand_in'), 'a real driver is loaded, not the stand-in'
    # the stand-in defines exactly what libmxnet.so takes from the driver
    imports = no_device_driver.driver_imports(no_device_driver.libmxnet_path())
    assert 'cuLaunchKernel' in imports and 'cuModuleLoadDataEx' in imports
    assert all(hasattr(driver, name) for name in imports)


def test_every_cuda_library_is_loaded_once_from_the_wheels_or_the_host():
    mapped = _mapped_libraries()
    for _, soname in cuda_libs.LIBRARIES:
        paths = {p for p in mapped if os.path.basename(p) == soname}
        assert len(paths) == 1, (soname, paths)


def test_features_and_no_gpu():
    features = mx.runtime.Features()
    assert features.is_enabled('CUDA') and features.is_enabled('CUDA_RTC')
    assert features.is_enabled('CUDNN')
    assert mx.context.num_gpus() == 0
    assert not rtc.available()
    # with no GPU, 'auto' picks the kernels only where the CPU library serves them
    assert ops.resolve_impl(mx.sym, None) == 'kernel'
    with custom.use_launcher('cpu', None):
        assert ops.resolve_impl(mx.sym, None) == 'composite'
    assert mx.nd.ones((2, 3)).sum().asscalar() == 6


def test_nvrtc_compiles_for_hopper():
    archs = rtc.nvrtc_supported_archs()
    assert 90 in archs and 80 in archs
    assert rtc.choose_arch(90, archs) == 'compute_90'
    assert rtc.choose_arch(89, archs) == 'compute_89'


@pytest.mark.parametrize('compute_capability', [80, 90])
def test_every_kernel_compiles_and_every_signature_is_accepted(compute_capability,
                                                               monkeypatch):
    arch = rtc.choose_arch(compute_capability, rtc.nvrtc_supported_archs())
    monkeypatch.setenv(rtc.ARCH_ENV_VAR, arch)   # no device to ask for its capability
    launcher = rtc.RtcLauncher()
    ctx = mx.gpu(0)     # a context object only: nothing is launched
    handles = []
    for op in kernel_spec.OPERATORS.values():
        for kernel in [op.forward] + list(op.backward.values()):
            for dtype in kernel_spec.DTYPES:
                handles.append(launcher.kernel(kernel, dtype, ctx))
    assert len(handles) == 33 and all(isinstance(h, mx.rtc.CudaKernel) for h in handles)
    assert len(launcher._modules) == len(kernel_spec.OPERATORS)
    launcher.close()
    assert not launcher._modules and not launcher._kernels


def test_a_bad_signature_is_refused():
    module = mx.rtc.CudaModule(kernel_spec.source('subtraction'), options=kernel_spec.NVRTC_OPTIONS
                               + ('--gpu-architecture=compute_80',))
    kernel = kernel_spec.OPERATORS['subtraction'].forward
    with pytest.raises(TypeError):
        module.get_kernel(kernel_spec.entry_name(kernel, 'float32'), 'const float *x, bogus n')


def test_the_architecture_needs_a_device_or_the_variable(monkeypatch):
    monkeypatch.delenv(rtc.ARCH_ENV_VAR, raising=False)
    with pytest.raises(RuntimeError, match='compute capability'):
        rtc.arch_option(0)


def _import_in_subprocess(ld_library_path):
    env = dict(os.environ, LD_LIBRARY_PATH=ld_library_path, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, '-c', 'import gluon_convattn'], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_host_without_a_driver_gets_one_clear_error(tmp_path):
    proc = _import_in_subprocess(str(tmp_path))
    assert proc.returncode != 0
    assert 'CudaLibraryError' in proc.stdout and 'no NVIDIA driver' in proc.stdout
    assert proc.stdout.count('Traceback') == 1, proc.stdout   # no chained OSError


def test_a_host_cuda_library_on_the_loader_path_is_preferred(tmp_path):
    """A host with its own CUDA 11 keeps it: what the loader finds is not replaced by a wheel's."""
    nvtx, = [os.path.join(d, 'libnvToolsExt.so.1') for d in cuda_libs.wheel_library_dirs('nvtx')]
    host = tmp_path / 'host_cuda'
    host.mkdir()
    shutil.copy(nvtx, str(host / 'libnvToolsExt.so.1'))
    code = ('import gluon_convattn; print([l.split()[-1] for l in open("/proc/self/maps") '
            'if "libnvToolsExt" in l][0])')
    env = dict(os.environ, PYTHONPATH=ROOT, LD_LIBRARY_PATH='%s:%s' % (
        host, os.environ.get('LD_LIBRARY_PATH', '')))     # the stand-in driver's directory too
    proc = subprocess.run([sys.executable, '-c', code], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.strip() == str(host / 'libnvToolsExt.so.1')


def test_a_missing_library_is_named(monkeypatch):
    monkeypatch.setattr(cuda_libs, '_done', False)
    with pytest.raises(cuda_libs.CudaLibraryError, match='libnot_there.so.1'):
        cuda_libs.preload([('not_a_wheel', 'libnot_there.so.1')])


SCRIPT_ARGS = {'benchmark.py': ['--list']}


def test_every_script_imports_the_package_before_mxnet():
    """With only the stand-in driver on the loader path, a script that imported mxnet before
    gluon_convattn would fail to load libcudnn.so.8 and the other wheel libraries."""
    scripts = sorted(n for n in os.listdir(os.path.join(ROOT, 'scripts')) if n.endswith('.py'))
    env = dict(os.environ, PYTHONPATH=ROOT)
    procs = {name: subprocess.Popen(
        [sys.executable, os.path.join(ROOT, 'scripts', name)] + SCRIPT_ARGS.get(name, ['--help']),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for name in scripts}
    for name, proc in procs.items():
        out = proc.communicate()[0]
        assert proc.returncode == 0, '%s:\n%s' % (name, out[-2000:])


def test_libmxnet_carries_sass_up_to_sm86_and_no_ptx():
    """What the README's GPU list rests on: without PTX or sm_90 SASS, MXNet's own operators
    cannot run on Hopper (H100, H200), whatever the RTC kernels do."""
    sys.path.insert(0, os.path.join(ROOT, 'tools'))
    import fatbin_archs
    entries = fatbin_archs.fatbin_entries(no_device_driver.libmxnet_path())
    assert {arch for kind, arch in entries if kind == 'SASS'} == {50, 60, 70, 80, 86}
    assert not [arch for kind, arch in entries if kind == 'PTX']
