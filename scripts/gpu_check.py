#!/usr/bin/env python
"""Checks a GPU host: the kernels against the composite operators, then the benchmark rows.

Usage::

    python scripts/gpu_check.py                  # on gpu0 when MXNet sees a GPU, else the CPU
    python scripts/gpu_check.py --ctx cpu --quick --out runs/gpu_check_cpu.md

Checks, each a row of the pass/fail table (printed and written to ``--out``):

* ``ops``: every operator (aggregation, subtraction, subtraction2, local_dot) and dtype,
  ``impl='kernel'`` against ``impl='composite'``, imperative and hybridized, ``grad_req``
  write and add (the input gradients start from random values). float16 kernels (float32
  accumulation) are compared with the float32 composite on the same half-rounded inputs.
  A row fails when no kernel was launched (a kernel graph without a launcher for its device
  computes the composite operators).
* ``two-gpus``: the same on gpu0 and gpu1 at once, when there are two GPUs.
* ``cross-device``: a network hybridized and run on the CPU, then on the GPU, then the CPU.
* ``train``: a few training steps of each family's smallest network, float16 with
  ``multi_precision`` on a GPU (float32 on the CPU, where MXNet has no float16 convolution):
  finite losses that go down on a repeated batch.
* ``benchmark``: ``scripts/benchmark.py``'s rows (time and memory), kernels against composite.

With ``--ctx cpu`` the kernels are the CPU launcher's (``custom.get_launcher('cpu')``: the OpenMP
library, float32 and float64), with the single-threaded g++ build of the same sources
(``ops/emulation.py``) for float16 and wherever the library is not built, so the same logic
runs in CI without a GPU. Exit status 1 when a row fails.
"""
import argparse
import os
import sys
import time
import traceback
from collections import namedtuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import gluon_convattn  # noqa: E402,F401  (before mxnet: loads the CUDA libraries of [gpu])
import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402

from gluon_convattn import ops  # noqa: E402
from gluon_convattn.model_zoo import get_model_info  # noqa: E402
from gluon_convattn.ops import custom, emulation  # noqa: E402
from gluon_convattn.train import create_network, prepare_network  # noqa: E402
from gluon_convattn.train.optim import optimizer_params  # noqa: E402

Row = namedtuple('Row', ['check', 'case', 'status', 'detail'])

OP_NAMES = ('aggregation', 'subtraction', 'subtraction2', 'local_dot')
DTYPES = ('float32', 'float64', 'float16')
# Largest error relative to the reference's largest magnitude. float16: the kernels read and
# write half but accumulate in float32, so only the rounding of inputs and results counts.
TOLERANCE = {'float64': 1e-10, 'float32': 1e-5, 'float16': 2e-3}
GROUPS = 4
# (name, batch, channels, height, width, kernel, stride, padding, dilation, pad_mode)
WINDOWS = {
    'full': [('k7_refpad', 2, 32, 14, 13, 7, 1, 3, 1, 1),
             ('k3_s2_d2', 3, 16, 11, 12, 3, 2, 2, 2, 0)],
    'quick': [('k3_refpad', 1, 8, 6, 5, 3, 1, 1, 1, 1),
              ('k3_s2_d2', 2, 8, 7, 6, 3, 2, 2, 2, 0)],
}
# each family's smallest registered network: (name, input side)
TRAIN_NETWORKS = {
    'ATAC': ('cifar_resnet20_v2_atac', 32),
    'SAN': ('san10_pairwise', 128),
    'ACmix': ('acmix_resnet26', 128),
    'KAConv': ('kamobilenetv2_0.5_l', 32),
    'AT-kernel': ('atkernel_resnet26_tiny', 64),
}
CROSS_DEVICE_NETWORK = ('atkernel_resnet26_tiny', 16)
BENCH_IMPLS = {'gpu': ('composite', 'kernel-rtc', 'kernel'), 'cpu': ('composite',
                                                                      'kernel-emulated')}


class CountingLauncher(object):
    """Passes launches on to ``launcher`` and counts them, so a row can tell that the kernels
    ran rather than the composite fallback."""

    def __init__(self, launcher):
        self.launcher, self.dtypes, self.name, self.count = (
            launcher, launcher.dtypes, launcher.name, 0)

    def launch(self, kernel, dtype, ctx, arrays, ints):
        self.count += 1
        self.launcher.launch(kernel, dtype, ctx, arrays, ints)


class _Op(mx.gluon.HybridBlock):
    def __init__(self, op_name, impl, window):
        super(_Op, self).__init__()
        self.op_name, self.impl, self.window = op_name, impl, window

    def hybrid_forward(self, F, *arrays):
        extra = {'groups': GROUPS} if self.op_name == 'local_dot' else {}
        return getattr(ops, self.op_name)(F, *arrays, impl=self.impl, **dict(self.window,
                                                                               **extra))


def _window_kwargs(case):
    _, _, _, _, _, k, s, p, d, mode = case
    return dict(kernel_size=k, stride=s, padding=p, dilation=d, pad_mode=mode)


def _numpy_inputs(op_name, case, rng):
    _, n, c, h, w, k, s, p, d, _ = case
    x = rng.randn(n, c, h, w)
    if op_name == 'aggregation':
        ho, wo = ((size + 2 * p - d * (k - 1) - 1) // s + 1 for size in (h, w))
        return [x, rng.randn(n, c // 4, k * k, ho * wo)]
    return [x] if op_name == 'subtraction' else [x, rng.randn(n, c, h, w)]


def _forward_backward(op_name, impl, window, arrays, dtype, ctx, hybridize, grad_req, seed):
    """Output and input gradients (numpy float64) of one run."""
    rng = np.random.RandomState(seed)
    inputs = [mx.nd.array(a, ctx=ctx, dtype=dtype) for a in arrays]
    for a in inputs:
        a.attach_grad(grad_req=grad_req)
        if grad_req == 'add':
            a.grad[:] = mx.nd.array(rng.randn(*a.shape), ctx=ctx, dtype=dtype)
    block = _Op(op_name, impl, window)
    if hybridize:
        block.hybridize()
    with mx.autograd.record():
        out = block(*inputs)
    out.backward(mx.nd.array(np.random.RandomState(seed + 1).randn(*out.shape), ctx=ctx,
                             dtype=dtype))
    return [r.asnumpy().astype('float64') for r in [out] + [a.grad for a in inputs]]


def _relative_error(got, expected):
    return max(float(np.abs(g - e).max() / max(np.abs(e).max(), 1e-30))
               for g, e in zip(got, expected))


def _compare_op(op_name, dtype, ctx, windows, launcher):
    """The worst relative error of the kernels over windows x (imperative, hybridized) x
    (write, add), and how many kernels were launched."""
    worst, where, before = 0.0, '', launcher.count
    ref_dtype = 'float32' if dtype == 'float16' else dtype
    for i, case in enumerate(windows):
        rng = np.random.RandomState(i)
        # float16 runs on the half-rounded values, which the float32 reference also gets
        arrays = [a.astype(dtype).astype(ref_dtype) for a in _numpy_inputs(op_name, case, rng)]
        window = _window_kwargs(case)
        for hybridize in (False, True):
            for grad_req in ('write', 'add'):
                args = (window, arrays)
                got = _forward_backward(op_name, 'kernel', *args, dtype=dtype, ctx=ctx,
                                        hybridize=hybridize, grad_req=grad_req, seed=i)
                ref = _forward_backward(op_name, 'composite', *args, dtype=ref_dtype, ctx=ctx,
                                        hybridize=hybridize, grad_req=grad_req, seed=i)
                err = _relative_error(got, ref)
                if err >= worst:
                    worst, where = err, '%s %s %s' % (
                        case[0], 'hybridized' if hybridize else 'imperative', grad_req)
    return worst, where, launcher.count - before


def _guarded(check, case, fn):
    """``fn()`` returns (ok, detail); an exception becomes a FAIL row with its message."""
    start = time.time()
    try:
        ok, detail = fn()
        status = 'PASS' if ok else 'FAIL'
    except Exception as err:    # one failing check must not hide the others
        status, detail = 'FAIL', '%s: %s' % (type(err).__name__, str(err).strip()[:300])
        traceback.print_exc()
    row = Row(check, case, status, '%s (%.1f s)' % (detail, time.time() - start))
    print('%-12s %-28s %s  %s' % row, file=sys.stderr, flush=True)
    return row


def op_rows(ctx, windows, launcher):
    rows = []
    for op_name in OP_NAMES:
        for dtype in DTYPES:
            def check(op_name=op_name, dtype=dtype):
                err, where, launched = _compare_op(op_name, dtype, ctx, windows, launcher)
                ok = err <= TOLERANCE[dtype] and launched > 0
                return ok, 'max rel err %.1e (tol %.0e) at %s; %d kernel launches (%s)' % (
                    err, TOLERANCE[dtype], where, launched, launcher.name)
            rows.append(_guarded('ops', '%s %s %s' % (op_name, dtype, ctx), check))
    return rows


def two_gpu_rows(windows, launcher):
    if mx.context.num_gpus() < 2:
        return [Row('two-gpus', 'gpu0 + gpu1', 'SKIP', 'this host has %d GPU(s)'
                    % mx.context.num_gpus())]

    def check():
        case, window = windows[0], _window_kwargs(windows[0])
        worst, before = 0.0, launcher.count
        for op_name in OP_NAMES:
            arrays = _numpy_inputs(op_name, case, np.random.RandomState(0))
            ref = _forward_backward(op_name, 'composite', window, arrays, 'float32', mx.gpu(0),
                                    True, 'write', 0)
            # both devices' graphs are queued before either is read back: they run together
            outs = []
            for dev in (0, 1):
                inputs = [mx.nd.array(a, ctx=mx.gpu(dev)) for a in arrays]
                for a in inputs:
                    a.attach_grad()
                block = _Op(op_name, 'kernel', window)
                block.hybridize()
                with mx.autograd.record():
                    out = block(*inputs)
                out.backward(mx.nd.array(np.random.RandomState(1).randn(*out.shape),
                                         ctx=mx.gpu(dev)))
                outs.append([out] + [a.grad for a in inputs])
            for got in outs:
                worst = max(worst, _relative_error(
                    [g.asnumpy().astype('float64') for g in got], ref))
        launched = launcher.count - before
        return worst <= TOLERANCE['float32'] and launched > 0, (
            'float32, every op, max rel err %.1e; %d kernel launches' % (worst, launched))
    return [_guarded('two-gpus', 'gpu0 + gpu1', check)]


def cross_device_rows(ctx):
    name, size = CROSS_DEVICE_NETWORK
    devices = [mx.cpu(), ctx, mx.cpu()]

    def check():
        net = create_network(name, kwargs={'impl': 'kernel'})
        net.initialize(mx.init.Xavier(), ctx=mx.cpu())
        net.hybridize()
        x = np.random.RandomState(0).randn(2, 3, size, size)
        outs = []
        for dev in devices:
            net.collect_params().reset_ctx(dev)
            outs.append(net(mx.nd.array(x, ctx=dev)).asnumpy().astype('float64'))
        err = max(_relative_error([o], [outs[0]]) for o in outs[1:])
        return err <= 1e-4, '%s hybridized on the CPU, inference max rel err %.1e' % (name,
                                                                                       err)
    return [_guarded('cross-device', ' -> '.join(str(d) for d in devices), check)]


def train_rows(ctx, families, steps, batch, smallest_input=False):
    dtype = 'float16' if ctx.device_type == 'gpu' else 'float32'
    rows = []
    for family in families:
        name, size = TRAIN_NETWORKS[family]
        size = get_model_info(name).min_size if smallest_input else size

        def check(name=name, size=size):
            classes = 10
            net = prepare_network(create_network(name, classes=classes), [ctx], dtype, size)
            net.hybridize()
            trainer = mx.gluon.Trainer(net.collect_params(), 'sgd', dict(
                optimizer_params('sgd', None, 1e-4, 0.9, dtype), learning_rate=0.02))
            rng = np.random.RandomState(0)
            x = mx.nd.array(rng.randn(batch, 3, size, size), ctx=ctx, dtype=dtype)
            y = mx.nd.array(rng.randint(0, classes, batch), ctx=ctx)
            loss_fn = mx.gluon.loss.SoftmaxCrossEntropyLoss()
            losses = []
            for _ in range(steps):
                with mx.autograd.record():
                    loss = loss_fn(net(x).astype('float32'), y)
                loss.backward()
                trainer.step(batch)
                losses.append(float(loss.mean().asscalar()))
            ok = all(np.isfinite(losses)) and min(losses[1:]) < losses[0]
            return ok, '%s, %s%s: losses %s' % (
                dtype, 'multi_precision, ' if dtype == 'float16' else '',
                'N%d 3x%dx%d' % (batch, size, size), ' '.join('%.3f' % v for v in losses))
        rows.append(_guarded('train', '%s %s' % (family, name), check))
    return rows


def benchmark_rows(ctx_text, device_type, case_filters, repeat, warmup):
    import benchmark
    from benchmarks.measure import measure_in_subprocess
    script = os.path.join(HERE, 'benchmark.py')
    rows = []
    for case in benchmark.load_cases(['ops', 'san'] if device_type == 'gpu' else ['ops']):
        cid = '%s:%s:%s' % (case.suite, case.name, case.impl)
        if case.impl not in BENCH_IMPLS[device_type] or (
                case_filters and not any(t in cid for t in case_filters)):
            continue

        def check(cid=cid, case=case):
            result = measure_in_subprocess(script, cid, ctx_text, repeat, warmup)
            if 'error' in result:
                return False, result['error']
            return True, '%s: %.1f ms fwd+bwd, peak %.0f MiB' % (case.shape, result['ms'],
                                                                 result['peak_mb'])
        rows.append(_guarded('benchmark', cid, check))
    return rows


def format_table(rows, title):
    lines = ['# %s' % title, '', '| check | case | result | detail |', '|---|---|---|---|']
    lines += ['| %s | %s | %s | %s |' % r for r in rows]
    counts = {s: sum(r.status == s for r in rows) for s in ('PASS', 'FAIL', 'SKIP')}
    lines += ['', '%(PASS)d passed, %(FAIL)d failed, %(SKIP)d skipped' % counts]
    return '\n'.join(lines) + '\n'


class _ByDtype(object):
    """The CPU kernels for their dtypes (float32, float64), the single-threaded build of the
    same sources for the others (float16, which the CPU library leaves to the GPU)."""

    def __init__(self, primary, fallback):
        self.primary, self.fallback = primary, fallback
        self.dtypes = tuple(fallback.dtypes)
        self.name = '%s, %s for float16' % (primary.name, fallback.name)

    def launch(self, kernel, dtype, ctx, arrays, ints):
        launcher = self.primary if dtype in self.primary.dtypes else self.fallback
        launcher.launch(kernel, dtype, ctx, arrays, ints)


def _kernel_launcher(device_type):
    """The launcher ``impl='kernel'`` uses on this device type, counting its launches."""
    launcher = custom.get_launcher(device_type)
    if device_type == 'cpu':
        emulated = emulation.EmulatedLauncher(emulation.cached_build())
        if launcher is None:
            launcher = emulated
        elif set(DTYPES) - set(launcher.dtypes):
            launcher = _ByDtype(launcher, emulated)
    if launcher is None:
        raise SystemExit('gpu_check: no kernel launcher for %s (this MXNet has no CUDA RTC or '
                         'sees no GPU)' % device_type)
    return CountingLauncher(launcher)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--ctx', default=None,
                        help='gpuN or cpu (default: gpu0 when MXNet sees a GPU, else cpu)')
    parser.add_argument('--quick', action='store_true',
                        help='small shapes, two training steps at each network\'s smallest '
                        'input, one benchmark repeat')
    parser.add_argument('--families', default=','.join(TRAIN_NETWORKS),
                        help='families to train, comma separated (default: all five)')
    parser.add_argument('--bench-case', action='append', default=[],
                        help='benchmark only case ids containing this text (repeatable)')
    parser.add_argument('--no-benchmark', action='store_true', help='skip the benchmark rows')
    parser.add_argument('--out', help='where to write the table (default runs/gpu_check_<ctx>.md)')
    args = parser.parse_args(argv)

    ctx_text = args.ctx or ('gpu0' if mx.context.num_gpus() > 0 else 'cpu')
    if ctx_text == 'cpu':
        ctx = mx.cpu()
    elif ctx_text.startswith('gpu') and ctx_text[3:].isdigit():
        ctx = mx.gpu(int(ctx_text[3:]))
        if ctx.device_id >= mx.context.num_gpus():
            parser.error('--ctx %s: MXNet sees %d GPU(s)' % (ctx_text, mx.context.num_gpus()))
    else:
        parser.error('--ctx must be cpu or gpuN, got %r' % ctx_text)
    families = [f for f in args.families.split(',') if f]
    unknown = [f for f in families if f not in TRAIN_NETWORKS]
    if unknown:
        parser.error('--families: unknown %s; choose from %s' % (unknown, ', '.join(
            TRAIN_NETWORKS)))
    out = args.out or os.path.join('runs', 'gpu_check_%s.md' % ctx_text)
    windows = WINDOWS['quick' if args.quick else 'full']

    launcher = _kernel_launcher(ctx.device_type)
    rows = []
    with custom.use_launcher(ctx.device_type, launcher):
        rows += op_rows(ctx, windows, launcher)
        if ctx.device_type == 'gpu':
            rows += two_gpu_rows(windows, launcher)
        else:
            rows.append(Row('two-gpus', 'gpu0 + gpu1', 'SKIP', 'a CPU run'))
        rows += cross_device_rows(ctx)
        rows += train_rows(ctx, families, 2 if args.quick else 4, 2, smallest_input=args.quick)
    if not args.no_benchmark:
        rows += benchmark_rows(ctx_text, ctx.device_type, args.bench_case,
                               1 if args.quick else 10, 0 if args.quick else 3)
    features = mx.runtime.Features()
    table = format_table(rows, 'gluon_convattn GPU check on %s (mxnet %s, CUDA %s, %d GPUs)' % (
        ctx_text, mx.__version__, 'yes' if features.is_enabled('CUDA') else 'no',
        mx.context.num_gpus()))
    print(table)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, 'w') as f:
        f.write(table)
    print('table written to %s' % out, file=sys.stderr)
    return 1 if any(r.status == 'FAIL' for r in rows) else 0


if __name__ == '__main__':
    sys.exit(main())
