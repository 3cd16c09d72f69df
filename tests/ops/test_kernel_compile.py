"""The kernel sources compile where they will run: nvcc for sm_80 and sm_90 (all three
dtypes), NVRTC with no include path (as mx.rtc and CuPy compile them), and g++ through the
emulation header (the library the emulated kernel tests use)."""
import ctypes
import ctypes.util
import glob
import os
import shutil
import subprocess

import pytest

from gluon_convattn.ops import kernel_spec

ARCHS = ('80', '90')
NVRTC_ENV_VAR = 'GLUON_CONVATTN_NVRTC'


def _entries(op_name):
    op = kernel_spec.OPERATORS[op_name]
    return [kernel_spec.entry_name(k, dtype) for k in [op.forward] + list(op.backward.values())
            for dtype in kernel_spec.DTYPES]


def test_nvcc_compiles_every_kernel_for_sm80_and_sm90(tmp_path):
    nvcc = shutil.which('nvcc')
    if nvcc is None:
        pytest.skip('nvcc is not installed: the CUDA compile check needs the CUDA toolkit')
    gencode = sum((['-gencode', 'arch=compute_%s,code=sm_%s' % (a, a)] for a in ARCHS), [])
    procs = {}
    for name, src in kernel_spec.SOURCES.items():   # one nvcc per source, all in parallel
        keep = tmp_path / name
        keep.mkdir()
        cmd = [nvcc, '-c', '-x', 'cu', '-Werror', 'all-warnings', '--keep', '--keep-dir',
               str(keep), '-I', kernel_spec.KERNEL_DIR] + gencode + [src, '-o',
                                                                    str(keep / 'out.o')]
        procs[name] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True)
    for name, proc in procs.items():
        log = proc.communicate()[0]
        assert proc.returncode == 0, '%s.cu failed to compile:\n%s' % (name, log)
        for arch in ARCHS:
            cubins = glob.glob(str(tmp_path / name / ('*.compute_%s.cubin' % arch)))
            assert len(cubins) == 1, 'no sm_%s code for %s.cu' % (arch, name)
            with open(cubins[0], 'rb') as f:
                elf = f.read()
            assert elf[:4] == b'\x7fELF'
            missing = [e for e in _entries(name) if e.encode() + b'\0' not in elf]
            assert not missing, 'sm_%s code of %s.cu lacks %s' % (arch, name, missing)


def _find_nvrtc():
    candidates = [os.environ.get(NVRTC_ENV_VAR)]
    try:
        import nvidia.cuda_nvrtc
        for base in nvidia.cuda_nvrtc.__path__:
            candidates += sorted(glob.glob(os.path.join(base, 'lib', 'libnvrtc.so*')))
    except ImportError:
        pass
    candidates.append(ctypes.util.find_library('nvrtc'))
    candidates += sorted(glob.glob('/usr/local/cuda*/lib64/libnvrtc.so*'))
    for path in candidates:
        if path and 'builtins' not in path:
            try:
                return ctypes.CDLL(path), path
            except OSError:
                continue
    return None, None


def _nvrtc_compile(lib, source, options):
    """(success, log, ptx) of NVRTC on ``source`` with no headers and no include path."""
    prog = ctypes.c_void_p()
    assert lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), b'source.cu', 0, None,
                                  None) == 0
    opts = (ctypes.c_char_p * len(options))(*[o.encode() for o in options])
    status = lib.nvrtcCompileProgram(prog, len(options), opts)
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(prog, log)
    ptx = b''
    if status == 0:
        lib.nvrtcGetPTXSize(prog, ctypes.byref(size))
        buf = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetPTX(prog, buf)
        ptx = buf.value
    lib.nvrtcDestroyProgram(ctypes.byref(prog))
    return status == 0, log.value.decode(errors='replace'), ptx.decode(errors='replace')


def test_nvrtc_compiles_the_self_contained_sources():
    lib, path = _find_nvrtc()
    if lib is None:
        pytest.skip('no libnvrtc found (set %s, or pip install nvidia-cuda-nvrtc-cu11)'
                    % NVRTC_ENV_VAR)
    for name in kernel_spec.OPERATORS:
        text = kernel_spec.source(name)
        assert '#include' not in text
        ok, log, ptx = _nvrtc_compile(lib, text, list(kernel_spec.NVRTC_OPTIONS) + [
            '--gpu-architecture=compute_80'])
        assert ok, '%s: NVRTC (%s) rejected %s:\n%s' % (name, path, name, log)
        missing = [e for e in _entries(name) if '.entry %s(' % e not in ptx]
        assert not missing, missing


def test_sources_are_self_contained_and_gpp_exports_every_entry(emulated_library):
    lib = ctypes.CDLL(emulated_library)
    for name in kernel_spec.OPERATORS:
        text = kernel_spec.source(name)
        assert '#include' not in text and 'struct Geometry' in text
        missing = [e for e in _entries(name) if not hasattr(lib, e)]
        assert not missing, missing
