"""Our networks beside the real upstream PyTorch networks: ``benchmark.py --against-upstream``.

Not a suite of ``CASES``: every row is a pair, the upstream network (built from a checkout by
``tools/upstream_networks.py``) and ours (``get_model``, hybridized with ``static_alloc=True,
static_shape=True``), run in ONE process, 2 CPU threads each, the two sides alternating step by
step (upstream, ours, upstream, ours, ...): in train mode forward + backward of the logits' sum
at batch 2, then in eval mode batch-1 inference. Ratios are upstream time / our time (> 1: ours
is faster). Peak training memory cannot alternate in one process: each side runs alone in a
fresh process (three times, the median reported) and reports its peak resident memory during
the steps above the memory resident once the network (parameters included) and its inputs are
built and initialised (:mod:`.resident`). The same runs also report what is resident when the
first forward pass has finished (our parameter gradients left out): what each side keeps for
its backward pass, so that the peak splits into the forward pass's part and the backward's.

The baseline row is plain ResNet-50, GluonCV's ``resnet50_v1b`` against the same network in
PyTorch (``torch_resnet50.py``): what MXNet itself costs against PyTorch on this machine.
"""
import math
import os
import statistics
import sys
import time
from collections import namedtuple

TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))), 'tools')

__all__ = ['Pair', 'BASELINE', 'SIDES', 'THREADS', 'BATCH', 'thread_environment', 'networks',
           'family', 'check_checkouts', 'pair_for', 'network_names', 'alternate', 'run_pair', 'measure_memory', 'summarise',
           'format_upstream_table']

SIDES = ('upstream', 'ours')
# how ours is hybridized: the method (and GluonCV's training scripts) by default
HYBRIDIZE = {'static': dict(static_alloc=True, static_shape=True),
             'static-alloc': dict(static_alloc=True)}
THREADS = 2
BATCH = 2
BASELINE = 'resnet50_v1b'
GEOMEAN_FAMILIES = ('SAN', 'ACmix', 'KAConv', 'AT-kernel')

Pair = namedtuple('Pair', ['name', 'family', 'size', 'build_ours', 'build_upstream'])
Pair.__doc__ = """One row: ``build_ours()`` returns an uninitialised Gluon HybridBlock and
``build_upstream()`` a ``torch.nn.Module``, the same network; ``size`` is the image side."""


def thread_environment(env):
    """Set 2 OpenMP threads per operator and ONE MXNet CPU worker in ``env`` (a dict), which
    must happen before mxnet is imported: with ``MXNET_CPU_WORKER_NTHREADS`` above 1 MXNet runs
    that many operators at once, each on ``OMP_NUM_THREADS`` threads. Returns ``env``."""
    env.update(OMP_NUM_THREADS=str(THREADS), MKL_NUM_THREADS=str(THREADS),
               MXNET_CPU_WORKER_NTHREADS='1')
    return env


def networks():
    """``tools/upstream_networks.py``'s module, imported on first use: it imports mxnet, which
    must come after :func:`thread_environment`."""
    if TOOLS not in sys.path:
        sys.path.insert(0, TOOLS)
    import upstream_networks
    return upstream_networks


def family(name):
    """The row's family: SAN, ACmix, KAConv, AT-kernel, or 'baseline'."""
    return 'baseline' if name == BASELINE else networks().NETWORKS[name].family


def network_names(patterns=()):
    """The rows to run: every upstream network, then the baseline; with ``patterns``, those
    whose name contains one of them (ValueError naming the choices when none does)."""
    every = list(networks().NETWORKS) + [BASELINE]
    names = [n for n in every if any(p in n for p in patterns)] if patterns else every
    if not names:
        raise ValueError('--case %s matches no network; choose from %s' % (
            ' '.join(patterns), ', '.join(every)))
    return names


def check_checkouts(root, names):
    """FileNotFoundError naming each repository the rows ``names`` need that ``root`` lacks,
    and how to fetch it (the baseline needs none)."""
    names = [n for n in names if n != BASELINE]
    if names:
        networks().check_checkouts(root, names)


def pair_for(name, upstream_dir, size=None):
    """The :class:`Pair` of ``name`` (a network of :func:`networks` or ``BASELINE``); ``size``
    overrides its image side."""
    if name == BASELINE:
        def build_ours():
            from gluon_convattn.utils.gluoncv_import import import_gluoncv
            return import_gluoncv().model_zoo.get_model(BASELINE)

        def build_upstream():
            from .torch_resnet50 import resnet50
            return resnet50()
        return Pair(name, 'baseline', size or 224, build_ours, build_upstream)
    net = networks().NETWORKS[name]

    def build_ours():
        from gluon_convattn.model_zoo import get_model
        return get_model(name)
    return Pair(name, net.family, size or net.size, build_ours,
                lambda: net.build(os.path.join(upstream_dir, net.checkout.folder)))


def _build_ours(pair, batch, gradients, hybridize):
    """Our network, initialised and hybridized, its training batch, its inference batch, and
    the parameters whose gradient arrays wait for the first training step (``gradients=False``)
    with the ``grad_req`` each gets then."""
    import mxnet as mx
    net = pair.build_ours()
    net.initialize(mx.init.Xavier())
    net.hybridize(**HYBRIDIZE[hybridize])
    x = mx.nd.random.normal(shape=(batch, 3, pair.size, pair.size))
    net.infer_shape(x)                       # allocate the parameters now, not in step 1
    deferred = {p: p.grad_req for p in net.collect_params().values()
                if not gradients and p.grad_req != 'null'}
    for param in net.collect_params().values():
        if param in deferred:
            param.grad_req = 'null'
        param._finish_deferred_init()
    x1 = mx.nd.random.normal(shape=(1, 3, pair.size, pair.size))
    return net, x, x1, deferred


def _give_gradients(deferred):
    """Give the deferred parameters their gradient arrays back (allocating them)."""
    while deferred:
        param, req = deferred.popitem()
        param.grad_req = req


def _ours(pair, batch, gradients=True, hybridize='static'):
    """Our network's train and inference steps. With ``gradients=False`` the parameters get no
    gradient arrays yet: the train step allocates them on its first call, as PyTorch allocates
    ``.grad`` in its first backward. ``hybridize`` names the flags of :data:`HYBRIDIZE`."""
    from .measure import forward_backward
    net, x, x1, deferred = _build_ours(pair, batch, gradients, hybridize)
    step = forward_backward(net, x)

    def train():
        _give_gradients(deferred)
        return step()

    def predict():
        out = net(x1)
        out.wait_to_read()
        return out
    return train, predict


def _our_phases(pair, batch, hybridize='static'):
    """Our training step in two phases, for :func:`measure_memory`: ``forward()`` (recorded,
    finished, the loss returned; its first call allocates the parameters' gradient arrays) and
    ``backward(loss)``, and the MiB of those gradient arrays."""
    import mxnet as mx
    from .measure import training_phases
    net, x, _, deferred = _build_ours(pair, batch, False, hybridize)
    recorded_forward, backward = training_phases(net, x)
    mx.nd.waitall()                          # the parameters' initialisation is asynchronous
    gradient_mb = sum(p.data().size * p.data().dtype(0).itemsize
                      for p in deferred) / 2.0 ** 20

    def forward():
        _give_gradients(deferred)
        loss = recorded_forward()
        mx.nd.waitall()
        return loss
    return forward, backward, gradient_mb


def _upstream_phases(pair, batch):
    """The upstream network's training step as ``forward()`` (returns the loss) and
    ``backward(loss)``, and its inference step."""
    import torch
    net = pair.build_upstream()
    x = torch.randn(batch, 3, pair.size, pair.size, requires_grad=True)
    x1 = torch.randn(1, 3, pair.size, pair.size)

    def forward():
        net.train()
        net.zero_grad(set_to_none=True)
        x.grad = None
        return net(x).sum()

    def backward(loss):
        loss.backward()

    def predict():
        net.eval()
        with torch.no_grad():
            return net(x1)
    return forward, backward, predict


def _upstream(pair, batch):
    """The upstream network's train and inference steps."""
    forward, backward, predict = _upstream_phases(pair, batch)

    def train():
        loss = forward()
        backward(loss)
        return loss.detach()
    return train, predict


def alternate(steps, warmup, repeat, clock=time.perf_counter):
    """Run ``steps`` (side -> callable) in turn, ``warmup + repeat`` rounds.

    Returns ``(ms, order, last)``: the median milliseconds of each side's timed rounds, the
    sides in the order they ran, and each side's last return value.
    """
    times = {side: [] for side in steps}
    order, last = [], {}
    for round_ in range(warmup + repeat):
        for side, step in steps.items():
            start = clock()
            last[side] = step()
            elapsed = clock() - start
            order.append(side)
            if round_ >= warmup:
                times[side].append(elapsed * 1000.0)
    return {side: statistics.median(t) for side, t in times.items()}, order, last


def _finite(value):
    return bool(math.isfinite(float(value.asscalar() if hasattr(value, 'asscalar') else value)))


def run_pair(pair, batch=BATCH, warmup=2, repeat=4, hybridize='static'):
    """Time both sides of ``pair`` in this process, alternating step by step.

    Returns a dict: ``train_ms`` and ``infer_ms`` (side -> median ms), ``order`` (the sides of
    the training rounds as they ran) and ``finite`` (side -> whether its last loss was finite).
    """
    import torch
    torch.set_num_threads(THREADS)
    up_train, up_predict = _upstream(pair, batch)
    our_train, our_predict = _ours(pair, batch, hybridize=hybridize)
    train_ms, order, loss = alternate({'upstream': up_train, 'ours': our_train}, warmup, repeat)
    infer_ms, _, _ = alternate({'upstream': up_predict, 'ours': our_predict}, warmup, repeat)
    return dict(name=pair.name, family=pair.family, size=pair.size, batch=batch,
                train_ms=train_ms, infer_ms=infer_ms, order=order,
                finite={side: _finite(v) for side, v in loss.items()},
                threads=dict(torch=torch.get_num_threads(),
                             **{k: os.environ.get(k) for k in thread_environment({})}))


def measure_memory(pair, side, batch=BATCH, steps=3, hybridize='static'):
    """Peak resident memory (MiB) of ``steps`` training steps of one side of ``pair`` above
    the memory resident once the network and inputs are built (:mod:`.resident`: the C
    allocator's free memory handed back first, the high-water mark restarted). The parameter
    gradients count on both sides: PyTorch allocates them in the first backward, and ours are
    allocated in the first step too. Run it in a fresh process. ``exact`` is False where the
    mark could not be restarted.

    ``held_mb`` splits the peak: the memory resident when the first forward pass has finished,
    above the same base and without ours' parameter gradients (allocated at the start of that
    step, PyTorch's only in its backward), that is what the forward pass keeps for the
    backward pass plus what it left resident; the backward pass adds the rest of the peak.
    """
    from . import resident
    if side == 'ours':
        forward, backward, gradient_mb = _our_phases(pair, batch, hybridize=hybridize)
    else:
        import torch
        torch.set_num_threads(THREADS)
        forward, backward, _ = _upstream_phases(pair, batch)
        gradient_mb = 0.0
    meter = resident.start()
    held = None
    for _ in range(steps):
        loss = forward()
        if held is None:
            resident_mb = meter.resident_mb()
            held = resident_mb - gradient_mb if resident_mb is not None else None
        backward(loss)
        del loss
    return dict(name=pair.name, side=side, peak_mb=meter.peak_mb(), held_mb=held,
                exact=meter.exact)


def _ratio(numerator, denominator):
    return numerator / denominator if numerator and denominator else None


def summarise(timing, memory, held=None):
    """One table row from :func:`run_pair`'s result, ``memory`` (side -> peak MiB) and ``held``
    (side -> MiB held after the forward pass, :func:`measure_memory`'s ``held_mb``)."""
    held = held or {}
    row = dict(name=timing['name'], family=timing['family'], size=timing['size'],
               batch=timing['batch'], train_ms=timing['train_ms'], infer_ms=timing['infer_ms'],
               peak_mb=memory, held_mb=held, finite=timing['finite'])
    row['train_ratio'] = _ratio(timing['train_ms']['upstream'], timing['train_ms']['ours'])
    row['infer_ratio'] = _ratio(timing['infer_ms']['upstream'], timing['infer_ms']['ours'])
    row['memory_ratio'] = _ratio(memory.get('ours'), memory.get('upstream'))
    row['held_ratio'] = _ratio(held.get('ours'), held.get('upstream'))
    return row


def geometric_mean(values):
    values = [v for v in values if v]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def _cell(value, fmt='%.2f'):
    return fmt % value if value is not None else ''


def _sides(values, fmt='%.0f'):
    if not values:
        return ''
    return ' / '.join(_cell(values.get(side), fmt) for side in SIDES)


def format_upstream_table(rows):
    """The Markdown table: one row per network, the baseline, then the geometric mean of the
    four ratios over the SAN, ACmix, KAConv and AT-kernel rows. Rows with ``error`` say so."""
    lines = ['| network | training ratio | inference ratio (batch 1, eval) | peak training '
             'memory, ours / upstream | held after the forward pass, ours / upstream | '
             'training ms, upstream / ours | inference ms, upstream / ours | peak MiB, '
             'upstream / ours | held MiB, upstream / ours |',
             '|---|---:|---:|---:|---:|---:|---:|---:|---:|']
    ordered = ([r for r in rows if r['family'] != 'baseline'] +
               [r for r in rows if r['family'] == 'baseline'])
    for r in ordered:
        name = r['name'] + (' (baseline)' if r['family'] == 'baseline' else '')
        if 'error' in r:
            lines.append('| %s | error: %s | | | | | | | |' % (name, r['error']))
            continue
        if not all(r['finite'].values()):
            name += ' (non-finite loss: %s)' % ', '.join(s for s in SIDES if not r['finite'][s])
        lines.append('| %s | %s | %s | %s | %s | %s | %s | %s | %s |' % (
            name, _cell(r['train_ratio']), _cell(r['infer_ratio']), _cell(r['memory_ratio']),
            _cell(r.get('held_ratio')), _sides(r['train_ms']), _sides(r['infer_ms']),
            _sides(r['peak_mb']), _sides(r.get('held_mb'))))
    measured = [r for r in rows if r['family'] in GEOMEAN_FAMILIES and 'error' not in r]
    if measured:
        lines.append('| geometric mean (%s) | %s | %s | %s | %s | | | | |' % (
            ', '.join(GEOMEAN_FAMILIES),
            *(_cell(geometric_mean(r.get(key) for r in measured))
              for key in ('train_ratio', 'infer_ratio', 'memory_ratio', 'held_ratio'))))
    return '\n'.join(lines)
