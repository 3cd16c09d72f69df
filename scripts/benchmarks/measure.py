"""Timing and peak-memory measurement for ``scripts/benchmark.py``.

Each case runs in a fresh Python process, so its peak resident memory (``ru_maxrss``, less the
process's resident memory once the inputs are built) belongs to that case alone. On a GPU
context the peak is MXNet's GPU memory in use after the timed runs (``gpu_memory_info``).
"""
import json
import resource
import subprocess
import sys
import time
from collections import namedtuple

import gluon_convattn  # noqa: F401  (before mxnet: the CUDA build loads its libraries)
import mxnet as mx

__all__ = ['Case', 'run_case', 'measure_in_subprocess', 'format_table', 'training_phases',
           'forward_backward', 'hybridized_step', 'network_case', 'json_from_subprocess',
           'peak_rss_mb']

Case = namedtuple('Case', ['suite', 'name', 'impl', 'shape', 'setup'])
Case.__doc__ = """One benchmark row.

suite, name : str
    Where it belongs and what it measures.
impl : str
    Which implementation (e.g. 'composite', 'kernel', 'unfold', 'per-branch', 'ours').
shape : str
    The shape it runs on, for the table.
setup : callable
    ``setup(ctx)`` builds the inputs and returns ``step()``, which runs one forward+backward.
"""


def training_phases(net, *inputs):
    """``net``'s training step on ``inputs`` (grads attached) in two phases: ``forward()``
    records the pass and returns the loss, the sum of the outputs (without waiting for MXNet's
    engine); ``backward(loss)`` runs the backward pass and waits for it."""
    for x in inputs:
        x.attach_grad()

    def forward():
        with mx.autograd.record():
            out = net(*inputs)
            outs = out if isinstance(out, (list, tuple)) else [out]
            return sum(o.sum() for o in outs)

    def backward(loss):
        loss.backward()
        mx.nd.waitall()
    return forward, backward


def forward_backward(net, *inputs):
    """A ``step`` that runs ``net`` forward and backward on ``inputs`` (grads attached) and
    returns the loss, the sum of the outputs."""
    forward, backward = training_phases(net, *inputs)

    def step():
        loss = forward()
        backward(loss)
        return loss
    return step


def hybridized_step(net, ctx, shape, scale=1.0, static_alloc=False):
    """Initialise ``net`` (Xavier) on ``ctx``, hybridize it and return the ``step`` that runs it
    forward and backward on a normal(0, ``scale``) batch of ``shape``."""
    net.initialize(mx.init.Xavier(), ctx=ctx)
    net.hybridize(static_alloc=static_alloc)
    return forward_backward(net, mx.nd.random.normal(shape=shape, ctx=ctx, scale=scale))


def require_gpu(ctx, what):
    """Refuse a GPU-only implementation on another device, so the table shows an error row
    instead of a silently substituted computation."""
    if ctx.device_type != 'gpu':
        raise ValueError('%s runs on a GPU context (--ctx gpu0)' % what)


def network_case(suite, model, batch, size, impl='ours', model_kwargs=None, label='N%d 3x%dx%d',
                 scale=1.0, static_alloc=False):
    """A :class:`Case` timing the registered network ``model`` on a (batch, 3, size, size) input.

    Parameters
    ----------
    suite, model : str
        The suite, and the model name (also the case's name).
    batch, size : int
        Batch size and image side.
    impl : str, default 'ours'
        The table's implementation column.
    model_kwargs : dict, optional
        Passed to ``get_model`` (e.g. ``{'impl': 'kernel'}``).
    label : str, default 'N%d 3x%dx%d'
        Format of the table's shape column, given ``(batch, size, size)``.
    scale : float, default 1.0
        Standard deviation of the random input.
    static_alloc : bool, default False
        Passed to ``hybridize``.
    """
    def setup(ctx):
        from gluon_convattn.model_zoo import get_model
        if (model_kwargs or {}).get('impl') == 'kernel':
            require_gpu(ctx, 'impl=kernel')
        net = get_model(model, **(model_kwargs or {}))
        return hybridized_step(net, ctx, (batch, 3, size, size), scale, static_alloc)
    return Case(suite, model, impl, label % (batch, size, size), setup)


def peak_rss_mb():
    """This process's peak resident memory so far (``ru_maxrss``), in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_case(case, ctx, repeat, warmup):
    """Time ``case`` in this process: median milliseconds per step and peak memory (MiB)."""
    step = case.setup(ctx)
    mx.nd.waitall()
    base = peak_rss_mb()
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1000.0)
    times.sort()
    if ctx.device_type == 'gpu':
        free, total = mx.context.gpu_memory_info(ctx.device_id)
        peak = (total - free) / 2.0 ** 20
    else:
        peak = peak_rss_mb() - base
    return {'ms': times[len(times) // 2], 'peak_mb': peak}


def measure_in_subprocess(script, case_id, ctx, repeat, warmup, timeout=1800):
    """Run ``script --run-case case_id`` in a fresh interpreter and read back its JSON line."""
    cmd = [sys.executable, script, '--run-case', case_id, '--ctx', ctx,
           '--repeat', str(repeat), '--warmup', str(warmup)]
    return json_from_subprocess(cmd, timeout=timeout)


def json_from_subprocess(cmd, env=None, timeout=1800):
    """Run ``cmd`` and return the last JSON object line of its output, or ``{'error': ...}``
    with the last line of its standard error when it printed none."""
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env, timeout=timeout)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith('{'):
            return json.loads(line)
    return {'error': (proc.stderr.strip().splitlines() or ['exit %d' % proc.returncode])[-1]}


def format_table(rows):
    """Render result rows (dicts with suite/name/impl/shape/ms/peak_mb) as a Markdown table."""
    head = '| suite | case | impl | shape | fwd+bwd ms | peak MiB |\n|---|---|---|---|---:|---:|'
    lines = [head]
    for r in rows:
        if 'error' in r:
            lines.append('| %s | %s | %s | %s | error: %s | |' % (
                r['suite'], r['name'], r['impl'], r['shape'], r['error']))
        else:
            lines.append('| %s | %s | %s | %s | %.1f | %.0f |' % (
                r['suite'], r['name'], r['impl'], r['shape'], r['ms'], r['peak_mb']))
    return '\n'.join(lines)
