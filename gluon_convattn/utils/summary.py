"""Trainable parameters and multiply-adds of a network, per stage, from its hybridized graph.

The graph (``net(mx.sym.var('data'))``) is walked node by node with the shapes MXNet infers for
one image. Multiply-adds (MACs; one multiplication and one addition count once) are counted for:

* ``Convolution``: output elements x (C_in / groups) x kh x kw; ``FullyConnected``: output
  elements x input features; ``batch_dot``/``dot``: output elements x the contracted length
  (none for a length of 1, a scaling; nor for ``ops.pointwise``'s bias, folded into its
  product as a row of ones).
  Biases are not counted. A convolution whose filters are constants built in the graph (not
  derived from any parameter; KAConv's one-hot shift filters) moves data and counts zero.
* The sliding-window operators by what they compute, which needs the graph of their kernel
  CustomOps (``impl='kernel'``; :func:`summarize` builds the network that way, no GPU is
  needed to trace it): ``aggregation`` C x kh*kw x Ho*Wo (one MAC per channel, tap and output
  position), ``local_dot`` the same with C the channels of its inputs; ``subtraction`` and
  ``subtraction2`` count zero MACs (their C x kh*kw x Ho*Wo subtractions are listed apart, as
  ``subtractions``); ``im2col`` (``ops.unfold``) is data movement and counts zero.
* Everything else counts zero: BatchNorm, LayerNorm, GroupNorm, activations, softmax, pooling,
  padding, reshapes, and elementwise arithmetic (ATAC's and ACmix's gating products, residual
  sums, SAN's position encoding).

Stages are the network's top-level child blocks (a ``features`` or ``layers`` HybridSequential,
MobileNet's and Swin's layouts, opened into its children), in registration order; a graph node
belongs to the stage whose parameters it reads, else the one whose name prefix it carries, else
the stage of the node before it.
"""
import json
from collections import OrderedDict, namedtuple

import mxnet as mx
import numpy as np

__all__ = ['Stage', 'summarize', 'count_macs', 'format_summary']

Stage = namedtuple('Stage', ['name', 'params', 'macs', 'subtractions'])

_CONTAINERS = ('features', 'layers')
_SLIDING = {'gluon_convattn_aggregation', 'gluon_convattn_local_dot',
            'gluon_convattn_subtraction', 'gluon_convattn_subtraction2'}
_BATCH_DOT = 'gluon_convattn_batch_dot'     # ops.batch_dot's CustomOp or MXNet operator


def _stage_blocks(net):
    """(label, block) of the stages: the top-level children, with a ``features`` (MobileNet)
    or ``layers`` (Swin) container opened into its children."""
    stages = []
    for label, child in net._children.items():
        if label in _CONTAINERS and isinstance(child, mx.gluon.nn.HybridSequential):
            stages.extend(('%s.%s' % (label, sub_label), sub)
                          for sub_label, sub in child._children.items())
        else:
            stages.append((label, child))
    return stages


def _shapes(sym, input_shape, other_inputs):
    internals = sym.get_internals()
    args, outs, auxs = internals.infer_shape(data=input_shape, **other_inputs)
    shapes = dict(zip(internals.list_arguments(), args))
    shapes.update(zip(internals.list_auxiliary_states(), auxs))
    shapes.update(zip(internals.list_outputs(), outs))
    return shapes


def _output_shape(shapes, nodes, entry):
    """The shape of graph entry ``[node_id, output_index, version]`` (a single-output node's
    output is ``NAME_output``, a multi-output node's ``NAME_output0``, ``NAME_output1``...)."""
    node_id, index = entry[0], entry[1]
    name = nodes[node_id]['name']
    if nodes[node_id]['op'] == 'null':
        return shapes[name]
    if index == 0 and name + '_output' in shapes:
        return shapes[name + '_output']
    return shapes['%s_output%d' % (name, index)]


def _folds_bias(nodes, node):
    """Whether a product's right operand ends in ``ops.pointwise``'s row of ones (a
    concatenation whose last part is held out of the gradient)."""
    rhs = nodes[node['inputs'][1][0]]
    return rhs['op'] == 'Concat' and nodes[rhs['inputs'][-1][0]]['op'] == 'BlockGrad'


def _constant_nodes(nodes):
    """Ids of nodes computed from no variable at all (constants built in the graph)."""
    constant = set()
    for i, node in enumerate(nodes):
        if node['op'] != 'null' and all(src[0] in constant for src in node['inputs']):
            constant.add(i)
    return constant


def _node_cost(node, inputs, output, weight_is_constant):
    """(MACs, subtractions) of one graph node, given its input and output shapes."""
    op, attrs = node['op'], node.get('attrs', {})
    if op == _BATCH_DOT or op in _SLIDING:         # the same kernels as MXNet operators
        op, attrs = 'Custom', dict(attrs, op_type=op)
    out = int(np.prod(output))
    if op == 'Convolution':
        return (0 if weight_is_constant else out * int(np.prod(inputs[1][1:]))), 0
    if op == 'FullyConnected':
        return out * int(inputs[1][1]), 0
    if op in ('batch_dot', 'dot') or (op == 'Custom' and attrs.get('op_type') == _BATCH_DOT):
        lhs = inputs[0]
        transposed = attrs.get('transpose_a', 'False') in ('True', '1')
        contracted = int(lhs[-2] if transposed else lhs[-1])
        # a product over one element is a scaling (ACmix's rate mix written as a dot)
        return (out * contracted if contracted > 1 else 0), 0
    if op == 'Custom' and attrs.get('op_type') in _SLIDING:
        kind = attrs['op_type'][len('gluon_convattn_'):]
        if kind == 'aggregation':                  # out (N, C, Ho, Wo); w (N, Cw, taps, L)
            return out * int(inputs[1][2]), 0
        if kind == 'local_dot':                    # out (N, G, taps, L); x1 (N, C, H, W)
            return out * (int(inputs[0][1]) // int(output[1])), 0
        return 0, out                              # subtraction(2): out (N, C, taps, L)
    return 0, 0


def count_macs(sym, input_shape, stages=(), other_inputs=None):
    """Multiply-adds and subtractions of ``sym`` on ``input_shape``, per stage.

    ``input_shape`` is the shape of the variable ``data``; ``other_inputs`` maps the names of
    further input variables to their shapes.
    ``stages`` is a list of ``(label, name_prefix, parameter_names)``. A node belongs to the
    stage whose parameters it reads, else to the stage whose name prefix it carries (the
    longest), else to the stage of the node before it (graph order is execution order), else
    to ``'(network)'``. Returns an OrderedDict ``label -> (macs, subtractions)``.
    """
    nodes = json.loads(sym.tojson())['nodes']
    shapes = _shapes(sym, input_shape, other_inputs or {})
    constant = _constant_nodes(nodes)
    owner_of = {name: label for label, _, names in stages for name in names}
    by_prefix = sorted(((prefix, label) for label, prefix, _ in stages),
                       key=lambda item: len(item[0]), reverse=True)
    totals = OrderedDict((label, [0, 0]) for label, _, _ in stages)
    totals.setdefault('(network)', [0, 0])
    previous = '(network)'
    for node_id, node in enumerate(nodes):
        if node['op'] == 'null':
            continue
        inputs = [_output_shape(shapes, nodes, entry) for entry in node['inputs']]
        output = _output_shape(shapes, nodes, [node_id, 0])
        weight_const = node['op'] == 'Convolution' and node['inputs'][1][0] in constant
        macs, subs = _node_cost(node, inputs, output, weight_const)
        if node['op'] == 'batch_dot' and _folds_bias(nodes, node):
            macs -= int(np.prod(output))
        owners = [owner_of[nodes[e[0]]['name']] for e in node['inputs']
                  if nodes[e[0]]['name'] in owner_of]
        owner = owners[0] if owners else next(
            (label for prefix, label in by_prefix if node['name'].startswith(prefix)), previous)
        totals[owner][0] += macs
        totals[owner][1] += subs
        previous = owner
    return OrderedDict((label, tuple(v)) for label, v in totals.items())


def _trainable(block):
    return int(sum(np.prod(p.shape) for p in block.collect_params().values()
                   if p.grad_req != 'null'))


def summarize(name, input_size=None, **model_kwargs):
    """Per-stage trainable parameters and multiply-adds of a registered model on one image.

    Parameters
    ----------
    name : str
        Registered model name.
    input_size : int, optional
        Image height and width; the model's registered input size if None.
    **model_kwargs
        Passed to ``get_model`` (``impl`` is set to ``'kernel'`` so the sliding-window
        operators appear as single nodes; nothing is run).

    Returns
    -------
    list of Stage
        One row per stage with ``params``, ``macs`` and ``subtractions``, then the total
        (name ``'total'``). Stages with neither parameters nor operations are left out.
    """
    from ..model_zoo import get_model, get_model_info
    from .params import count_params
    info = get_model_info(name)
    size = info.input_size if input_size is None else input_size
    if not isinstance(size, int) or isinstance(size, bool) or size < info.min_size:
        raise ValueError('input_size must be an int >= %d for %s (its smallest input), got %r'
                         % (info.min_size, info.name, size))
    model_kwargs['impl'] = 'kernel' if _takes_impl(info) else model_kwargs.pop('impl', None)
    if model_kwargs['impl'] is None:
        del model_kwargs['impl']
    net = get_model(info.name, **model_kwargs)
    shape = (1, 3, size, size)
    total_params = count_params(net, shape)
    stages = _stage_blocks(net)
    out = net(mx.sym.var('data'))
    out = mx.sym.Group(list(out)) if isinstance(out, (list, tuple)) else out
    costs = count_macs(out, shape,
                       [(label, block.prefix, list(block.collect_params().keys()))
                        for label, block in stages])
    rows = [Stage(label, _trainable(block), *costs[label]) for label, block in stages]
    rows.append(Stage('(network)', total_params - sum(r.params for r in rows),
                      *costs['(network)']))
    rows = [r for r in rows if r.params or r.macs or r.subtractions]
    rows.append(Stage('total', total_params, sum(r.macs for r in rows),
                      sum(r.subtractions for r in rows)))
    return rows


def _takes_impl(info):
    """Whether the model takes ``impl`` (the networks built on the sliding-window operators)."""
    return 'impl' in info.arguments


def format_summary(rows):
    """The rows as an aligned text table (parameters, GMACs, subtractions)."""
    width = max(len(r.name) for r in rows)
    lines = ['%-*s %14s %10s %12s' % (width, 'stage', 'params', 'GMACs', 'subtractions')]
    for r in rows:
        lines.append('%-*s %14s %10.4f %12s' % (width, r.name, '{:,}'.format(r.params),
                                               r.macs / 1e9, '{:,}'.format(r.subtractions)))
    return '\n'.join(lines)
