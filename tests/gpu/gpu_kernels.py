"""Helpers for tests/gpu: the kernel sources launched with CuPy, and PyTorch references built
from ``torch.nn.functional.unfold``. Imports cupy and torch; never mxnet."""
import importlib.util
import os
from collections import namedtuple

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _load(relative_path, name):
    """A module of the package by path: importing the package itself would need MXNet."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, relative_path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


kernel_spec = _load(os.path.join('gluon_convattn', 'ops', 'kernel_spec.py'),
                    'gluon_convattn_kernel_spec')
cuda_libs = _load(os.path.join('gluon_convattn', 'cuda_libs.py'), 'gluon_convattn_cuda_libs')
# CuPy for CUDA 11 (the [cupy] extra) finds NVRTC 11 in the nvidia-cuda-nvrtc-cu11 wheel once
# it is loaded; on a host without CUDA 11 anywhere this is a no-op and CuPy looks as usual.
cuda_libs.preload_wheel_libraries([('cuda_runtime', 'libcudart.so.11.0'),
                                   ('cuda_nvrtc', 'libnvrtc.so.11.2')])
try:
    import cupy
    import torch
    import torch.nn.functional as F
except ImportError:     # conftest.py's gpu_stack fixture fails every test and says why
    cupy = torch = F = None

Window = namedtuple('Window', ['kernel', 'stride', 'padding', 'dilation', 'pad_mode'])


class CupyKernels(object):
    """Compiles each operator's source once with CuPy's NVRTC and launches its kernels."""

    def __init__(self):
        self._modules = {}

    def function(self, kernel, dtype):
        if kernel.op not in self._modules:
            self._modules[kernel.op] = cupy.RawModule(code=kernel_spec.source(kernel.op),
                                                      options=kernel_spec.NVRTC_OPTIONS)
        return self._modules[kernel.op].get_function(kernel_spec.entry_name(kernel, dtype))

    def launch(self, kernel, dtype, arrays, ints):
        grid, block = kernel_spec.launch_config(arrays[-1].size)
        self.function(kernel, dtype)(grid, block, tuple(arrays) + tuple(np.int32(i)
                                                                        for i in ints))

    def run(self, op_name, inputs, win, grad_out=None, groups=None):
        """The op's output for cupy ``inputs``, or with ``grad_out`` the input gradients."""
        op = kernel_spec.OPERATORS[op_name]
        dtype = inputs[0].dtype.name
        ints = kernel_spec.geometry(inputs[0].shape, *win)
        extra = kernel_spec.extra_arg(op_name, [i.shape for i in inputs], groups)
        ints += [] if extra is None else [extra]
        named = dict(zip(op.inputs, inputs), grad_out=grad_out)
        if grad_out is None:
            out = cupy.empty(kernel_spec.output_shape(op_name, ints[:15], extra), dtype=dtype)
            self.launch(op.forward, dtype, [named[a] for a in op.forward.reads] + [out], ints)
            return out
        grads = []
        for name, x in zip(op.inputs, inputs):
            kernel, grad = op.backward[name], cupy.empty_like(x)
            self.launch(kernel, dtype, [named[a] for a in kernel.reads] + [grad], ints)
            grads.append(grad)
        return grads


def _pad(x, win):
    ph, pw = win.padding
    return F.pad(x, (pw, pw, ph, ph), mode='reflect' if win.pad_mode == 1 else 'constant')


def _out_hw(x, win):
    return kernel_spec.output_size(win.kernel, win.stride, win.padding, win.dilation,
                                   *x.shape[2:])


def torch_window(x, win):
    """All taps, (N, C, kh*kw, Ho*Wo), by F.unfold of the padded input."""
    cols = F.unfold(_pad(x, win), win.kernel, dilation=win.dilation, stride=win.stride)
    return cols.view(x.shape[0], x.shape[1], win.kernel[0] * win.kernel[1], -1)


def torch_centre(x, win):
    """The middle tap of every window, (N, C, 1, Ho*Wo)."""
    (ho, wo), xp = _out_hw(x, win), _pad(x, win)
    ch, cw = ((k - 1) // 2 * d for k, d in zip(win.kernel, win.dilation))
    sh, sw = win.stride
    centre = xp[:, :, ch:ch + (ho - 1) * sh + 1:sh, cw:cw + (wo - 1) * sw + 1:sw]
    return centre.reshape(x.shape[0], x.shape[1], 1, ho * wo)


def torch_reference(op_name, inputs, win, groups=None):
    """The operator written with unfold, for torch tensors (autograd gives the backward)."""
    if op_name == 'aggregation':
        x, w = inputs
        taps = torch_window(x, win)
        out = (taps * w.repeat(1, x.shape[1] // w.shape[1], 1, 1)).sum(2)
        return out.view(x.shape[0], x.shape[1], *_out_hw(x, win))
    if op_name == 'subtraction':
        return torch_centre(inputs[0], win) - torch_window(inputs[0], win)
    if op_name == 'subtraction2':
        return torch_centre(inputs[0], win) - torch_window(inputs[1], win)
    prod = torch_centre(inputs[0], win) * torch_window(inputs[1], win)
    n, c, t, p = prod.shape
    return prod.view(n, groups, c // groups, t, p).sum(2)
