"""The kernels as MXNet CustomOps, so they run imperatively and inside hybridized graphs.

One CustomOp serves every operator of :data:`kernel_spec.OPERATORS`; it is registered as
``gluon_convattn_<operator>`` (e.g. ``gluon_convattn_aggregation``) and called with
``F.Custom(*inputs, op_type=..., kernel_size=..., ...)`` by :func:`apply`.

Kernels run through a *launcher* per device type: ``launch(kernel, dtype, ctx, arrays, ints)``
with ``arrays`` the kernel's inputs then its output. The GPU uses
:class:`~gluon_convattn.ops.rtc.RtcLauncher`, the CPU the OpenMP library built at install time
(:func:`~gluon_convattn.ops.cpu_kernels.launcher`); :func:`use_launcher` installs another (the
tests install the single-threaded :class:`~gluon_convattn.ops.emulation.EmulatedLauncher`).
A kernel graph run where no launcher serves its device or dtype (the CPU kernels not built,
float16 on the CPU) computes the composite operators inside the CustomOp instead, forward and
backward, with the same values.

Every input passes through ``SwapAxis(x, 0, 0)`` (a plain copy) on its way into the CustomOp,
and so does its output on the way out, so that its output gradient arrives plain too
(:func:`apply`). MXNet hands a CustomOp its inputs by asking for their data, and for an array
MKL-DNN keeps in a blocked layout (convolution, batch-norm and pooling outputs) that reorders
the array's memory in place, while other operators of the threaded engine may be reading it:
wrong numbers or a crash, on the CPU only, and never under ``NaiveEngine``. ``SwapAxis`` has no
MKL-DNN implementation and never runs in place, so MXNet reads a blocked input through a copy
of its own and writes a new, plain array. (An in-place operator such as ``x + 0`` is not
enough: a hybridized graph may run it in the input's memory and write the result back in the
blocked layout; ``tile`` works, but its backward is a slow reduction.)

The kernels themselves never form the unfolded (N, C, k*k, H*W) window taps, forward or
backward, and the operators keep only what their backward passes read
(:meth:`WindowOpProp.declare_backward_dependency`): ``aggregation``, ``subtraction2`` and
``local_dot`` do not keep their outputs.
"""
import ast
import contextlib
import threading

import mxnet as mx
import numpy as np

from ..utils.checks import check_float16_on_cpu
from . import composite, extension, kernel_spec

__all__ = ['op_type', 'apply', 'get_launcher', 'set_launcher', 'use_launcher',
           'check_runnable', 'plain_layout', 'autograd_backward']

_LAUNCHERS = {}
_LOCK = threading.Lock()
_DEFAULT = object()


def op_type(name):
    """The registered CustomOp name of operator ``name``."""
    return 'gluon_convattn_' + name


def get_launcher(device_type):
    """The launcher for 'cpu' or 'gpu', or None; the defaults are made on first use: the
    GPU's RTC launcher where this MXNet can compile kernels, the CPU's compiled library where
    it was built."""
    with _LOCK:
        if device_type not in _LAUNCHERS:
            _LAUNCHERS[device_type] = _default_launcher(device_type)
        return _LAUNCHERS[device_type]


def _default_launcher(device_type):
    if device_type == 'gpu':
        from .rtc import RtcLauncher, available
        return RtcLauncher() if available() else None
    from . import cpu_kernels
    return cpu_kernels.launcher()


def kernels_available(device_type):
    """Whether compiled kernels serve ``device_type`` ('cpu' or 'gpu') in this process."""
    return get_launcher(device_type) is not None


def set_launcher(device_type, launcher):
    """Install ``launcher`` (or None) for 'cpu' or 'gpu'; returns the previous one."""
    return _swap(device_type, launcher)


def _swap(device_type, launcher):
    """Install ``launcher`` and return what was installed; :data:`_DEFAULT` (as either) stands
    for "not chosen yet": the default launcher is then made on first use."""
    if device_type not in ('cpu', 'gpu'):
        raise ValueError("device_type must be 'cpu' or 'gpu', got %r" % (device_type,))
    with _LOCK:
        previous = _LAUNCHERS.pop(device_type, _DEFAULT)
        if launcher is not _DEFAULT:
            _LAUNCHERS[device_type] = launcher
    return previous


@contextlib.contextmanager
def use_launcher(device_type, launcher):
    """Within the block, ``device_type`` runs the kernels with ``launcher``; afterwards what was
    there before (the default launcher too, when none had been chosen)."""
    previous = _swap(device_type, launcher)
    try:
        yield launcher
    finally:
        _swap(device_type, previous)


def check_runnable(ctx, dtype, what='a sliding-window kernel'):
    """Raise ValueError for float16 where nothing can run it (the CPU, unless a launcher there
    takes float16); ``what`` names the operator in the message."""
    if dtype == 'float16' and ctx.device_type == 'cpu' and 'float16' in getattr(
            get_launcher('cpu'), 'dtypes', ()):     # a CPU launcher that runs float16
        return
    check_float16_on_cpu(dtype, ctx, '%s: float16 input' % what)


def _params(win, groups):
    params = dict(zip(win._fields, (str(v) for v in win)))
    if groups is not None:
        params['groups'] = str(groups)
    return params


def apply(F, name, inputs, win, groups=None, plain=()):
    """``F.Custom`` of operator ``name`` on ``inputs`` with window ``win`` (a composite.Window),
    or where :func:`.extension.usable` allows, the MXNet operator of the same name.

    Imperative calls check shapes and dtype first and raise ValueError naming the problem.
    ``plain[i]`` True skips the plain-layout copy of input ``i`` (the caller knows it is
    plain: an output of this package's CustomOps).
    """
    if F is mx.nd:
        _check_shapes(name, [i.shape for i in inputs], win, groups)
        check_runnable(inputs[0].context, np.dtype(inputs[0].dtype).name, 'ops.' + name)
    if extension.usable(F, inputs):
        return extension.apply(F, op_type(name), inputs, **_params(win, groups))
    plain = tuple(plain) + (False,) * (len(inputs) - len(plain))
    out = F.Custom(*[i if known else plain_layout(F, i) for i, known in zip(inputs, plain)],
                   op_type=op_type(name),
                   **_params(win, groups))
    return plain_layout(F, out)


def plain_layout(F, x):
    """``x`` as a new array in plain layout, for the CPU (see the module docstring)."""
    if F is mx.nd and x.context.device_type != 'cpu':
        return x
    return F.SwapAxis(x, dim1=0, dim2=0)


def _check_shapes(name, shapes, win, groups):
    if name == 'aggregation':
        composite.check_window_args(win, shapes[0], shapes[1])
    elif name == 'subtraction':
        composite.check_window_args(win, shapes[0])
    else:
        composite.check_window_args(win, shapes[0], x_name='x1', x2_shape=shapes[1])
        if name == 'local_dot':
            composite.check_groups(groups, shapes[0][1])
    geom = kernel_spec.geometry(shapes[0], *win)
    out_shape = kernel_spec.output_shape(name, geom, kernel_spec.extra_arg(name, shapes, groups))
    kernel_spec.check_index_range(*(int(np.prod(s)) for s in list(shapes) + [out_shape]))


def _composite_forward(name, inputs, win, groups):
    kwargs = dict(kernel_size=win.kernel, stride=win.stride, padding=win.padding,
                  dilation=win.dilation, pad_mode=win.pad_mode)
    if groups is not None:
        kwargs['groups'] = groups
    return getattr(composite, name)(mx.nd, *inputs, **kwargs)


class WindowOp(mx.operator.CustomOp):
    """Runs one operator's kernels with ``launcher`` (the one installed for its device when
    the op was created), or its composite form where the launcher is None or lacks the dtype.
    """

    def __init__(self, operator, win, groups, in_shapes, launcher):
        super(WindowOp, self).__init__()
        self.operator, self.win, self.groups, self.launcher = operator, win, groups, launcher
        self.ints = kernel_spec.geometry(in_shapes[0], *win)
        extra = kernel_spec.extra_arg(operator.name, in_shapes, groups)
        if extra is not None:
            self.ints.append(extra)

    def _launcher(self, array):
        dtype = np.dtype(array.dtype).name
        if self.launcher is None or dtype not in self.launcher.dtypes:
            return None, dtype
        return self.launcher, dtype

    def _run(self, launcher, kernel, dtype, named, target, req):
        if req == 'null':
            return
        direct = req in ('write', 'inplace')
        out = target if direct else mx.nd.empty(target.shape, target.context, target.dtype)
        launcher.launch(kernel, dtype, target.context, [named[a] for a in kernel.reads] + [out],
                        self.ints)
        if not direct:
            self.assign(target, req, out)

    def forward(self, is_train, req, in_data, out_data, aux):
        launcher, dtype = self._launcher(in_data[0])
        if launcher is None:
            out = _composite_forward(self.operator.name, in_data, self.win, self.groups)
            self.assign(out_data[0], req[0], out)
            return
        named = dict(zip(self.operator.inputs, in_data))
        self._run(launcher, self.operator.forward, dtype, named, out_data[0], req[0])

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        launcher, dtype = self._launcher(out_grad[0])
        if launcher is None:
            self._composite_backward(req, out_grad[0], in_data, in_grad)
            return
        named = dict(zip(self.operator.inputs, in_data), grad_out=out_grad[0])
        for name, r, grad in zip(self.operator.inputs, req, in_grad):
            self._run(launcher, self.operator.backward[name], dtype, named, grad, r)

    def _composite_backward(self, req, grad_out, in_data, in_grad):
        autograd_backward(self, lambda *inputs: _composite_forward(
            self.operator.name, inputs, self.win, self.groups), in_data, grad_out, req, in_grad)


def autograd_backward(op, forward, inputs, grad_out, req, in_grad):
    """A CustomOp ``op``'s backward by MXNet's autograd: ``forward`` (NDArrays -> NDArray) on
    copies of ``inputs``, then each input's gradient assigned to ``in_grad`` by ``req``."""
    inputs = [x.copy() for x in inputs]
    for x in inputs:
        x.attach_grad()
    with mx.autograd.record():
        out = forward(*inputs)
    out.backward(grad_out)
    for r, grad, x in zip(req, in_grad, inputs):
        op.assign(grad, r, x.grad)


def _window_from_params(kwargs):
    values = [ast.literal_eval(kwargs[f]) for f in composite.Window._fields]
    return composite.window(*values)


class WindowOpProp(mx.operator.CustomOpProp):
    """Shapes, types and dependencies of one operator; subclassed per operator below."""
    operator = None

    def __init__(self, **kwargs):
        super(WindowOpProp, self).__init__(need_top_grad=True)
        self.groups = int(kwargs.pop('groups')) if 'groups' in kwargs else None
        self.win = _window_from_params(kwargs)

    def list_arguments(self):
        return list(self.operator.inputs)

    def list_outputs(self):
        return ['output']

    def infer_shape(self, in_shape):
        _check_shapes(self.operator.name, in_shape, self.win, self.groups)
        geom = kernel_spec.geometry(in_shape[0], *self.win)
        extra = kernel_spec.extra_arg(self.operator.name, in_shape, self.groups)
        return in_shape, [kernel_spec.output_shape(self.operator.name, geom, extra)], []

    def infer_type(self, in_type):
        return [in_type[0]] * len(in_type), [in_type[0]], []

    def declare_backward_dependency(self, out_grad, in_data, out_data):
        """The output gradient and the inputs, not the output of a two-input operator (MXNet's
        default keeps every array alive until the backward pass).

        MXNet 1.9 remembers the indices declared last, by any custom op type, in one global
        set (``mx.operator._registry.result_deps``) and wraps the arrays a backward receives
        by that set, failing on an index one op type keeps and another does not. So every
        operator here declares the same indices: 0 (output gradient), 1 and 2. For the
        two-input operators those are the inputs; ``subtraction`` (one input) keeps its
        output too, which in SAN is the small position encoding.
        """
        return (list(out_grad) + list(in_data) + list(out_data))[:3]

    def create_operator(self, ctx, in_shapes, in_dtypes):
        launcher = get_launcher(ctx.device_type)
        return WindowOp(self.operator, self.win, self.groups, in_shapes, launcher)


def _register():
    for name, operator in kernel_spec.OPERATORS.items():
        prop = type('%sProp' % name.title().replace('_', ''), (WindowOpProp,),
                    {'operator': operator, '__doc__': 'CustomOpProp of %s.' % name})
        mx.operator.register(op_type(name))(prop)


_register()
