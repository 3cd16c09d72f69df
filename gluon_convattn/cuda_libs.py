"""Makes the CUDA 11 libraries of the ``nvidia-*-cu11`` wheels loadable before MXNet is imported.

``mxnet-cu112`` links against CUDA 11 libraries it does not ship (libcudart.so.11.0,
libcublas.so.11, libcudnn.so.8, ...). The ``[gpu]`` extra installs them as PyPI wheels under
``site-packages/nvidia/<name>/lib``, which the dynamic loader does not search. :func:`preload`
loads each one with ``RTLD_GLOBAL``, in dependency order (as PyTorch does for its CUDA wheels), so
that ``import mxnet`` then finds them already loaded. A library the loader already finds (a host
with its own CUDA 11 on ``LD_LIBRARY_PATH`` or in ``ldconfig``) is taken from there instead.

With the CPU MXNet (whose ``libmxnet.so`` needs no libcudart) it does nothing, cheaply: it reads
a few kilobytes of ``libmxnet.so``'s ELF header and never imports mxnet.

This file imports nothing from the package, so ``tests/gpu`` (no MXNet there) can load it by path.
"""
import ctypes
import importlib.util
import os
import struct

__all__ = ['LIBRARIES', 'DRIVER', 'CudaLibraryError', 'preload', 'preload_wheel_libraries',
           'mxnet_needs_cuda', 'needed_libraries', 'wheel_library_dirs']

#: (wheel directory under site-packages/nvidia, soname), each after the libraries it needs.
#: cuDNN 8's libcudnn.so.8 opens its sub-libraries at run time, so they are loaded too.
LIBRARIES = (
    ('cuda_runtime', 'libcudart.so.11.0'),
    ('cublas', 'libcublasLt.so.11'),
    ('cublas', 'libcublas.so.11'),
    ('cufft', 'libcufft.so.10'),
    ('curand', 'libcurand.so.10'),
    ('cusolver', 'libcusolver.so.11'),
    ('cuda_nvrtc', 'libnvrtc.so.11.2'),
    ('cudnn', 'libcudnn_ops_infer.so.8'),
    ('cudnn', 'libcudnn_ops_train.so.8'),
    ('cudnn', 'libcudnn_cnn_infer.so.8'),
    ('cudnn', 'libcudnn_cnn_train.so.8'),
    ('cudnn', 'libcudnn_adv_infer.so.8'),
    ('cudnn', 'libcudnn_adv_train.so.8'),
    ('cudnn', 'libcudnn.so.8'),
    ('nccl', 'libnccl.so.2'),
    ('nvtx', 'libnvToolsExt.so.1'),
)

#: The NVIDIA driver's library: the one piece the host itself must provide.
DRIVER = 'libcuda.so.1'

_RUNTIME = 'libcudart.so'
_done = False


class CudaLibraryError(ImportError):
    """The CUDA build of MXNet is installed but cannot be loaded on this host."""


def _mxnet_library():
    """Path of the installed mxnet's libmxnet.so (mxnet is located, not imported), or None."""
    spec = importlib.util.find_spec('mxnet')
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        path = os.path.join(base, 'libmxnet.so')
        if os.path.isfile(path):
            return path
    return None


def needed_libraries(path):
    """The DT_NEEDED sonames of the 64-bit little-endian ELF shared library at ``path``."""
    with open(path, 'rb') as f:
        head = f.read(64)
        if head[:4] != b'\x7fELF' or head[4] != 2 or head[5] != 1:
            return []
        phoff, = struct.unpack_from('<Q', head, 32)
        phentsize, phnum = struct.unpack_from('<HH', head, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
        loads, dynamic = [], None
        for i in range(phnum):
            p_type, _, offset, vaddr, _, filesz, _, _ = struct.unpack_from(
                '<IIQQQQQQ', table, i * phentsize)
            if p_type == 1:                 # PT_LOAD
                loads.append((vaddr, offset, filesz))
            elif p_type == 2:               # PT_DYNAMIC
                dynamic = (offset, filesz)
        if dynamic is None:
            return []
        f.seek(dynamic[0])
        data = f.read(dynamic[1])
        entries = [struct.unpack_from('<qQ', data, i) for i in range(0, len(data) - 15, 16)]
        strtab = [v for tag, v in entries if tag == 5]          # DT_STRTAB (an address)
        if not strtab:
            return []
        base = next((off + strtab[0] - vaddr for vaddr, off, size in loads
                     if vaddr <= strtab[0] < vaddr + size), None)
        names = []
        for tag, value in entries:
            if tag == 0:                    # DT_NULL
                break
            if tag == 1 and base is not None:   # DT_NEEDED (an offset into the string table)
                f.seek(base + value)
                names.append(f.read(256).split(b'\0', 1)[0].decode())
        return names


def mxnet_needs_cuda():
    """Whether the installed MXNet is a CUDA build (its libmxnet.so links libcudart)."""
    path = _mxnet_library()
    return path is not None and any(n.startswith(_RUNTIME) for n in needed_libraries(path))


def wheel_library_dirs(name):
    """The ``lib`` directories of the ``nvidia.<name>`` wheel on ``sys.path`` (may be empty)."""
    try:
        spec = importlib.util.find_spec('nvidia')
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    return [os.path.join(base, name, 'lib') for base in spec.submodule_search_locations
            if os.path.isdir(os.path.join(base, name, 'lib'))]


def _load(path):
    return ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)


def preload_wheel_libraries(libraries):
    """Load each (wheel directory, soname) of ``libraries`` with RTLD_GLOBAL, in order: from the
    loader's path where it finds the soname, else from the wheel. Returns the sonames found
    in neither place."""
    missing = []
    for name, soname in libraries:
        try:
            _load(soname)
            continue
        except OSError:
            pass
        paths = [os.path.join(d, soname) for d in wheel_library_dirs(name)]
        paths = [p for p in paths if os.path.isfile(p)]
        if paths:
            _load(paths[0])
        else:
            missing.append(soname)
    return missing


def preload(libraries=LIBRARIES):
    """Load the CUDA libraries MXNet needs (once per process); no-op with the CPU MXNet.

    Parameters
    ----------
    libraries : sequence of (str, str)
        (wheel directory, soname) pairs in dependency order; :data:`LIBRARIES` by default.

    Raises
    ------
    CudaLibraryError
        When MXNet is a CUDA build and the host has no NVIDIA driver, or a library is neither
        on the loader's path nor in an installed wheel.
    """
    global _done
    if _done or not mxnet_needs_cuda():
        _done = True
        return
    try:
        _load(DRIVER)
    except OSError:
        raise CudaLibraryError(
            'the CUDA build of MXNet (mxnet-cu112) is installed, but this host has no NVIDIA '
            'driver (%s cannot be loaded): install the NVIDIA driver (>= 520 for CUDA 11.8), or '
            'use the CPU build (pip uninstall mxnet-cu112; pip install -e ".[cpu]")'
            % DRIVER) from None
    missing = preload_wheel_libraries(libraries)
    if missing:
        raise CudaLibraryError(
            'the CUDA build of MXNet needs %s, found neither on the loader path nor in the '
            'nvidia-*-cu11 wheels: pip install -e ".[gpu]" (or put a CUDA 11 installation\'s '
            'lib64 on LD_LIBRARY_PATH)' % ', '.join(missing))
    _done = True
