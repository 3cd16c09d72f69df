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
from support.autograd import output_and_input_gradient

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
    results = [output_and_input_gradient(fn, x, loss=lambda y: (y * y).sum())
               for fn in (lambda v: ops.relu(mx.nd, v), mx.nd.relu)]
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    sym = ops.relu(mx.sym, mx.sym.var('x'))
    assert json.loads(sym.tojson())['nodes'][-1]['op'] == 'Activation'


def _readers(nodes, readers, producers):
    return sorted('%s <- %s' % (node['op'], nodes[i[0]]['op']) for node in nodes
                  if node['op'] in readers for i in node['inputs']
                  if nodes[i[0]]['op'] in producers)


@pytest.mark.parametrize('name', ['atkernel_resnet26_tiny', 'atkernel_resnet50'])
def test_at_kernel_reads_no_shape_or_scalar_product_of_a_convolution_or_pooling(name):
    """AT-kernel's (N, channels, k*k, H*W) attention logits: the normalised attention takes its
    shape from the layer's arguments, not from the logits through ``reshape_like``, and the
    window sum is not a scalar product of the pooling (copies of oneDNN outputs that MXNet keeps
    in a static graph: 72 MiB for the logits of atkernel_resnet26_tiny)."""
    found = _readers(_graph_nodes(name), {'reshape_like', '_mul_scalar'},
                     {'Convolution', 'Pooling'})
    assert found == []


def _source_through_reshapes(nodes, index):
    while nodes[index]['op'] in ('Reshape', 'reshape_like'):
        index = nodes[index]['inputs'][0][0]
    return nodes[index]['op']


@pytest.mark.parametrize('name, producer', [('atkernel_resnet26_tiny', 'batch_dot'),
                                            ('atkernel_resnet50', 'Convolution')])
def test_at_kernel_logits_come_from_a_matrix_product_where_the_weight_is_small(name, producer):
    """The MLP's output layer is a matrix product (plain layout for the layer norm) when it has
    at most MATMUL_MAX_WEIGHTS weights (Tiny: 256 x 16), a convolution otherwise (ResNet-50's
    last stage: 2048 x 128)."""
    nodes = _graph_nodes(name)
    norms = [n for n in nodes if n['op'] == 'gluon_convattn_layer_norm']
    assert norms
    assert {_source_through_reshapes(nodes, n['inputs'][0][0]) for n in norms} == {producer}
