"""The kernels compiled for the CPU with g++ (``kernels/emulation.h``) and launched by ctypes.

This is how the test suite runs the real kernel code, forward and backward, through the same
CustomOp plumbing as the GPU (``custom.use_launcher('cpu', EmulatedLauncher(build(dir)))``),
and how ``scripts/benchmarks/ops.py`` times it on the CPU. It runs one thread and is meant for
checking, not speed.
"""
import ctypes
import hashlib
import os
import subprocess
import tempfile

import numpy as np
import mxnet as mx

from . import kernel_spec

__all__ = ['build', 'cached_build', 'EmulatedLauncher']

LIBRARY = 'libgluon_convattn_emulated.so'


def build(out_dir=None, compiler='g++', flags=('-O2',)):
    """Compile every kernel source into ``out_dir/libgluon_convattn_emulated.so``.

    The sources compile in parallel (one g++ per operator) and link into one library.
    Returns the library's path; raises RuntimeError with the compiler's output on failure.
    """
    out_dir = out_dir or tempfile.mkdtemp(prefix='gluon_convattn_emulated_')
    os.makedirs(out_dir, exist_ok=True)
    header = os.path.join(kernel_spec.KERNEL_DIR, 'emulation.h')
    objects, procs = [], []
    for name, src in sorted(kernel_spec.SOURCES.items()):
        obj = os.path.join(out_dir, name + '.o')
        cmd = [compiler] + list(flags) + ['-fPIC', '-c', '-include', header, '-x', 'c++', src,
                                          '-o', obj]
        procs.append((cmd, subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                            stderr=subprocess.STDOUT, text=True)))
        objects.append(obj)
    for cmd, proc in procs:
        log = proc.communicate()[0]
        if proc.returncode:
            raise RuntimeError('%s failed:\n%s' % (' '.join(cmd), log))
    library = os.path.join(out_dir, LIBRARY)
    cmd = [compiler, '-shared'] + objects + ['-o', library]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode:
        raise RuntimeError('%s failed:\n%s' % (' '.join(cmd), proc.stdout))
    return library


def cached_build():
    """The library built once per version of the sources, in the temp directory."""
    digest = hashlib.sha1()
    for path in sorted(kernel_spec.SOURCES.values()) + [
            os.path.join(kernel_spec.KERNEL_DIR, h) for h in ('common.cuh', 'emulation.h')]:
        with open(path, 'rb') as f:
            digest.update(f.read())
    out_dir = os.path.join(tempfile.gettempdir(),
                           'gluon_convattn_emulated_' + digest.hexdigest()[:12])
    library = os.path.join(out_dir, LIBRARY)
    if not os.path.exists(library):
        build(out_dir)
    return library


def _pointer(array):
    """Data pointer of a CPU NDArray or a C-contiguous numpy array."""
    if isinstance(array, np.ndarray):
        if not array.flags.c_contiguous:
            raise ValueError('the emulated kernels need C-contiguous arrays')
        return array.ctypes.data
    if array.context.device_type != 'cpu':
        raise ValueError('the emulated kernels run on CPU arrays, got one on %s' % array.context)
    ptr = ctypes.c_void_p()
    mx.base.check_call(mx.base._LIB.MXNDArrayGetData(array.handle, ctypes.byref(ptr)))
    return ptr.value


class EmulatedLauncher(object):
    """Launches the g++-compiled kernels on CPU arrays, synchronously.

    Parameters
    ----------
    library : str
        Path of the library :func:`build` made.
    """
    name = 'emulation'
    dtypes = tuple(kernel_spec.DTYPES)

    def __init__(self, library):
        self.library = library
        self._lib = ctypes.CDLL(library)
        self._functions = {}

    def function(self, kernel, dtype):
        """The ctypes function of ``kernel`` for ``dtype``, its argument types set."""
        key = (kernel.name, dtype)
        if key not in self._functions:
            fn = getattr(self._lib, kernel_spec.entry_name(kernel, dtype))
            n_ints = len(kernel_spec.GEOMETRY) + (1 if kernel_spec.OPERATORS[kernel.op].extra
                                                  else 0)
            fn.argtypes = ([ctypes.c_void_p] * (len(kernel.reads) + 1) + [ctypes.c_int] * n_ints)
            fn.restype = None
            self._functions[key] = fn
        return self._functions[key]

    def launch(self, kernel, dtype, ctx, arrays, ints):
        """Run ``kernel`` on ``arrays`` (reads..., written) with the int arguments ``ints``."""
        kernel_spec.check_index_range(*(a.size for a in arrays))
        self.function(kernel, dtype)(*([_pointer(a) for a in arrays] + [int(i) for i in ints]))
