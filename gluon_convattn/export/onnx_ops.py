"""ONNX translations for the MXNet operators that MXNet 1.9's exporter (``mx.onnx``) lacks.

The networks' graphs use operators the exporter cannot convert, or converts only for a few
hard-coded shapes:

* ``im2col`` (the window taps of the composite sliding-window operators): a depthwise
  ``Conv`` whose ``kh*kw`` output channels are one-hot filters, one per tap, over the input
  reshaped to (N*C, 1, H, W), so the filters do not depend on C;
* ``Reshape`` with MXNet's special values ``-2`` (copy the rest), ``-3`` (merge two), ``-4``
  (split one) or ``reverse=True``: the target shape is computed in the graph from
  ``Shape(x)``, so the batch dimension stays dynamic;
* ``_mod_scalar`` (Python's ``%``, the sign of the divisor, as MXNet computes it):
  ``x - floor(x / s) * s``;
* ``_greater_equal_scalar``: ``GreaterOrEqual`` then a cast back to the input type;
* ``GroupNorm`` (MXNet 1.9's, with one gamma and beta per *group*): the statistics over
  (N, G, -1), then the per-group affine;
* ``Custom`` nodes of the kernel CustomOps (``op_type`` ``gluon_convattn_<operator>``): the
  composite operator is built as a symbol with the node's window and converted node by node
  with the same translations, so a kernel graph exports to the composite path's subgraph
  (and the CPU library's layer norm and batched product as MXNet's ``LayerNorm`` and
  ``batch_dot``);
* the same operators as MXNet operators (``gluon_convattn_<name>``, :mod:`..ops.extension`),
  translated as the CustomOps, and ACmix's output mix (``gluon_convattn_mix``) as its
  composite form;
* ``SwapAxis`` of an axis with itself (the plain-layout copies around those CustomOps):
  ``Identity``.

Everything is written for ONNX opset 13 (the exported models declare it). :func:`installed`
puts the translations into the exporter's registry for the duration of an export and restores
what was there before.
"""
import ast
import contextlib
import json

import mxnet as mx
import numpy as np

from ..ops import composite, kernel_spec
from ..ops.extension import MIX as MIX_OP_TYPE
from ..ops.matmul import OP_TYPE as BATCH_DOT_OP_TYPE
from ..ops.mix import mix_composite
from ..ops.norm import OP_TYPE as LAYER_NORM_OP_TYPE

__all__ = ['OPSET', 'installed', 'TRANSLATIONS']

OPSET = 13
_INT64_MAX = np.iinfo(np.int64).max


def _onnx():
    import onnx
    return onnx


def _graph():
    from mxnet.onnx.mx2onnx._export_onnx import MXNetGraph
    return MXNetGraph


def _inputs(node, kwargs):
    """(name, input names, input dtypes, attrs) of an MXNet JSON node being converted."""
    lookup = kwargs['outputs_lookup']
    outputs = [lookup[i[0]][i[1]] for i in node['inputs']]
    return (node['name'], [o.name for o in outputs], [o.dtype for o in outputs],
            node.get('attrs', {}))


def _tensor_type(dtype):
    return _onnx().helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def _constant(kwargs, name, values, dtype=np.int64):
    """Add an initializer ``name`` holding ``values``; returns its name."""
    array = np.asarray(values, dtype=dtype)
    kwargs['initializer'].append(_onnx().numpy_helper.from_array(array, name))
    return name


def _make(op, inputs, outputs, **attrs):
    return _onnx().helper.make_node(op, inputs, outputs, **attrs)


def _ints(text):
    """MXNet's '(7, 7)' / '7' / 'None' attribute strings as tuples of ints (never evaluated)."""
    value = ast.literal_eval(text)
    if value is None:
        return None
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _is_true(text):
    return str(text) in ('True', 'true', '1')


# ----------------------------------------------------------------------------------- Reshape
class _ShapeBuilder(object):
    """Pieces of a target shape as int64 tensors, taken from ``Shape(x)`` at run time."""

    def __init__(self, name, shape, kwargs):
        self.name, self.shape, self.kwargs = name, shape, kwargs
        self.nodes, self.count = [], 0

    def _fresh(self, what):
        self.count += 1
        return '%s_%s%d' % (self.name, what, self.count)

    def dims(self, start, end):
        """``shape[start:end]`` (Python indices, ``end`` None for the rest)."""
        begin = _constant(self.kwargs, self._fresh('begin'), [start])
        stop = _constant(self.kwargs, self._fresh('end'), [_INT64_MAX if end is None else end])
        out = self._fresh('dims')
        self.nodes.append(_make('Slice', [self.shape, begin, stop], [out]))
        return out

    def value(self, v):
        return _constant(self.kwargs, self._fresh('value'), [v])

    def binary(self, op, a, b):
        out = self._fresh(op.lower())
        self.nodes.append(_make(op, [a, b], [out]))
        return out


def _reshape_pieces(target, build, reverse):
    """Translate MXNet's reshape codes into a list of shape pieces (MXNet's InferReshapeShape).

    With ``reverse`` the codes are matched from the right: ``target`` arrives reversed, the
    input's dimensions are indexed from the end, and the caller reverses the pieces back.
    """
    def dims(i, count=1):
        if not reverse:
            return build.dims(i, None if count is None else i + count)
        if count is None:
            return build.dims(0, -i if i else None)
        return build.dims(-i - count, -i if i else None)

    pieces, src, i = [], 0, 0
    while i < len(target):
        code = target[i]
        if code > 0 or code == -1:
            pieces.append(build.value(code))
            src += 1
        elif code == 0:
            pieces.append(dims(src))
            src += 1
        elif code == -2:
            if i != len(target) - 1:
                raise ValueError('Reshape code -2 is supported only last, got %r' % (target,))
            pieces.append(dims(src, None))
        elif code == -3:
            pieces.append(build.binary('Mul', dims(src), dims(src + 1)))
            src += 2
        elif code == -4:
            first, second = target[i + 1], target[i + 2]
            whole = dims(src)
            if first == -1:
                first = build.binary('Div', whole, build.value(second))
                second = build.value(second)
            elif second == -1:
                second = build.binary('Div', whole, build.value(first))
                first = build.value(first)
            else:
                first, second = build.value(first), build.value(second)
            pieces.extend([first, second])
            src += 1
            i += 2
        else:
            raise ValueError('unknown Reshape code %d in %r' % (code, target))
        i += 1
    return pieces


def convert_reshape(node, **kwargs):
    """MXNet Reshape (every special code, ``reverse``) as ONNX Reshape of a computed shape."""
    name, inputs, _, attrs = _inputs(node, kwargs)
    target = list(_ints(attrs['shape']))
    reverse = _is_true(attrs.get('reverse', 'False'))
    if not reverse and not any(code in (-2, -3, -4) for code in target):
        return [_make('Reshape', [inputs[0], _constant(kwargs, name + '_shape', target)],
                      [name], name=name)]
    shape = name + '_input_shape'
    build = _ShapeBuilder(name, shape, kwargs)
    pieces = _reshape_pieces(target[::-1] if reverse else target, build, reverse)
    if reverse:
        pieces = pieces[::-1]
    return ([_make('Shape', [inputs[0]], [shape])] + build.nodes
            + [_make('Concat', pieces, [name + '_shape'], axis=0),
               _make('Reshape', [inputs[0], name + '_shape'], [name], name=name)])


# ------------------------------------------------------------------------------------ im2col
def convert_im2col(node, **kwargs):
    """im2col as a depthwise one-hot convolution over (N*C, 1, H, W), reshaped to
    (N, C*kh*kw, Ho*Wo) with MXNet's channel-major order (channel c, tap j at c*kh*kw + j)."""
    name, inputs, dtypes, attrs = _inputs(node, kwargs)
    kernel = _ints(attrs['kernel'])
    stride = _ints(attrs.get('stride', '(1, 1)')) or (1, 1)
    dilate = _ints(attrs.get('dilate', '(1, 1)')) or (1, 1)
    pad = _ints(attrs.get('pad', '(0, 0)')) or (0, 0)
    taps = kernel[0] * kernel[1]
    filters = np.eye(taps, dtype=dtypes[0]).reshape(taps, 1, kernel[0], kernel[1])
    planes, conv, out = name + '_planes', name + '_taps', name + '_shape'
    source = _ShapeBuilder(name, name + '_input_shape', kwargs)
    planes_shape = [source.value(-1), source.value(1), source.dims(2, 4)]   # (N*C, 1, H, W)
    batch = source.dims(0, 1)
    taps_shape = _ShapeBuilder(name + '_out', name + '_conv_shape', kwargs)
    nodes = [_make('Shape', [inputs[0]], [source.shape])] + source.nodes + [
        _make('Concat', planes_shape, [planes + '_shape'], axis=0),
        _make('Reshape', [inputs[0], planes + '_shape'], [planes]),
        _make('Conv', [planes, _constant(kwargs, name + '_filters', filters, dtypes[0])], [conv],
              kernel_shape=list(kernel), strides=list(stride), dilations=list(dilate),
              pads=[pad[0], pad[1], pad[0], pad[1]]),                   # (N*C, taps, Ho, Wo)
        _make('Shape', [conv], [taps_shape.shape])]
    length = taps_shape.binary('Mul', taps_shape.dims(2, 3), taps_shape.dims(3, 4))
    return nodes + taps_shape.nodes + [
        _make('Concat', [batch, taps_shape.value(-1), length], [out], axis=0),
        _make('Reshape', [conv, out], [name], name=name)]


# ------------------------------------------------------------------------- scalar operators
def _scalar(kwargs, name, attrs, dtype):
    return _constant(kwargs, name, [float(attrs['scalar'])], dtype)


def convert_mod_scalar(node, **kwargs):
    """``x % s`` with the sign of the divisor: ``x - floor(x / s) * s``."""
    name, inputs, dtypes, attrs = _inputs(node, kwargs)
    if np.issubdtype(np.dtype(dtypes[0]), np.integer):
        s = _constant(kwargs, name + '_scalar', [int(float(attrs['scalar']))], dtypes[0])
        return [_make('Mod', [inputs[0], s], [name], name=name)]
    s = _scalar(kwargs, name + '_scalar', attrs, dtypes[0])
    return [_make('Div', [inputs[0], s], [name + '_div']),
            _make('Floor', [name + '_div'], [name + '_floor']),
            _make('Mul', [name + '_floor', s], [name + '_mul']),
            _make('Sub', [inputs[0], name + '_mul'], [name], name=name)]


def convert_greater_equal_scalar(node, **kwargs):
    """``x >= s`` as 1/0 in x's type."""
    name, inputs, dtypes, attrs = _inputs(node, kwargs)
    s = _scalar(kwargs, name + '_scalar', attrs, dtypes[0])
    return [_make('GreaterOrEqual', [inputs[0], s], [name + '_ge']),
            _make('Cast', [name + '_ge'], [name], to=_tensor_type(dtypes[0]), name=name)]


# --------------------------------------------------------------------------------- GroupNorm
def convert_group_norm(node, **kwargs):
    """MXNet 1.9's GroupNorm: statistics over each group, then gamma[g] and beta[g]."""
    name, inputs, dtypes, attrs = _inputs(node, kwargs)
    if _is_true(attrs.get('output_mean_var', 'False')):
        raise ValueError('GroupNorm with output_mean_var=True has no ONNX translation')
    groups = int(attrs.get('num_groups', '1'))
    eps = float(attrs.get('eps', '1e-05'))
    x, gamma, beta = inputs
    grouped = _constant(kwargs, name + '_grouped_shape', [0, groups, -1])
    per_group = _constant(kwargs, name + '_affine_shape', [1, groups, 1])
    epsilon = _constant(kwargs, name + '_eps', [eps], dtypes[0])
    return [
        _make('Shape', [x], [name + '_input_shape']),
        _make('Reshape', [x, grouped], [name + '_grouped']),
        _make('ReduceMean', [name + '_grouped'], [name + '_mean'], axes=[2], keepdims=1),
        _make('Sub', [name + '_grouped', name + '_mean'], [name + '_centred']),
        _make('Mul', [name + '_centred', name + '_centred'], [name + '_squared']),
        _make('ReduceMean', [name + '_squared'], [name + '_var'], axes=[2], keepdims=1),
        _make('Add', [name + '_var', epsilon], [name + '_var_eps']),
        _make('Sqrt', [name + '_var_eps'], [name + '_std']),
        _make('Div', [name + '_centred', name + '_std'], [name + '_normed']),
        _make('Reshape', [gamma, per_group], [name + '_gamma']),
        _make('Reshape', [beta, per_group], [name + '_beta']),
        _make('Mul', [name + '_normed', name + '_gamma'], [name + '_scaled']),
        _make('Add', [name + '_scaled', name + '_beta'], [name + '_affine']),
        _make('Reshape', [name + '_affine', name + '_input_shape'], [name], name=name),
    ]


# ---------------------------------------------------------------------- kernel CustomOps
class _Output(object):
    def __init__(self, name, dtype):
        self.name, self.dtype = name, np.dtype(dtype)


def _composite_symbol(operator, attrs, arrays):
    """The composite form of a kernel CustomOp node, on the variables ``arrays``."""
    win = composite.window(_ints(attrs['kernel']), _ints(attrs['stride']),
                           _ints(attrs['padding']), _ints(attrs['dilation']),
                           int(attrs['pad_mode']))
    kwargs = dict(kernel_size=win.kernel, stride=win.stride, padding=win.padding,
                  dilation=win.dilation, pad_mode=win.pad_mode)
    if operator == 'local_dot':
        kwargs['groups'] = int(attrs['groups'])
    return getattr(composite, operator)(mx.sym, *arrays, **kwargs)


def convert_custom(node, **kwargs):
    """A ``gluon_convattn_<operator>`` CustomOp node as its composite operator's subgraph."""
    name, inputs, dtypes, attrs = _inputs(node, kwargs)
    op_type = attrs.get('op_type', '')
    operators = {'gluon_convattn_' + op: op for op in kernel_spec.OPERATORS}
    arrays = [mx.sym.var('in%d' % i) for i in range(len(inputs))]
    if op_type == LAYER_NORM_OP_TYPE:
        composite_sym = mx.sym.LayerNorm(*arrays, axis=-1, eps=float(attrs['eps']))
    elif op_type == BATCH_DOT_OP_TYPE:
        composite_sym = mx.sym.batch_dot(*arrays, transpose_a=_is_true(attrs['transpose_a']),
                                         transpose_b=_is_true(attrs['transpose_b']))
    elif op_type == MIX_OP_TYPE:
        composite_sym = mix_composite(mx.sym, arrays[2], arrays[3], arrays[0], arrays[1])
    elif op_type in operators:
        composite_sym = _composite_symbol(operators[op_type], attrs, arrays)
    else:
        raise ValueError('Custom operator %r has no ONNX translation; only the kernel '
                         'CustomOps %s export' % (op_type, sorted(operators) + [
                             LAYER_NORM_OP_TYPE, BATCH_DOT_OP_TYPE, MIX_OP_TYPE]))
    sub_nodes = json.loads(composite_sym.tojson())['nodes']
    lookup, converted = [], []
    for j, sub in enumerate(sub_nodes):
        if sub['op'] == 'null':
            index = int(sub['name'][2:])
            lookup.append([_Output(inputs[index], dtypes[index])])
            continue
        sub = dict(sub, name='%s/%s' % (name, sub['name']))
        sub_kwargs = dict(kwargs, outputs_lookup=lookup, mx_graph=sub_nodes,
                          idx='%s_%d' % (kwargs.get('idx', name), j))
        result, out_dtypes = _graph().convert_layer(sub, **sub_kwargs)
        converted.extend(result)
        outputs = [o for n in result for o in n.output if o == sub['name']]
        out_name = outputs[0] if outputs else result[-1].name
        first = lookup[sub['inputs'][0][0]][sub['inputs'][0][1]].dtype
        lookup.append([_Output(out_name, out_dtypes[0] if out_dtypes else first)])
    return converted + [_make('Identity', [lookup[-1][0].name], [name], name=name)]


_MXNET_TRANSLATIONS = {}


def convert_extension(node, **kwargs):
    """An MXNet operator of :mod:`gluon_convattn.ops.extension` (``gluon_convattn_<name>``, the
    CPU library's kernels), translated as the CustomOp of the same name."""
    attrs = dict(node.get('attrs', {}), op_type=node['op'])
    return convert_custom(dict(node, attrs=attrs), **kwargs)


def convert_swapaxis(node, **kwargs):
    """``SwapAxis`` of an axis with itself (the plain-layout copy the kernel CustomOps put on
    their inputs and output, ``ops/custom.py``) is an ``Identity``; others go to MXNet's own
    translation."""
    name, inputs, _, attrs = _inputs(node, kwargs)
    if int(attrs.get('dim1', 0)) == int(attrs.get('dim2', 0)):
        return [_make('Identity', [inputs[0]], [name], name=name)]
    return _MXNET_TRANSLATIONS['SwapAxis'](node, **kwargs)


TRANSLATIONS = {
    'Reshape': convert_reshape,
    'SwapAxis': convert_swapaxis,
    'im2col': convert_im2col,
    '_mod_scalar': convert_mod_scalar,
    '_greater_equal_scalar': convert_greater_equal_scalar,
    'GroupNorm': convert_group_norm,
    'Custom': convert_custom,
}
TRANSLATIONS.update({name: convert_extension for name in [
    LAYER_NORM_OP_TYPE, BATCH_DOT_OP_TYPE, MIX_OP_TYPE] + [
    'gluon_convattn_' + op for op in kernel_spec.OPERATORS]})


@contextlib.contextmanager
def installed():
    """Within the block, MXNet's exporter uses :data:`TRANSLATIONS` and works at opset 13.

    The exporter takes its opset from ``onnx.defs.onnx_opset_version()`` (the newest the
    installed onnx knows) and checks the graph against it; both are pinned to :data:`OPSET`
    for the block, since MXNet's translations are written for opsets 12 and 13.
    """
    import mxnet.onnx  # noqa: F401  (loads MXNet's own translations into the registry)
    onnx = _onnx()
    registry = _graph().registry_.setdefault(OPSET, {})
    saved = {op: registry[op] for op in TRANSLATIONS if op in registry}
    _MXNET_TRANSLATIONS.update(saved)
    latest, checked = onnx.defs.onnx_opset_version, onnx.checker.DEFAULT_CONTEXT.opset_imports
    registry.update(TRANSLATIONS)
    onnx.defs.onnx_opset_version = lambda: OPSET
    onnx.checker.DEFAULT_CONTEXT.opset_imports = {'': OPSET}
    try:
        yield
    finally:
        onnx.defs.onnx_opset_version = latest
        onnx.checker.DEFAULT_CONTEXT.opset_imports = checked
        for op in TRANSLATIONS:
            registry.pop(op, None)
        registry.update(saved)
