"""Fine-tuning from pretrained weights, GluonCV's pattern (``finetune_net.output = nn.Dense(
classes)``, then initialise it): the network is built for the new classes, the checkpoint's
parameters that fit are loaded ("kept"), the others are initialised ("reset"), and the kept ones
train with their own learning-rate multiplier (``--lr-mult-backbone``).

A checkpoint fits a network in one of two ways, tried in this order:

- **the model**: every parameter of the network is in the checkpoint under its name with its
  shape, except the classifier, whose first axis is the number of classes: when the checkpoint
  was trained for other classes, those parameters are reset.
- **its backbone**: one part of the network (the whole network or one of its blocks, e.g. a
  detector's ``backbone``, at any depth) is in the checkpoint, under the same names or below one
  of the checkpoint's top-level prefixes (e.g. a classifier's ``features.``). The checkpoint's
  entries left unused must be whole top-level blocks of it (its classifier head), and the
  matched part must be the larger part of both the network and the checkpoint. The rest of the
  network is reset.

Anything else is refused with :class:`~gluon_convattn.utils.params.ParamsMismatchError` naming
the first parameter of the network that does not fit.
"""
import os
from collections import Counter

from ..model_zoo import get_model
from ..utils.params import ParamsMismatchError, param_shapes, read_parameters

__all__ = ['PretrainedMatch', 'add_finetune_args', 'read_pretrained', 'match_pretrained',
           'apply_pretrained', 'plan_finetuning', 'start_finetuning']


class PretrainedMatch(object):
    """How a checkpoint's parameters map onto a network.

    Attributes
    ----------
    source : str
        Where the parameters came from (for messages).
    kind : str
        ``'model'`` (the whole network, classifier possibly reset) or ``'backbone'``.
    kept : dict
        Network parameter name -> checkpoint name, in the network's order.
    reset : list of str
        Network parameters that are initialised instead (the re-created classifier, or what
        lies outside the backbone).
    unused : list of str
        Checkpoint entries that were not loaded (a backbone checkpoint's classifier).
    state : dict
        Checkpoint name -> NDArray.
    classes : int
        The network's number of classes.
    """

    def __init__(self, source, kind, kept, reset, unused, state, classes):
        self.source, self.kind, self.kept, self.reset = source, kind, kept, reset
        self.unused, self.state, self.classes = unused, state, classes

    def summary(self):
        """The log lines saying what was kept, reset and left unused."""
        if self.kind == 'model':
            what = 'the model' + (', classifier re-created for %d classes' % self.classes
                                  if self.reset else '')
        else:
            what = 'its backbone'
        lines = ['Fine-tuning from %s (%s)' % (self.source, what),
                 '  kept %d parameters: %s' % (len(self.kept), _blocks(self.kept))]
        if self.reset:
            lines.append('  reset %d parameters (initialised): %s'
                         % (len(self.reset), _names(self.reset)))
        if self.unused:
            lines.append('  not loaded from the checkpoint: %s' % _names(self.unused))
        return lines


def _top(name):
    return name.split('.', 1)[0]


def _blocks(names):
    counts = Counter(_top(n) + ('.*' if '.' in n else '') for n in names)
    return ', '.join('%s (%d)' % (b, c) if b.endswith('.*') else b for b, c in counts.items())


def _names(names, limit=12):
    shown = ', '.join(names[:limit])
    return shown + (', ... (%d more)' % (len(names) - limit) if len(names) > limit else '')


def add_finetune_args(parser):
    """``--use-pretrained [TAG|FILE]`` and ``--lr-mult-backbone`` (GluonCV's flag takes no value;
    without one it stands for the model's default pretrained weights)."""
    group = parser.add_argument_group('fine-tuning')
    group.add_argument('--use-pretrained', nargs='?', const=True, default=None,
                       metavar='TAG|FILE',
                       help="start from pretrained weights: alone, the model's default ones "
                            "(get_model(..., pretrained=True)); a weights tag of the model record "
                            "(e.g. digits); or a .params file. A classifier trained for other "
                            "classes is re-created for --classes.")
    group.add_argument('--lr-mult-backbone', type=float, default=1.0,
                       help='learning-rate multiplier of the pretrained (kept) parameters; 1 '
                            "keeps GluonCV's behaviour, 0 freezes them.")
    return group


def _is_file(pretrained):
    return isinstance(pretrained, str) and (
        os.sep in pretrained or pretrained.endswith('.params')
        or os.path.isfile(os.path.expanduser(pretrained)))


def read_pretrained(model, pretrained, kwargs=None):
    """The pretrained parameters as ``(state, source)``: ``state`` maps names to NDArrays.

    ``pretrained`` is True (the model's default weights), a weights tag of the model record
    (both loaded through ``get_model(model, pretrained=...)``, which builds the model with its
    default classes and ``kwargs``) or a ``.params`` file (read as it is).
    """
    if _is_file(pretrained):
        path = os.path.expanduser(pretrained)
        return read_parameters(path), path
    try:
        net = get_model(model, pretrained=pretrained, **(kwargs or {}))
    except ParamsMismatchError as err:
        raise ParamsMismatchError('%s (the weights a tag names must fit %s as registered; for '
                                  'a checkpoint trained with other classes or arguments pass its '
                                  'file: --use-pretrained FILE)' % (err, model)) from None
    label = 'default' if pretrained is True else repr(pretrained)
    return ({name: p.data() for name, p in net._collect_params_with_prefix().items()},
            "%s's %s pretrained weights" % (model, label))


def _is_classifier(want, got, classes):
    return (len(want) == len(got) and want[0] == classes and want[0] != got[0]
            and tuple(want[1:]) == tuple(got[1:]))


def _attempt(shapes, state, classes, net_prefix, ckpt_prefix):
    """Match the network's parameters below ``net_prefix`` with the checkpoint's below
    ``ckpt_prefix``; returns ``(kept, classifier, unused)`` or a message saying what failed."""
    whole = not net_prefix and not ckpt_prefix
    kept, classifier = {}, []
    for name, want in shapes.items():
        if not name.startswith(net_prefix):
            continue
        key = ckpt_prefix + name[len(net_prefix):]
        if key not in state:
            return 'parameter %r of the network is not in the checkpoint%s' % (
                name, '' if whole else ' (looked for %r)' % key)
        got = tuple(state[key].shape)
        if got == tuple(want):
            kept[name] = key
        elif whole and _is_classifier(want, got, classes):
            classifier.append(name)
        else:
            return 'parameter %r: the network needs shape %s, the checkpoint holds %s%s' % (
                name, tuple(want), got, '' if whole else ' under %r' % key)
    used = set(kept.values()) | set(classifier)
    used_blocks = {_top(k) for k in used}
    unused = [k for k in state if k not in used]
    for key in unused:
        if _top(key) in used_blocks:
            return 'the checkpoint holds %r, which the network has no place for' % key
    if not whole and (len(kept) <= len(shapes) - len(kept) or len(used) <= len(unused)):
        return ('only %d of the network\'s %d parameters (%d of the checkpoint\'s %d) match below '
                '%r' % (len(kept), len(shapes), len(used), len(state), net_prefix or ckpt_prefix))
    return kept, classifier, unused


def _prefixes(names, nested):
    """'' and the block prefixes of ``names``: top-level ones, or every depth when ``nested``
    (shallowest first)."""
    found = set()
    for name in names:
        parts = name.split('.')[:-1]
        for depth in range(1, len(parts) + 1 if nested else min(len(parts), 1) + 1):
            found.add('.'.join(parts[:depth]) + '.')
    return [''] + sorted(found, key=lambda p: (p.count('.'), p))


def match_pretrained(net, state, classes, input_shape, source='the checkpoint'):
    """How ``state`` (checkpoint name -> NDArray) fits ``net`` (see the module docstring).

    Parameters
    ----------
    net : HybridBlock
        The network to fine-tune, built for ``classes``; it need not be initialised (its
        parameter shapes are inferred from ``input_shape``).
    state : dict
    classes : int
    input_shape : tuple
        ``(1, 3, H, W)`` for shape inference.
    source : str
        The checkpoint's name in messages.

    Returns
    -------
    PretrainedMatch

    Raises
    ------
    ParamsMismatchError
        When the checkpoint fits neither the model nor a backbone of it; the message names the
        first parameter that does not fit the model.
    """
    shapes = param_shapes(net, input_shape)
    first_failure = None
    for net_prefix in _prefixes(shapes, nested=True):
        for ckpt_prefix in _prefixes(state, nested=False):
            outcome = _attempt(shapes, state, classes, net_prefix, ckpt_prefix)
            if isinstance(outcome, str):
                first_failure = first_failure or outcome
                continue
            kept, classifier, unused = outcome
            kind = 'model' if not (net_prefix or ckpt_prefix or unused) else 'backbone'
            reset = [name for name in shapes if name not in kept]
            return PretrainedMatch(source, kind, kept, reset, unused, state, classes)
    raise ParamsMismatchError('%s matches neither %s nor its backbone: %s'
                              % (source, type(net).__name__, first_failure))


def apply_pretrained(net, match, lr_mult=1.0, load=True):
    """Copy the kept parameters into ``net`` (initialised; cast to each parameter's dtype, so a
    float16 network takes float32 weights) unless ``load`` is False (resuming: the checkpoint
    holds them already), and give them the learning-rate multiplier ``lr_mult``. Call before the
    trainer is created, which reads ``lr_mult``."""
    params = net._collect_params_with_prefix()
    for name, key in match.kept.items():
        param = params[name]
        if load:
            param.set_data(match.state[key].astype(param.dtype))
        param.lr_mult = lr_mult


def plan_finetuning(args, net, classes, input_size, kwargs=None):
    """Check ``--use-pretrained``/``--lr-mult-backbone`` and match the checkpoint with ``net``
    (built for ``classes``, not yet initialised) before anything is trained; returns a
    :class:`PretrainedMatch`, or None without ``--use-pretrained``."""
    if args.lr_mult_backbone < 0:
        raise ValueError('--lr-mult-backbone must be >= 0, got %g' % args.lr_mult_backbone)
    if args.use_pretrained is None:
        if args.lr_mult_backbone != 1.0:
            raise ValueError('--lr-mult-backbone %g needs --use-pretrained (it sets the learning '
                             'rate of the pretrained layers)' % args.lr_mult_backbone)
        return None
    state, source = read_pretrained(args.model, args.use_pretrained, kwargs)
    return match_pretrained(net, state, classes, (1, 3, input_size, input_size), source)


def start_finetuning(match, net, lr_mult, resumed, logger):
    """Log what ``match`` keeps and resets and apply it to the initialised ``net``; a resumed run
    keeps the weights of its checkpoint and only takes the learning-rate multiplier."""
    if match is None:
        return
    for line in match.summary():
        logger.info(line)
    logger.info('  learning-rate multiplier of the kept parameters: %g' % lr_mult)
    if resumed:
        logger.info('  resuming: the weights come from the resumed checkpoint, not from %s'
                    % match.source)
    apply_pretrained(net, match, lr_mult, load=not resumed)
