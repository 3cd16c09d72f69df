"""One recorded forward and backward pass, for comparing an operator with its reference."""
import mxnet as mx

__all__ = ['output_and_input_gradient']


def output_and_input_gradient(fn, x, loss=lambda out: out.sum()):
    """``fn(x)`` and the gradient of ``loss(fn(x))`` with respect to ``x``, as numpy arrays;
    ``fn`` runs on a copy of ``x`` under ``autograd.record`` (train mode)."""
    x = x.copy()
    x.attach_grad()
    with mx.autograd.record():
        out = fn(x)
        value = loss(out)
    value.backward()
    return out.asnumpy(), x.grad.asnumpy()
