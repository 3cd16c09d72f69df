"""Checks the layer and network tests share: gradients imperatively and hybridized, and an
export / ``SymbolBlock.imports`` round trip."""
import mxnet as mx
import numpy as np


def outputs_and_grads(net, x):
    """Run ``sum(net(x) ** 2)`` forward and backward imperatively, then hybridized.

    Returns ``[(output, {parameter: gradient}), ...]`` for the two runs (trainable parameters).
    """
    runs = []
    for hybridize in (False, True):
        if hybridize:
            net.hybridize()
        with mx.autograd.record():
            out = net(x)
            loss = (out ** 2).sum()
        loss.backward()
        runs.append((out.asnumpy(), {k: p.grad().asnumpy().copy() for k, p in
                                     net._collect_params_with_prefix().items()
                                     if p.grad_req != 'null'}))
    return runs


def assert_export_round_trip(net, x, prefix, atol=1e-6):
    """Hybridize ``net``, export it to ``prefix`` and check that the imported graph gives the
    same output on ``x``."""
    net.hybridize()
    expected = net(x).asnumpy()
    net.export(prefix)
    loaded = mx.gluon.SymbolBlock.imports(prefix + '-symbol.json', ['data'],
                                          prefix + '-0000.params')
    np.testing.assert_allclose(loaded(x).asnumpy(), expected, rtol=1e-5, atol=atol)
