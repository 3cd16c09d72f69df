"""A no-device stand-in for the NVIDIA driver's libcuda.so.1, for testing the CUDA build of
MXNet on a machine without a GPU.

``libmxnet.so`` of mxnet-cu112 links libcuda.so.1 for a handful of driver functions (found here
with ``nm -D --undefined-only``); the stand-in defines exactly those, each returning
CUDA_ERROR_NO_DEVICE, so MXNet imports and sees no GPU. The CUDA runtime (libcudart) finds
nothing else it needs in it and reports no usable driver, which MXNet also counts as 0 GPUs.

Usage: ``python tests/gpu_build/no_device_driver.py OUT_DIR`` writes ``OUT_DIR/libcuda.so.1``;
then run with ``LD_LIBRARY_PATH=OUT_DIR``. Run with the CUDA build's Python (it locates
libmxnet.so without importing mxnet).
"""
import importlib.util
import os
import re
import subprocess
import sys

SONAME = 'libcuda.so.1'
CUDA_ERROR_NO_DEVICE = 100
DRIVER_FUNCTION = re.compile(r'^cu[A-Z]\w*$')
MARKER = 'gluon_convattn no-device stand-in'


def libmxnet_path():
    spec = importlib.util.find_spec('mxnet')
    if spec is None:
        raise SystemExit('mxnet is not installed in %s' % sys.executable)
    return os.path.join(spec.submodule_search_locations[0], 'libmxnet.so')


def driver_imports(library):
    """The driver API functions ``library`` leaves undefined (cuInit, cuLaunchKernel, ...)."""
    out = subprocess.run(['nm', '-D', '--undefined-only', library], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    names = {line.split()[-1].split('@')[0] for line in out.splitlines() if line.strip()}
    return sorted(n for n in names if DRIVER_FUNCTION.match(n))


def source(functions):
    """C source defining ``functions``: cuGetErrorString/cuGetErrorName describe the error,
    cuDriverGetVersion reports 11.2, the rest return CUDA_ERROR_NO_DEVICE."""
    lines = ['/* %s for libcuda.so.1 */' % MARKER,
             'const char *gluon_convattn_stand_in = "%s";' % MARKER]
    for name in functions:
        if name in ('cuGetErrorString', 'cuGetErrorName'):
            lines.append('int %s(int e, const char **s) { *s = "CUDA_ERROR_NO_DEVICE (%s)"; '
                         'return 0; }' % (name, MARKER))
        elif name == 'cuDriverGetVersion':
            lines.append('int cuDriverGetVersion(int *v) { *v = 11020; return 0; }')
        else:
            lines.append('int %s() { return %d; }' % (name, CUDA_ERROR_NO_DEVICE))
    return '\n'.join(lines) + '\n'


def build(out_dir, library=None, compiler='cc'):
    """Compile the stand-in into ``out_dir/libcuda.so.1``; returns (path, functions)."""
    functions = driver_imports(library or libmxnet_path())
    if not functions:
        raise SystemExit('%s imports no driver functions: not a CUDA build of MXNet'
                         % (library or libmxnet_path()))
    os.makedirs(out_dir, exist_ok=True)
    c_file, path = os.path.join(out_dir, 'libcuda_stand_in.c'), os.path.join(out_dir, SONAME)
    with open(c_file, 'w') as f:
        f.write(source(functions))
    subprocess.run([compiler, '-shared', '-fPIC', '-Wl,-soname,' + SONAME, c_file, '-o', path],
                   check=True)
    return path, functions


if __name__ == '__main__':
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    built, names = build(sys.argv[1])
    print('%s: %s' % (built, ' '.join(names)))
