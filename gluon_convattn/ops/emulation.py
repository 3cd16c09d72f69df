"""The single-threaded CPU build of the kernels, which the tests check the kernel logic with.

The same sources and the same launcher as the production CPU kernels (:mod:`cpu_kernels`),
built without OpenMP and serving float16 too, so the tests cover every dtype the GPU runs
(``custom.use_launcher('cpu', EmulatedLauncher(build(dir)))``).
"""
import hashlib
import os
import tempfile

from . import cpu_build, kernel_spec
from .cpu_kernels import CtypesLauncher

__all__ = ['build', 'cached_build', 'EmulatedLauncher']

LIBRARY = 'libgluon_convattn_emulated.so'


def build(out_dir=None, compiler=None):
    """Compile every kernel source, single-threaded, into ``out_dir/`` :data:`LIBRARY` and
    return its path; raises :class:`cpu_build.CompilerError` with the compiler's output."""
    out_dir = out_dir or tempfile.mkdtemp(prefix='gluon_convattn_emulated_')
    return cpu_build.build(out_dir, LIBRARY, openmp=False, compiler=compiler)


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


class EmulatedLauncher(CtypesLauncher):
    """The single-threaded library's launcher, for every dtype the kernels have."""

    def __init__(self, library):
        super(EmulatedLauncher, self).__init__(library, name='emulation',
                                               dtypes=tuple(kernel_spec.DTYPES))
