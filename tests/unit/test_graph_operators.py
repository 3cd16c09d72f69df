"""Which MXNet operators the networks' graphs use where MXNet 1.9's choice costs memory.

MXNet's ``relu`` operator has no MKL-DNN path: fed an MKL-DNN array (the output of a
convolution, batch norm, pooling, ...) in a graph hybridized with ``static_alloc``, it copies
its input and output to the plain layout and keeps both copies (san10_pairwise's training
step: 1334 MiB with ``relu``, 979 MiB with ``Activation``). Feature maps go through
``ops.relu`` (``Activation``) instead; these tests hold every registered network to that.
"""
import json

import mxnet as mx
import numpy as np
import pytest

from gluon_convattn import ops
from gluon_convattn.model_zoo import get_model, get_model_list

# operators whose output MXNet 1.9 may hand on in an MKL-DNN layout
MKLDNN_PRODUCERS = {'Convolution', 'Deconvolution', 'BatchNorm', 'Activation', 'Pooling',
                    'FullyConnected', 'Concat', 'elemwise_add', 'add_n', 'LeakyReLU',
                    '_contrib_BatchNormWithReLU'}


def _graph_nodes(name):
    out = get_model(name)(mx.sym.var('data'))
    sym = mx.sym.Group(list(out)) if isinstance(out, (list, tuple)) else out
    return json.loads(sym.tojson())['nodes']


def _relu_on_mkldnn_output(nodes):
    return ['%s <- %s' % (node['name'], nodes[i[0]]['op']) for node in nodes
            if node['op'] == 'relu' for i in node['inputs']
            if nodes[i[0]]['op'] in MKLDNN_PRODUCERS]


@pytest.mark.parametrize('name', get_model_list())
def test_no_relu_operator_on_a_feature_map(name):
    assert _relu_on_mkldnn_output(_graph_nodes(name)) == []


def test_the_check_finds_relu_after_batch_norm():
    data = mx.sym.var('data')
    nodes = json.loads(mx.sym.relu(mx.sym.BatchNorm(data, name='bn'), name='act')
                       .tojson())['nodes']
    assert _relu_on_mkldnn_output(nodes) == ['act <- BatchNorm']


def test_ops_relu_matches_mxnet_relu_forward_and_backward():
    x = mx.nd.array(np.random.RandomState(0).normal(size=(2, 3, 4, 5)))
    results = []
    for fn in (lambda v: ops.relu(mx.nd, v), mx.nd.relu):
        v = x.copy()
        v.attach_grad()
        with mx.autograd.record():
            y = fn(v)
            loss = (y * y).sum()
        loss.backward()
        results.append((y.asnumpy(), v.grad.asnumpy()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    sym = ops.relu(mx.sym, mx.sym.var('x'))
    assert json.loads(sym.tojson())['nodes'][-1]['op'] == 'Activation'


def _plain_layout_operators_on_mkldnn_output(nodes, ops_to_check):
    return sorted('%s <- %s' % (node['op'], nodes[i[0]]['op']) for node in nodes
                  if node['op'] in ops_to_check for i in node['inputs']
                  if nodes[i[0]]['op'] in MKLDNN_PRODUCERS)


@pytest.mark.parametrize('name', ['atkernel_resnet26_tiny', 'atkernel_resnet50'])
def test_at_kernel_takes_no_shape_or_scalar_product_of_an_mkldnn_output(name):
    """AT-kernel's (N, channels, k*k, H*W) logits come from a convolution: the normalised
    attention takes its shape from the layer's arguments, not from the logits through
    ``reshape_like``, and the window sum is not a scalar product of the pooling (copies that
    MXNet keeps in a static graph: 72 MiB for the logits of atkernel_resnet26_tiny)."""
    found = _plain_layout_operators_on_mkldnn_output(
        _graph_nodes(name), {'reshape_like', '_mul_scalar'})
    assert found == []
