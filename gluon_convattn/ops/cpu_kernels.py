"""The kernels on the CPU: the library :mod:`cpu_build` compiles, launched through ctypes.

:func:`launcher` returns the launcher that ``impl='kernel'`` (and ``'auto'``) graphs use on the
CPU: the OpenMP library built at install time, loaded once per process. Where it was not built
(no compiler at install time) it returns None after one warning, and the CustomOps compute the
composite operators instead.

The arrays must be in plain layout (not one of MKL-DNN's blocked layouts): the CustomOps make
sure of that for their inputs (:mod:`custom`), and their outputs are plain.
"""
import ctypes
import os
import threading
import warnings

import mxnet as mx
import numpy as np

from . import cpu_build, kernel_spec

__all__ = ['CtypesLauncher', 'launcher', 'pointer', 'NOT_BUILT_WARNING']

NOT_BUILT_WARNING = (
    'gluon_convattn: the CPU kernels are not built (%s), so the sliding-window operators run '
    'their composite form on the CPU, which is slower and materialises every window tap. '
    'Build them with `python -m gluon_convattn.ops.cpu_build` (needs a C++ compiler with '
    'OpenMP, e.g. g++), or reinstall the package where one is present.')

_loaded = {}
_lock = threading.Lock()


def pointer(array):
    """Data pointer of a CPU NDArray in plain layout, or of a C-contiguous numpy array."""
    if isinstance(array, np.ndarray):
        if not array.flags.c_contiguous:
            raise ValueError('the CPU kernels need C-contiguous arrays')
        return array.ctypes.data
    if array.context.device_type != 'cpu':
        raise ValueError('the CPU kernels run on CPU arrays, got one on %s' % array.context)
    ptr = ctypes.c_void_p()
    mx.base.check_call(mx.base._LIB.MXNDArrayGetData(array.handle, ctypes.byref(ptr)))
    return ptr.value


class CtypesLauncher(object):
    """Launches the compiled kernels on CPU arrays, synchronously.

    Parameters
    ----------
    library : str
        Path of a library built by :func:`cpu_build.build`.
    name : str
        What the launcher is called in messages and benchmarks.
    dtypes : tuple of str
        The numpy dtype names it serves (the CustomOps use composite for others).
    """

    def __init__(self, library, name='cpu', dtypes=('float32', 'float64')):
        self.library, self.name, self.dtypes = library, name, tuple(dtypes)
        self._lib = ctypes.CDLL(library)
        self._functions = {}
        for operator in kernel_spec.OPERATORS.values():
            for kernel in [operator.forward] + list(operator.backward.values()):
                for dtype in self.dtypes:
                    self._functions[kernel.name, dtype] = self._bind(kernel, dtype)

    def _bind(self, kernel, dtype):
        name = kernel_spec.entry_name(kernel, dtype)
        # the CPU loop order of kernels/cpu/ where the library has one, else the CUDA loop body
        fn = getattr(self._lib, name + '_cpu', None) or getattr(self._lib, name)
        n_ints = len(kernel_spec.GEOMETRY) + (1 if kernel_spec.OPERATORS[kernel.op].extra else 0)
        fn.argtypes = [ctypes.c_void_p] * (len(kernel.reads) + 1) + [ctypes.c_int] * n_ints
        fn.restype = None
        return fn

    def symbol(self, name):
        """The library's function ``name`` (its CPU-only operators, e.g.
        ``layer_norm_forward_float``), or None where the library lacks it."""
        return getattr(self._lib, name, None)

    def function(self, kernel, dtype):
        """The ctypes function of ``kernel`` for ``dtype``."""
        return self._functions[kernel.name, dtype]

    def launch(self, kernel, dtype, ctx, arrays, ints):
        """Run ``kernel`` on ``arrays`` (reads..., written) with the int arguments ``ints``."""
        kernel_spec.check_index_range(*(a.size for a in arrays))
        self.function(kernel, dtype)(*([pointer(a) for a in arrays] + [int(i) for i in ints]))


def launcher():
    """The CPU launcher of the library built at install time, or None (warning once)."""
    with _lock:
        if 'launcher' not in _loaded:
            _loaded['launcher'] = _load()
        return _loaded['launcher']


def _load():
    path = cpu_build.PACKAGE_LIBRARY
    try:
        return CtypesLauncher(path)
    except OSError as err:
        reason = 'no %s' % path if not os.path.exists(path) else str(err)
        warnings.warn(NOT_BUILT_WARNING % reason, RuntimeWarning, stacklevel=3)
        return None
