"""dreamcontinue/KAConv checkpoints -> :mod:`gluon_convattn.model_zoo.kaconv` (KAResNet).

Upstream saves ``{'state_dict': ...}`` (``module.`` prefixes when trained with DataParallel;
both removed by :func:`core.load_checkpoint`). The trunk maps by renaming (``basic_conv`` ->
``conv1``/``bn1``, ``stage_i`` -> ``layer{i}``, ``conv1.0/.1`` -> ``conv1``/``bn1``,
``conv3.0/.1`` -> ``conv3``/``bn3``, ``shortcut`` -> ``downsample``, ``classifier`` -> ``fc``).
Each KAConv (``...conv2.0.``) keeps one module per tap; :func:`fuse_kaconv` stacks them onto
our fused parameters:

===================================  =========================================================
upstream (tap ``b`` = 0 .. k*k-1)     ours (fused channel ``c*k*k + b`` = channel ``c``, tap ``b``)
===================================  =========================================================
``convs.b.1.weight`` (C, Cin, 1, 1)   ``weight`` (C*k*k, Cin, 1, 1): taps stacked on axis 1
``convs.b.2.{weight,bias,running_*}`` ``bn.{gamma,beta,running_*}`` (C*k*k): stacked on axis 1
``agg.fc.0.weight`` (L, C, k*k, 1)    AG-L ``agg.fc.weight`` (L, C*k*k): reshaped
``agg.fc.0.weight`` (L, C, 1, 1)      AG-H ``agg.fc.weight`` (L, C, 1, 1): as it is
``agg.fc.1.*``                        ``agg.bn.*``
``agg.fcs.b.weight`` (C, L, 1, 1)     AG-L ``agg.fcs.weight`` (C*k*k, L): stacked on axis 1
``agg.fcs.b.weight`` (C, L, k*k, 1)   AG-H ``agg.fcs.weight`` (C*k*k, L*k*k): stacked on axis 1
``agg.fcs.b.bias`` (C,)               ``agg.fcs.bias`` (C*k*k): stacked on axis 1
===================================  =========================================================

Every upstream key must be used and every parameter of ours filled, with the shapes checked.

Upstream's ``train.py`` pickles more than weights into its checkpoints (``best_model.pkl``): a
``metrics.RecorderMeter`` holding numpy arrays of the training curves. :func:`core.load_checkpoint`
reads such files with inert placeholders for those objects, so no upstream code is imported or
run.
"""
import re

import numpy as np

from .core import (ConversionError, check_complete, put, register_converter, rename,
                   strip_prefix)

__all__ = ['convert_kaconv', 'fuse_kaconv', 'upstream_ag', 'TRUNK_RULES']

TRUNK_RULES = (
    (r'^basic_conv\.0\.', 'conv1.'),
    (r'^basic_conv\.1\.', 'bn1.'),
    (r'^stage_(\d)\.', r'layer\1.'),
    (r'\.conv1\.0\.', '.conv1.'),
    (r'\.conv1\.1\.', '.bn1.'),
    (r'\.conv3\.0\.', '.conv3.'),
    (r'\.conv3\.1\.', '.bn3.'),
    (r'\.shortcut\.', '.downsample.'),
    (r'^classifier\.', 'fc.'),
)
_KACONV = re.compile(r'^stage_(\d)\.(\d+)\.conv2\.0\.(.+)$')
_BN = (('weight', 'gamma'), ('bias', 'beta'), ('running_mean', 'running_mean'),
       ('running_var', 'running_var'))
_UNUSED = ('num_batches_tracked',)


def _take(layer_state, key, where):
    if key not in layer_state:
        raise ConversionError('KAConv %s: upstream key %r is missing' % (where, key))
    return layer_state.pop(key)


def upstream_ag(layer_state):
    """'L' or 'H': which attention generator an upstream KAConv's weights belong to."""
    fc = layer_state.get('agg.fc.0.weight')
    return 'H' if fc is not None and fc.ndim == 4 and fc.shape[2] == 1 else 'L'


def fuse_kaconv(layer_state, where='layer', ag=None):
    """Stack one upstream KAConv's per-tap weights into our fused parameters.

    Parameters
    ----------
    layer_state : dict of str -> ndarray
        The KAConv's upstream weights, keys relative to the module (``convs.0.1.weight``,
        ``agg.fc.0.weight``, ...).
    where : str
        Names the layer in error messages.
    ag : 'L', 'H' or None
        The attention generator; None reads it from the weights' shapes (see
        :func:`upstream_ag`; a 1x1 KAConv's two kinds have the same shapes).

    Returns
    -------
    dict of str -> ndarray
        Our names relative to the :class:`~gluon_convattn.nn.KAConv` block (``weight``,
        ``bn.gamma``, ``agg.fc.weight``, ...).
    """
    state = {k: v for k, v in layer_state.items() if not k.endswith(_UNUSED)}
    taps = sorted(int(m.group(1)) for m in (re.match(r'^convs\.(\d+)\.1\.weight$', k)
                                            for k in state) if m)
    if not taps or taps != list(range(len(taps))):
        raise ConversionError('KAConv %s: expected per-tap keys convs.0.1.weight .. '
                              'convs.(k*k-1).1.weight, found taps %s' % (where, taps))
    ag = ag or upstream_ag(state)

    def stacked(key):
        per_tap = [_take(state, key % b, where) for b in taps]
        stack = np.stack(per_tap, axis=1)
        return stack.reshape((-1,) + per_tap[0].shape[1:]) if stack.ndim > 2 else stack.ravel()

    fused = {'weight': stacked('convs.%d.1.weight')}
    for theirs, ours in _BN:
        fused['bn.' + ours] = stacked('convs.%d.2.' + theirs)
        fused['agg.bn.' + ours] = _take(state, 'agg.fc.1.' + theirs, where)
    fc = _take(state, 'agg.fc.0.weight', where)
    if fc.ndim != 4 or fc.shape[3] != 1 or fc.shape[2] != (len(taps) if ag == 'L' else 1):
        raise ConversionError('KAConv %s: agg.fc.0.weight has shape %s, expected (L, C, %d, 1) '
                              'for AG-%s' % (where, fc.shape, len(taps) if ag == 'L' else 1, ag))
    fused['agg.fc.weight'] = fc.reshape(fc.shape[0], -1) if ag == 'L' else fc
    fcs = stacked('agg.fcs.%d.weight')
    fused['agg.fcs.weight'] = fcs.reshape(fcs.shape[0], -1)
    bias = ['agg.fcs.%d.bias' % b for b in taps]
    if any(k in state for k in bias):
        fused['agg.fcs.bias'] = stacked('agg.fcs.%d.bias')
    if state:
        raise ConversionError('KAConv %s: upstream keys %s have no counterpart'
                              % (where, sorted(state)))
    return fused


@register_converter('KAConv')
def convert_kaconv(state_dict, target_shapes, model_name):
    """Map a KAResNet state dict (numpy arrays) onto our parameter names; strict."""
    if not model_name.startswith('karesnet'):
        raise ConversionError('%s has no released upstream code or checkpoints (only '
                              'KAResNet-50/101 have); train it instead of converting' % model_name)
    model_ag = 'H' if model_name.endswith('_h') else 'L'
    layers, rest = {}, {}
    for key, value in strip_prefix(state_dict, 'module.').items():
        match = _KACONV.match(key)
        if match:
            prefix = 'layer%s.%s.conv2.' % (match.group(1), match.group(2))
            layers.setdefault(prefix, {})[match.group(3)] = value
        else:
            rest[key] = value
    trunk = {k: v for k, v in target_shapes.items()
             if k.split('.conv2.')[0] + '.conv2.' not in layers}
    out = rename(rest, trunk, TRUNK_RULES)
    for prefix, layer_state in sorted(layers.items()):
        where = prefix[:-1]
        if upstream_ag(layer_state) != model_ag:
            raise ConversionError('the upstream KAConv at %s has AG-%s attention, %s has AG-%s: '
                                  'convert it for %s_%s instead' % (
                                      where, upstream_ag(layer_state), model_name, model_ag,
                                      model_name[:-2], upstream_ag(layer_state).lower()))
        for name, value in fuse_kaconv(layer_state, where, model_ag).items():
            if prefix + name not in target_shapes:
                raise ConversionError('%s%s (from the upstream KAConv at %s) has no counterpart '
                                      'in %s' % (prefix, name, where, model_name))
            put(out, prefix + name, value, target_shapes, 'KAConv %s %s' % (where, name))
    return check_complete(out, target_shapes)
