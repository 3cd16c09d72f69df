"""Runs the kernels on a GPU through MXNet's runtime compilation (``mx.rtc.CudaModule``).

Each operator's source (``kernel_spec.source``: self-contained, no CUDA header needed) is
compiled once per process and device; kernel handles are cached per (kernel, dtype, device).
NVRTC targets the device's own architecture by default; an NVRTC older than the device (e.g.
mxnet-cu112's NVRTC 11.2 on an sm_90 GPU) rejects that, so the compile falls back to PTX for
older virtual architectures, which the driver compiles for the device. Set
``GLUON_CONVATTN_RTC_ARCH`` (e.g. ``compute_80``) to choose the architecture yourself.
"""
import os
import threading

import mxnet as mx

from . import kernel_spec

__all__ = ['RtcLauncher', 'available']

ARCH_ENV_VAR = 'GLUON_CONVATTN_RTC_ARCH'
FALLBACK_ARCHS = ('compute_80', 'compute_70')

_available = None


def available():
    """Whether this MXNet can compile and launch the kernels: a CUDA build with RTC and a GPU."""
    global _available
    if _available is None:
        features = mx.runtime.Features()
        _available = bool(features.is_enabled('CUDA') and features.is_enabled('CUDA_RTC')
                          and mx.context.num_gpus() > 0)
    return _available


def _arch_options():
    arch = os.environ.get(ARCH_ENV_VAR)
    if arch:
        return [('--gpu-architecture=' + arch,)]
    return [()] + [('--gpu-architecture=' + a,) for a in FALLBACK_ARCHS]


class RtcLauncher(object):
    """Launches kernels on GPU NDArrays with ``mx.rtc``; see :mod:`gluon_convattn.ops.custom`."""
    name = 'rtc'
    dtypes = tuple(kernel_spec.DTYPES)

    def __init__(self):
        self._modules = {}
        self._kernels = {}
        self._lock = threading.Lock()

    def _module(self, op_name, device_id):
        key = (op_name, device_id)
        if key not in self._modules:
            text, first_error = kernel_spec.source(op_name), None
            for options in _arch_options():
                try:
                    self._modules[key] = mx.rtc.CudaModule(
                        text, options=kernel_spec.NVRTC_OPTIONS + options)
                    break
                except mx.base.MXNetError as err:
                    first_error = first_error or err
            else:
                raise RuntimeError('NVRTC could not compile the %s kernels: %s'
                                   % (op_name, first_error))
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
        self.kernel(kernel, dtype, ctx).launch(list(arrays) + [int(i) for i in ints], ctx, grid,
                                               block)
