"""A simple multiply-add counter over a network's symbolic graph.

:func:`count_macs` counts the multiply-adds of the layers that carry nearly all of a vision
network's arithmetic: ``Convolution`` (output elements x input channels per group x kernel
area), ``FullyConnected`` (output elements x input features) and ``batch_dot`` (output
elements x the contracted length). Elementwise operators, normalisation, softmax, pooling and
the composite window operators' broadcast products are not counted (for SAN's aggregation they
are under 0.05G at 224 px). The papers' "FLOPs" are such multiply-add counts.
"""
import json

import mxnet as mx
import numpy as np

__all__ = ['count_macs']


def _node_output_name(node):
    return node['name'] if node['op'] == 'null' else node['name'] + '_output'


def count_macs(net, input_shape=(1, 3, 224, 224)):
    """Multiply-adds of one forward pass of ``net`` on an ``input_shape`` batch.

    Parameters
    ----------
    net : HybridBlock
        The network (need not be initialized: the graph is built from a Symbol).
    input_shape : tuple
        The input batch shape (N, C, H, W).

    Returns
    -------
    int
        Multiply-adds of the ``Convolution``, ``FullyConnected`` and ``batch_dot`` nodes.
    """
    out = net(mx.sym.var('data'))
    if isinstance(out, (list, tuple)):
        out = mx.sym.Group(list(out))
    internals = out.get_internals()
    _, shapes, _ = internals.infer_shape(data=tuple(input_shape))
    shape_of = dict(zip(internals.list_outputs(), shapes))
    nodes = json.loads(out.tojson())['nodes']

    def input_shape_of(node, index):
        source = nodes[node['inputs'][index][0]]
        name = _node_output_name(source)
        if name not in shape_of:   # multi-output source: outputs are numbered
            name = '%s_output%d' % (source['name'], node['inputs'][index][1])
        return shape_of[name]

    total = 0
    for node in nodes:
        op = node['op']
        if op not in ('Convolution', 'FullyConnected', 'batch_dot'):
            continue
        produced = int(np.prod(shape_of[_node_output_name(node)]))
        if op in ('Convolution', 'FullyConnected'):
            total += produced * int(np.prod(input_shape_of(node, 1)[1:]))
        else:
            lhs = input_shape_of(node, 0)
            transpose_a = node.get('attrs', {}).get('transpose_a', 'False') in ('True', '1')
            total += produced * int(lhs[-2] if transpose_a else lhs[-1])
    return total
