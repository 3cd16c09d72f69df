"""Compile the CUDA kernel sources (``kernels/*.cu``) into a shared library for the CPU.

``kernels/emulation.h``, included first, turns the CUDA dialect into plain C++; with OpenMP
(``-fopenmp``) each kernel's grid-stride loop becomes an ``omp parallel for`` over its output
elements, which is safe because every kernel gathers (no two iterations write one element).
For aggregation, subtraction2 and local_dot the production build also compiles CPU loop orders
(``kernels/cpu/``, ``-DGCA_CPU_LOOPS``): one plane per OpenMP iteration, walked tap by tap and
row by row, with the window geometry from the same formulas; the launcher prefers them. It
also compiles ``kernels/cpu/*.cc``, CPU-only operators (a layer normalisation, :mod:`.norm`).

A second library, :data:`EXTENSION_LIBRARY`, holds the same kernels as MXNet operators
(``kernels/mxnet/*.cc`` with MXNet's ``lib_api``, loaded by :mod:`.extension`). It needs
MXNet's headers, which the MXNet wheel ships: it is built where MXNet is installed (found
without importing it), and skipped, with a note, where it is not.

This module imports neither MXNet nor the rest of the package, so ``setup.py`` runs it at
install time (``build_ext``), and it can be run by hand::

    python -m gluon_convattn.ops.cpu_build          # (re)build both libraries in the package
    python -m gluon_convattn.ops.cpu_build --check  # say whether they are built

Environment: ``CXX`` picks the compiler (default ``g++``, then ``c++``);
``GLUON_CONVATTN_CPU_FLAGS`` replaces the optimisation flags (default ``-O3 -march=native``,
falling back to ``-O3`` where the compiler rejects ``-march=native``).
"""
import glob
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile

__all__ = ['KERNEL_DIR', 'LIBRARY', 'PACKAGE_LIBRARY', 'EXTENSION_LIBRARY',
           'PACKAGE_EXTENSION', 'CompilerError', 'find_compiler', 'mxnet_api_dir', 'build',
           'build_extension']

KERNEL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'kernels')
LIBRARY = 'libgluon_convattn_cpu.so'
#: where the install step puts the library, and where the CPU launcher looks for it.
PACKAGE_LIBRARY = os.path.join(os.path.dirname(os.path.abspath(__file__)), LIBRARY)
EXTENSION_LIBRARY = 'libgluon_convattn_mxnet.so'
PACKAGE_EXTENSION = os.path.join(os.path.dirname(os.path.abspath(__file__)), EXTENSION_LIBRARY)
DEFAULT_FLAGS = ('-O3', '-march=native')
FLAGS_ENV_VAR = 'GLUON_CONVATTN_CPU_FLAGS'


class CompilerError(RuntimeError):
    """No C++ compiler was found, or it failed on the kernel sources."""


def find_compiler():
    """The C++ compiler to use: ``$CXX``, else ``g++``, else ``c++``; None if there is none."""
    for name in (os.environ.get('CXX'), 'g++', 'c++'):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _sources(cpu_loops):
    """The CUDA sources, and with ``cpu_loops`` the CPU-only ones (``kernels/cpu/*.cc``)."""
    cpu_only = glob.glob(os.path.join(KERNEL_DIR, 'cpu', '*.cc')) if cpu_loops else []
    return sorted(glob.glob(os.path.join(KERNEL_DIR, '*.cu'))) + sorted(cpu_only)


def _run(cmd):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          encoding='utf-8', errors='replace')
    return proc.returncode, proc.stdout


def _flags(compiler, openmp):
    env = os.environ.get(FLAGS_ENV_VAR)
    flags = env.split() if env is not None else list(DEFAULT_FLAGS)
    if env is None:
        with tempfile.TemporaryDirectory() as tmp:
            probe = os.path.join(tmp, 'probe.cc')
            with open(probe, 'w') as f:
                f.write('int main() { return 0; }\n')
            if _run([compiler] + flags + [probe, '-o', os.path.join(tmp, 'probe')])[0]:
                flags = ['-O3']
    return flags + (['-fopenmp'] if openmp else [])


def build(out_dir, library=LIBRARY, openmp=True, compiler=None, cpu_loops=None):
    """Compile every kernel source into ``out_dir/library`` and return its path.

    Parameters
    ----------
    out_dir : str
        Folder for the objects and the library (created if missing).
    library : str
        File name of the library.
    openmp : bool, default True
        Share each kernel's loop among OpenMP threads (``-fopenmp``); False builds the
        single-threaded library the tests use.
    compiler : str, optional
        The C++ compiler; :func:`find_compiler` by default.
    cpu_loops : bool, optional
        Also compile the CPU loop orders of ``kernels/cpu/`` (``-DGCA_CPU_LOOPS``: one plane
        per OpenMP iteration, rows walked along; exported as ``NAME_cpu`` beside the CUDA
        entry points, and preferred by the CPU launcher). Default: as ``openmp``; the
        single-threaded test build leaves them out, so it runs the CUDA loop bodies.

    Raises
    ------
    CompilerError
        Without a compiler, or with the compiler's output when it fails.
    """
    compiler = compiler or find_compiler()
    if compiler is None:
        raise CompilerError('no C++ compiler found (set CXX, or install g++)')
    os.makedirs(out_dir, exist_ok=True)
    flags = _flags(compiler, openmp)
    cpu_loops = openmp if cpu_loops is None else cpu_loops
    if cpu_loops:
        flags.append('-DGCA_CPU_LOOPS')
    return _compile_and_link(compiler, flags, _sources(cpu_loops), out_dir, library)


def _compile_and_link(compiler, flags, sources, out_dir, library):
    """Compile ``sources`` (``.cu`` as C++ with the emulation header) in parallel, link them into
    ``out_dir/library`` and return its path."""
    header = os.path.join(KERNEL_DIR, 'emulation.h')
    target = os.path.join(out_dir, library)
    # objects and the partial library in a folder of their own: a failed build leaves the
    # previous library, and nothing else, in out_dir
    with tempfile.TemporaryDirectory(dir=out_dir, prefix='.build-') as work:
        objects, procs = [], []
        for i, src in enumerate(sources):
            obj = os.path.join(work, '%d_%s.o' % (i, os.path.splitext(os.path.basename(src))[0]))
            cuda = src.endswith('.cu')
            cmd = [compiler] + flags + ['-fPIC', '-c'] + (
                ['-include', header, '-x', 'c++'] if cuda else []) + [src, '-o', obj]
            procs.append((cmd, subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                                stderr=subprocess.STDOUT, text=True,
                                                encoding='utf-8', errors='replace')))
            objects.append(obj)
        failures = []
        for cmd, proc in procs:
            log = proc.communicate()[0]
            if proc.returncode:
                failures.append('%s failed:\n%s' % (' '.join(cmd), log))
        if failures:
            raise CompilerError('\n'.join(failures))
        partial = os.path.join(work, library)
        code, log = _run([compiler, '-shared'] + flags + objects + ['-o', partial])
        if code:
            raise CompilerError('linking %s failed:\n%s' % (target, log))
        os.replace(partial, target)
    return target


def mxnet_api_dir():
    """The installed MXNet package's folder when it ships ``include/mxnet/lib_api.h`` and
    ``src/lib_api.cc`` (the wheels of 1.9 do), found without importing MXNet; else None."""
    try:
        spec = importlib.util.find_spec('mxnet')
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        if all(os.path.isfile(os.path.join(folder, *part.split('/')))
               for part in ('include/mxnet/lib_api.h', 'src/lib_api.cc')):
            return folder
    return None


def build_extension(out_dir, library=EXTENSION_LIBRARY, compiler=None, api_dir=None):
    """Compile the MXNet operators of ``kernels/mxnet/``, with every kernel of the CPU library
    (OpenMP on, the CPU loop orders in), into ``out_dir/library`` and return its path.

    ``api_dir`` is MXNet's package folder (:func:`mxnet_api_dir` by default). Raises
    :class:`CompilerError` without a compiler, without MXNet's headers, or when compiling fails.
    """
    compiler = compiler or find_compiler()
    if compiler is None:
        raise CompilerError('no C++ compiler found (set CXX, or install g++)')
    api_dir = api_dir or mxnet_api_dir()
    if api_dir is None:
        raise CompilerError("MXNet's extension headers (mxnet/include/mxnet/lib_api.h) were not "
                            'found: install mxnet==1.9.1 first')
    os.makedirs(out_dir, exist_ok=True)
    flags = _flags(compiler, openmp=True) + ['-DGCA_CPU_LOOPS', '-std=c++17',
                                             '-I' + os.path.join(api_dir, 'include')]
    sources = _sources(cpu_loops=True) + sorted(
        glob.glob(os.path.join(KERNEL_DIR, 'mxnet', '*.cc'))) + [
        os.path.join(api_dir, 'src', 'lib_api.cc')]
    return _compile_and_link(compiler, flags, sources, out_dir, library)


def main(argv=None):
    import argparse
    parser = argparse.ArgumentParser(description='Build the CPU kernels of gluon_convattn.')
    parser.add_argument('--out-dir', default=os.path.dirname(PACKAGE_LIBRARY),
                        help='where the library goes (default: inside the package)')
    parser.add_argument('--check', action='store_true',
                        help='only say whether the library is built')
    args = parser.parse_args(argv)
    if args.check:
        built = [os.path.isfile(p) for p in (PACKAGE_LIBRARY, PACKAGE_EXTENSION)]
        for path, ok in zip((PACKAGE_LIBRARY, PACKAGE_EXTENSION), built):
            print('%s: %s' % (path, 'built' if ok else 'missing'))
        return 0 if all(built) else 1
    try:
        print(build(args.out_dir))
    except CompilerError as err:
        print('error: %s' % err, file=sys.stderr)
        return 1
    try:
        print(build_extension(args.out_dir))
    except CompilerError as err:
        print('note: the MXNet operators were not built, so the kernels run behind CustomOps: '
              '%s' % err, file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
