"""Runs the kernels on a GPU through MXNet's runtime compilation (``mx.rtc.CudaModule``).

Each operator's source (``kernel_spec.source``: self-contained, no CUDA header needed) is
compiled once per process and device; kernel handles are cached per (kernel, dtype, device).

Architecture: NVRTC given no ``--gpu-architecture`` emits PTX for its default (compute_52 in
CUDA 11), whatever the device. So the compile names one explicitly: the newest virtual
architecture that the NVRTC MXNet loaded supports (``nvrtcGetSupportedArchs``) and that is not
newer than the device's compute capability. An sm_90 GPU (H100, H200) with the NVRTC 11.8 of
the ``[gpu]`` extra gets compute_90 PTX; with an NVRTC 11.2..11.7 (no sm_90) it gets compute_86
or compute_80 PTX. The driver compiles that PTX for the device when the module is loaded, so any
GPU at least as new as the chosen architecture runs it. Set ``GLUON_CONVATTN_RTC_ARCH`` (e.g.
``compute_80``) to choose the architecture yourself.

Thread safety: MXNet's ``CudaModule::Kernel::Launch`` fills per-device maps (the loaded
``CUmodule`` and ``CUfunction``) on its first call for a device, without a lock, and CustomOps
run on MXNet's worker threads; so the first launch of each (kernel, dtype, device) happens under
the launcher's lock, later ones without it. Modules and kernels are freed in an ``atexit`` hook,
while the driver is still there, rather than by the garbage collector at interpreter exit.
"""
import atexit
import ctypes
import os
import threading

import mxnet as mx

from .. import cuda_libs
from . import kernel_spec

__all__ = ['RtcLauncher', 'available', 'nvrtc_supported_archs', 'device_compute_capability',
           'choose_arch', 'arch_option']

ARCH_ENV_VAR = 'GLUON_CONVATTN_RTC_ARCH'
_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76

_available = None


def available():
    """Whether this MXNet can compile and launch the kernels: a CUDA build with RTC and a GPU."""
    global _available
    if _available is None:
        features = mx.runtime.Features()
        _available = bool(features.is_enabled('CUDA') and features.is_enabled('CUDA_RTC')
                          and mx.context.num_gpus() > 0)
    return _available


def _nvrtc():
    """The NVRTC library libmxnet.so is linked against (already loaded by MXNet)."""
    names = [n for n in cuda_libs.needed_libraries(os.path.join(
        os.path.dirname(mx.__file__), 'libmxnet.so')) if n.startswith('libnvrtc.so')]
    return ctypes.CDLL(names[0] if names else 'libnvrtc.so')


def nvrtc_supported_archs():
    """The architectures (e.g. ``[35, ..., 86, 87, 89, 90]``) MXNet's NVRTC compiles for."""
    lib = _nvrtc()
    count = ctypes.c_int()
    if lib.nvrtcGetNumSupportedArchs(ctypes.byref(count)) != 0:
        raise RuntimeError('nvrtcGetNumSupportedArchs failed')
    archs = (ctypes.c_int * count.value)()
    if lib.nvrtcGetSupportedArchs(archs) != 0:
        raise RuntimeError('nvrtcGetSupportedArchs failed')
    return sorted(archs)


def device_compute_capability(device_id):
    """The compute capability of GPU ``device_id`` as an int (80 for sm_80), from the driver."""
    device, major, minor = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    try:
        lib = ctypes.CDLL(cuda_libs.DRIVER)
        status = lib.cuInit(0) or lib.cuDeviceGet(ctypes.byref(device), int(device_id))
        status = status or lib.cuDeviceGetAttribute(
            ctypes.byref(major), _CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device)
        status = status or lib.cuDeviceGetAttribute(
            ctypes.byref(minor), _CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device)
    except (OSError, AttributeError) as err:    # no driver, or one without these functions
        status = str(err)
    if status:
        raise RuntimeError('the CUDA driver cannot tell GPU %d\'s compute capability (%s); set '
                           '%s (e.g. compute_80)' % (device_id, status, ARCH_ENV_VAR))
    return major.value * 10 + minor.value


def choose_arch(compute_capability, supported):
    """``compute_XY``: the newest of ``supported`` not newer than ``compute_capability``."""
    usable = [a for a in supported if a <= compute_capability]
    if not usable:
        raise RuntimeError('NVRTC supports %s, all newer than this GPU (sm_%d): the kernels '
                           'cannot be compiled for it' % (supported, compute_capability))
    return 'compute_%d' % max(usable)


def arch_option(device_id):
    """The ``--gpu-architecture`` option for GPU ``device_id`` (``GLUON_CONVATTN_RTC_ARCH``
    overrides it)."""
    arch = os.environ.get(ARCH_ENV_VAR) or choose_arch(device_compute_capability(device_id),
                                                        nvrtc_supported_archs())
    return '--gpu-architecture=' + arch


class RtcLauncher(object):
    """Launches kernels on GPU NDArrays with ``mx.rtc``; see :mod:`gluon_convattn.ops.custom`."""
    name = 'rtc'
    dtypes = tuple(kernel_spec.DTYPES)

    def __init__(self):
        self._modules = {}
        self._kernels = {}
        self._launched = set()
        self._lock = threading.Lock()
        atexit.register(self.close)

    def _module(self, op_name, device_id):
        key = (op_name, device_id)
        if key not in self._modules:
            options = kernel_spec.NVRTC_OPTIONS + (arch_option(device_id),)
            try:
                self._modules[key] = mx.rtc.CudaModule(kernel_spec.source(op_name),
                                                       options=options)
            except mx.base.MXNetError as err:
                raise RuntimeError('NVRTC could not compile the %s kernels with %s: %s'
                                   % (op_name, ' '.join(options), err))
        return self._modules[key]

    def kernel(self, kernel, dtype, ctx):
        """The cached ``mx.rtc.CudaKernel`` of ``kernel`` for ``dtype`` on ``ctx``."""
        key = (kernel.name, dtype, ctx.device_id)
        with self._lock:
            if key not in self._kernels:
                module = self._module(kernel.op, ctx.device_id)
                self._kernels[key] = module.get_kernel(kernel_spec.entry_name(kernel, dtype),
                                                       kernel_spec.rtc_signature(kernel, dtype))
            return self._kernels[key]

    def launch(self, kernel, dtype, ctx, arrays, ints):
        """Run ``kernel`` on ``arrays`` (reads..., written) with the int arguments ``ints``."""
        kernel_spec.check_index_range(*(a.size for a in arrays))
        grid, block = kernel_spec.launch_config(arrays[-1].size)
        args = list(arrays) + [int(i) for i in ints]
        key = (kernel.name, dtype, ctx.device_id)
        if key in self._launched:
            self._kernels[key].launch(args, ctx, grid, block)
            return
        handle = self.kernel(kernel, dtype, ctx)
        with self._lock:
            handle.launch(args, ctx, grid, block)
            self._launched.add(key)

    def close(self):
        """Wait for queued work, then free the kernels and modules (registered with atexit)."""
        with self._lock:
            if self._modules:
                mx.nd.waitall()
            self._launched.clear()
            self._kernels.clear()
            self._modules.clear()
