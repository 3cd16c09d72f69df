"""What the CUDA kernels in ``kernels/`` are called, what they take, and how to launch them.

Pure Python with no MXNet import: the MXNet RTC launcher, the CPU emulation launcher, the
CustomOps, the nvcc/NVRTC compile checks and the CuPy tests in ``tests/gpu`` (which load this
file by path, without MXNet) all read this one description.

Every kernel takes its arrays (the inputs it reads, then the one array it writes), then the
window geometry as ints in the order of :data:`GEOMETRY`, then the operator's extra int if it
has one (``weight_channels`` for aggregation, ``groups`` for local_dot). Each kernel writes
every element of its output exactly once (gradients are gathered, not scattered), so outputs
need no zeroing. Entry points are ``<kernel>_<float|double|half>``.
"""
import os
import re
from collections import namedtuple

__all__ = ['KERNEL_DIR', 'DTYPES', 'GEOMETRY', 'Kernel', 'Operator', 'OPERATORS', 'SOURCES',
           'NVRTC_OPTIONS', 'entry_name', 'rtc_signature', 'source',
           'output_size', 'geometry', 'output_shape', 'extra_arg', 'launch_config',
           'check_index_range']

KERNEL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'kernels')

#: numpy dtype name -> entry-point suffix and the C type name mx.rtc signatures use.
DTYPES = {'float32': ('float', 'float'), 'float64': ('double', 'double'),
          'float16': ('half', '__half')}

GEOMETRY = ('num', 'channels', 'height', 'width', 'out_h', 'out_w', 'kernel_h', 'kernel_w',
            'stride_h', 'stride_w', 'pad_h', 'pad_w', 'dilation_h', 'dilation_w', 'pad_mode')

Kernel = namedtuple('Kernel', ['op', 'name', 'reads', 'writes'])
Kernel.__doc__ = """One kernel: its operator's name, its own name, the arrays it reads (in
argument order) and the one it writes. Array names are the operator's inputs, 'out',
'grad_out' and 'grad_<input>'."""

Operator = namedtuple('Operator', ['name', 'inputs', 'forward', 'backward', 'extra'])
Operator.__doc__ = """One operator: its inputs, its forward kernel, a backward kernel per input
(dict input -> Kernel) and the name of its extra int argument (or None)."""


def _operator(name, inputs, backward_reads, extra=None):
    forward = Kernel(name, name + '_forward', inputs, 'out')
    backward = {i: Kernel(name, '%s_backward_%s' % (name, i), ('grad_out',) + backward_reads[i],
                          'grad_' + i) for i in inputs}
    return Operator(name, inputs, forward, backward, extra)


OPERATORS = {op.name: op for op in (
    _operator('aggregation', ('x', 'w'), {'x': ('w',), 'w': ('x',)}, 'weight_channels'),
    _operator('subtraction', ('x',), {'x': ()}),
    _operator('subtraction2', ('x1', 'x2'), {'x1': (), 'x2': ()}),
    _operator('local_dot', ('x1', 'x2'), {'x1': ('x2',), 'x2': ('x1',)}, 'groups'),
)}

#: operator name -> path of its .cu source (which includes common.cuh).
SOURCES = {name: os.path.join(KERNEL_DIR, name + '.cu') for name in OPERATORS}

#: what NVRTC needs besides the source (its default dialect in CUDA 11 is older than C++11).
NVRTC_OPTIONS = ('--std=c++11',)

_INCLUDE = re.compile(r'^#include "([\w.]+)"\s*$', re.M)
# the CPU loop orders' include (kernels/cpu/), which the CUDA compilers never need
_CPU_LOOPS = re.compile(r'^#if defined\(GCA_CPU_LOOPS\)\n.*?^#endif\n', re.M | re.S)


def entry_name(kernel, dtype):
    """The extern "C" name of ``kernel`` (a Kernel or its name) for numpy dtype name ``dtype``."""
    name = kernel.name if isinstance(kernel, Kernel) else kernel
    if dtype not in DTYPES:
        raise ValueError('the kernels take %s, got dtype %r' % (', '.join(DTYPES), dtype))
    return '%s_%s' % (name, DTYPES[dtype][0])


def rtc_signature(kernel, dtype):
    """The argument list in the form ``mx.rtc.CudaModule.get_kernel`` parses."""
    ctype = DTYPES[dtype][1]
    args = ['const %s *%s' % (ctype, a) for a in kernel.reads] + ['%s *%s' % (ctype,
                                                                             kernel.writes)]
    args += ['int %s' % g for g in GEOMETRY]
    extra = OPERATORS[kernel.op].extra
    if extra:
        args.append('int %s' % extra)
    return ', '.join(args)


def source(op_name):
    """The self-contained source of one operator: its .cu file with common.cuh inlined, as
    NVRTC (mx.rtc, CuPy) gets it, with no include path needed."""
    def inline(match):
        with open(os.path.join(KERNEL_DIR, match.group(1))) as f:
            return f.read()
    with open(SOURCES[op_name]) as f:
        return _INCLUDE.sub(inline, _CPU_LOOPS.sub('', f.read()))


def output_size(kernel, stride, padding, dilation, height, width):
    """Output height and width of the window (pairs of ints) over an input of that size."""
    return tuple((size + 2 * p - d * (k - 1) - 1) // s + 1 for size, k, s, p, d in zip(
        (height, width), kernel, stride, padding, dilation))


def geometry(x_shape, kernel, stride, padding, dilation, pad_mode):
    """The geometry ints (order of :data:`GEOMETRY`) for an input of shape (N, C, H, W)."""
    n, c, h, w = x_shape
    out_h, out_w = output_size(kernel, stride, padding, dilation, h, w)
    return [int(v) for v in (n, c, h, w, out_h, out_w, kernel[0], kernel[1], stride[0],
                             stride[1], padding[0], padding[1], dilation[0], dilation[1],
                             pad_mode)]


def output_shape(op_name, geom, extra=None):
    """Shape of the operator's output for geometry ints ``geom``."""
    n, c, _, _, out_h, out_w, kh, kw = geom[:8]
    if op_name == 'aggregation':
        return (n, c, out_h, out_w)
    if op_name == 'local_dot':
        return (n, extra, kh * kw, out_h * out_w)
    return (n, c, kh * kw, out_h * out_w)


def extra_arg(op_name, input_shapes, groups=None):
    """The operator's extra int argument: w's channels, local_dot's groups, or None."""
    extra = OPERATORS[op_name].extra
    if extra == 'weight_channels':
        return int(input_shapes[1][1])
    if extra == 'groups':
        return int(groups)
    return None


#: threads per block, and the most blocks one launch asks for (the loop strides past that).
THREADS = 256
MAX_BLOCKS = 65535
_INDEX_LIMIT = 2 ** 31 - 1 - THREADS * MAX_BLOCKS


def check_index_range(*sizes):
    """The kernels index with 32-bit ints (like MXNet 1.x without large-tensor support)."""
    for size in sizes:
        if size > _INDEX_LIMIT:
            raise ValueError('an array of %d elements is too large for the sliding-window '
                             'kernels (at most %d); split the batch' % (size, _INDEX_LIMIT))


def launch_config(total):
    """Grid and block dims (3-tuples) covering ``total`` threads with the grid-stride loop."""
    check_index_range(total)
    blocks = max(1, min(MAX_BLOCKS, (total + THREADS - 1) // THREADS))
    return (blocks, 1, 1), (THREADS, 1, 1)
