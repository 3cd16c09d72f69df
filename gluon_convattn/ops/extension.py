"""The CPU library's kernels as MXNet operators.

``kernels/mxnet/*.cc``, built by :mod:`.cpu_build` into :data:`~.cpu_build.PACKAGE_EXTENSION`
and loaded here once with ``mx.library.load``, registers ``gluon_convattn_layer_norm``,
``gluon_convattn_batch_dot``, ``gluon_convattn_mix`` (:mod:`.mix`) and the sliding-window
operators ``gluon_convattn_<name>`` as operators of MXNet itself. They run the same kernels as
the CustomOps of :mod:`.custom`, :mod:`.norm` and :mod:`.matmul`, but inside MXNet's engine:
no Python call, no global interpreter lock, no second OpenMP thread team beside MXNet's, no
plain-layout copies (MXNet reorders an MKL-DNN input into a new plain array itself). On
ACmix-Swin-T that is 40 % of the batch-1 inference time.

MXNet 1.9 gives such an operator no write request, so it always writes its gradients, never adds
them, and keeps every forward input and output for its backward. :func:`usable` therefore picks
it only where no gradient it writes is a user's gradient buffer:

* in a graph being built (``F`` is ``mx.sym``), when the block is hybridized on the CPU (Gluon
  builds the graph inside the input's context) and ``MXNET_EXEC_ENABLE_ADDTO`` is not 1;
* imperatively, for float32 or float64 CPU arrays;
* while the CPU runs the library's kernels (no other launcher installed, as the tests do);

and :func:`guarded` passes every input that is a gradient buffer's owner (a graph input or
parameter, an array with ``attach_grad``) through MXNet's copy operator first, whose backward
honours ``grad_req='add'``, so the operator's own gradients only ever reach that copy.

Their backward keeps the forward output too (a CustomOp declares what it keeps); measured on
san10_pairwise's training step that costs about 1 %, since MXNet's static memory plan keeps
most of those arrays anyway: peak 1342 MiB against 1330 MiB with the CustomOps.

Everywhere else (a GPU, a graph built on a GPU, the library not built,
``GLUON_CONVATTN_MXNET_OPS=0``) the CustomOps run. A graph built on the CPU holds these
operators, so a network hybridized there must be hybridized again (``net.hybridize()``) before
it runs on a GPU, and a symbol file it exported loads where this package is imported.
"""
import os
import threading
import warnings

import mxnet as mx
import numpy as np

from . import cpu_build

__all__ = ['ENV_VAR', 'LAYER_NORM', 'BATCH_DOT', 'MIX', 'loaded', 'usable', 'guarded',
           'apply']

ENV_VAR = 'GLUON_CONVATTN_MXNET_OPS'
LAYER_NORM = 'gluon_convattn_layer_norm'
BATCH_DOT = 'gluon_convattn_batch_dot'
MIX = 'gluon_convattn_mix'

_state = {}
_lock = threading.Lock()


def _enabled():
    return os.environ.get(ENV_VAR, '1').strip().lower() not in ('0', 'false', 'no', 'off')


def loaded():
    """Whether the operators are registered in this MXNet: the library is built and loads, and
    ``GLUON_CONVATTN_MXNET_OPS`` is not 0. Loads it on the first call; a library that is present
    but fails to load warns once."""
    if not _enabled():
        return False
    with _lock:
        if 'loaded' not in _state:
            _state['loaded'] = _load(cpu_build.PACKAGE_EXTENSION)
        return _state['loaded']


def _load(path):
    if not os.path.isfile(path):
        return False
    try:
        mx.library.load(path, verbose=False)
    except mx.base.MXNetError as err:
        warnings.warn('gluon_convattn: %s did not load (%s); the kernels run behind CustomOps. '
                      'Rebuild it with `python -m gluon_convattn.ops.cpu_build`.'
                      % (path, str(err).strip().splitlines()[0]), RuntimeWarning, stacklevel=4)
        return False
    return True


def usable(F, arrays):
    """Whether the MXNet operators may compute on ``arrays`` (see the module docstring)."""
    if os.environ.get('MXNET_EXEC_ENABLE_ADDTO', '0') == '1' or not loaded():
        return False
    from . import cpu_kernels, custom
    if custom.get_launcher('cpu') is not cpu_kernels.launcher():
        return False
    if F is mx.nd:
        return all(a.context.device_type == 'cpu' and
                   np.dtype(a.dtype).name in ('float32', 'float64') for a in arrays)
    return mx.context.current_context().device_type == 'cpu'


def apply(F, name, arrays, **attrs):
    """The registered operator ``name`` of ``F`` (mx.nd or mx.sym) on ``arrays`` passed through
    :func:`guarded`, with the string attributes ``attrs``; call it where :func:`usable` allows."""
    return getattr(F, name)(*guarded(F, arrays), **attrs)


def _owns_gradient(F, x):
    if F is mx.nd:
        return x.grad is not None
    return x.get_children() is None          # a variable: a graph input or a parameter


def guarded(F, arrays):
    """``arrays``, each that owns a gradient buffer through MXNet's copy operator (whose
    backward honours the gradient request), the others as they are."""
    return [F.identity(x) if _owns_gradient(F, x) else x for x in arrays]
