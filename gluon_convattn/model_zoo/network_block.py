"""The base of every network of the zoo: what all of them do beyond a HybridBlock.

- ``net.cast('float16')`` on the CPU: MXNet has no float16 convolution there and reports it
  later, inside an unrelated call (even another network's ``export``); the forward pass refuses
  at once with the float16-on-CPU message instead.
- Pickling after ``hybridize()``: the compiled graph is a ctypes handle, which ``pickle`` refuses
  ("ctypes objects containing pointers cannot be pickled"); it is left out of the pickle and
  rebuilt at the next call, so the unpickled network is still hybridized, with the same
  parameters.
"""
import mxnet as mx
import numpy as np
from mxnet.gluon.block import HybridBlock

from ..utils.checks import check_float16_on_cpu

__all__ = ['NetworkBlock']


class NetworkBlock(HybridBlock):
    """HybridBlock base of the zoo's networks (see the module docstring)."""

    def cast(self, dtype):
        super(NetworkBlock, self).cast(dtype)
        self._network_dtype = np.dtype(dtype).name

    def forward(self, x, *args):
        if getattr(self, '_network_dtype', None) == 'float16' and isinstance(x, mx.nd.NDArray):
            check_float16_on_cpu('float16', x.context, '%s, cast to float16 (net.cast),'
                                 % type(self).__name__, "cast it back with net.cast('float32') "
                                 "on the CPU, or run it on a GPU")
        return super(NetworkBlock, self).forward(x, *args)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.update(_cached_graph=(), _cached_op=None, _cached_op_args=[])
        return state
