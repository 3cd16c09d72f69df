"""One recorded forward and backward pass, for comparing an operator with its reference."""
import mxnet as mx

__all__ = ['outputs_and_gradients', 'output_and_input_gradient', 'weighted_by']


def outputs_and_gradients(fn, arrays, loss=lambda out: out.sum(), grad_req='write'):
    """``[fn(*arrays)]`` followed by the gradient of ``loss(fn(*arrays))`` with respect to each
    array, as numpy arrays; ``fn`` runs on copies of ``arrays`` under ``autograd.record``
    (train mode). With ``grad_req='add'`` every gradient starts at one, so a gradient that is
    written instead of added shows."""
    inputs = [a.copy() for a in arrays]
    for a in inputs:
        a.attach_grad(grad_req=grad_req)
        if grad_req == 'add':
            a.grad[:] = 1
    with mx.autograd.record():
        out = fn(*inputs)
        value = loss(out)
    value.backward()
    return [out.asnumpy()] + [a.grad.asnumpy() for a in inputs]


def output_and_input_gradient(fn, x, loss=lambda out: out.sum()):
    """``fn(x)`` and the gradient of ``loss(fn(x))`` with respect to ``x``, as numpy arrays
    (:func:`outputs_and_gradients` of one input)."""
    out, grad = outputs_and_gradients(fn, [x], loss)
    return out, grad


def weighted_by(head):
    """The loss ``sum(out * head)``, whose gradient with respect to ``out`` is ``head``."""
    return lambda out: (out * head).sum()
