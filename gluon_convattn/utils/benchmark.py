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

import mxnet as mx

__all__ = ['Case', 'run_case', 'measure_in_subprocess', 'format_table', 'forward_backward']

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


def forward_backward(net, *inputs):
    """A ``step`` that runs ``net`` forward and backward on ``inputs`` (grads attached)."""
    for x in inputs:
        x.attach_grad()

    def step():
        with mx.autograd.record():
            out = net(*inputs)
            outs = out if isinstance(out, (list, tuple)) else [out]
            loss = sum(o.sum() for o in outs)
        loss.backward()
        mx.nd.waitall()
    return step


def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_case(case, ctx, repeat, warmup):
    """Time ``case`` in this process: median milliseconds per step and peak memory (MiB)."""
    step = case.setup(ctx)
    mx.nd.waitall()
    base = _rss_mb()
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
        peak = _rss_mb() - base
    return {'ms': times[len(times) // 2], 'peak_mb': peak}


def measure_in_subprocess(script, case_id, ctx, repeat, warmup, timeout=1800):
    """Run ``script --run-case case_id`` in a fresh interpreter and read back its JSON line."""
    cmd = [sys.executable, script, '--run-case', case_id, '--ctx', ctx,
           '--repeat', str(repeat), '--warmup', str(warmup)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout)
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
