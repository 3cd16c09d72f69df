#!/usr/bin/env python
"""Forward+backward time and peak memory of the operators, layers and networks.

Usage::

    python scripts/benchmark.py                      # every suite, CPU
    python scripts/benchmark.py --suite ops --suite san --ctx gpu0
    python scripts/benchmark.py --list               # the case ids
    python scripts/benchmark.py --case san10 --repeat 3
    python scripts/benchmark.py --against-upstream DIR   # beside the real upstream networks

Each case runs in its own process (see ``benchmarks/measure.py``); the table is
Markdown. Suites live in ``scripts/benchmarks/<suite>.py`` and define ``CASES``.

``--against-upstream DIR`` runs each network beside its upstream PyTorch original, built from the
checkouts DIR/SAN, DIR/ACmix, DIR/KAConv and DIR/AT-kernel (fetch them yourself; they are never
committed), plus a plain ResNet-50 baseline (``scripts/benchmarks/upstream.py`` says how).
``--case`` then picks networks (san10, karesnet50_l, resnet50_v1b, ...).
"""
import argparse
import importlib
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

SUITES = ('ops', 'san', 'acmix', 'atkernel', 'kaconv')


def load_cases(suites):
    cases = []
    for suite in suites:
        cases.extend(importlib.import_module('benchmarks.' + suite).CASES)
    return cases


def parse_ctx(text):
    import mxnet as mx
    if text == 'cpu':
        return mx.cpu()
    if text.startswith('gpu'):
        return mx.gpu(int(text[3:] or 0))
    raise ValueError('--ctx must be cpu or gpuN, got %r' % text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--suite', action='append', choices=SUITES,
                        help='suite to run (repeatable); all by default')
    parser.add_argument('--case', action='append', default=[],
                        help='run only cases whose id contains this text (repeatable)')
    parser.add_argument('--ctx', default='cpu', help='cpu or gpuN')
    parser.add_argument('--repeat', type=int,
                        help='timed runs per case (default 5; 4 with --against-upstream)')
    parser.add_argument('--warmup', type=int, default=2, help='untimed runs per case')
    parser.add_argument('--against-upstream', metavar='DIR',
                        help='time each network beside its upstream PyTorch network, built from '
                             'the checkouts in DIR')
    parser.add_argument('--image-size', type=int,
                        help='with --against-upstream: run every network at this side instead of '
                             'its own (a quick check, not the published figures)')
    parser.add_argument('--memory-runs', type=int, default=3,
                        help='with --against-upstream: fresh processes per side for the peak '
                             'memory, whose median is reported (default 3; a single run varies '
                             'by up to 20 %%)')
    parser.add_argument('--hybridize', choices=('static', 'static-alloc'), default='static',
                        help='with --against-upstream: how ours is hybridized: static '
                             '(static_alloc and static_shape, the default) or static-alloc '
                             '(static_alloc alone)')
    parser.add_argument('--list', action='store_true', help='list the case ids and exit')
    parser.add_argument('--json', help='also write the rows to this JSON file')
    parser.add_argument('--run-case', help=argparse.SUPPRESS)
    parser.add_argument('--run-pair', help=argparse.SUPPRESS)
    parser.add_argument('--run-memory', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.against_upstream:
        if args.suite or args.list or args.ctx != 'cpu':
            parser.error('--against-upstream runs on the CPU and takes no --suite or --list')
        from benchmarks.upstream import thread_environment
        thread_environment(os.environ)       # before mxnet is imported, here and in children
        if args.memory_runs < 1:
            parser.error('--memory-runs must be at least 1, got %d' % args.memory_runs)
        try:
            return against_upstream(args)
        except (FileNotFoundError, ValueError) as err:
            parser.error(str(err))
    args.repeat = 5 if args.repeat is None else args.repeat

    from benchmarks.measure import format_table, measure_in_subprocess, run_case
    suites = args.suite or list(SUITES)
    if args.run_case:
        suite = args.run_case.split(':', 1)[0]
        case = {'%s:%s:%s' % (c.suite, c.name, c.impl): c for c in load_cases([suite])}[
            args.run_case]
        print(json.dumps(run_case(case, parse_ctx(args.ctx), args.repeat, args.warmup)))
        return 0
    cases = load_cases(suites)
    ids = ['%s:%s:%s' % (c.suite, c.name, c.impl) for c in cases]
    if args.case:
        keep = [i for i, cid in enumerate(ids) if any(t in cid for t in args.case)]
        cases, ids = [cases[i] for i in keep], [ids[i] for i in keep]
    if args.list:
        print('\n'.join(ids))
        return 0
    rows = []
    for case, cid in zip(cases, ids):
        result = measure_in_subprocess(os.path.abspath(__file__), cid, args.ctx, args.repeat,
                                       args.warmup)
        rows.append(dict(suite=case.suite, name=case.name, impl=case.impl, shape=case.shape,
                         **result))
        print(cid, json.dumps(result), file=sys.stderr, flush=True)
    print(format_table(rows))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=1)
    return 0


def against_upstream(args):
    """``--against-upstream DIR``: each network pair in its own process (timing, sides
    alternating), each side's memory in a fresh one; print the table."""
    from benchmarks import upstream
    repeat = 4 if args.repeat is None else args.repeat
    if args.run_pair or args.run_memory:
        name, _, side = (args.run_pair or args.run_memory).partition(':')
        pair = upstream.pair_for(name, args.against_upstream, args.image_size)
        result = (upstream.run_pair(pair, warmup=args.warmup, repeat=repeat,
                                    hybridize=args.hybridize) if args.run_pair
                  else upstream.measure_memory(pair, side, steps=args.warmup + 1,
                                               hybridize=args.hybridize))
        print(json.dumps(result))
        return 0
    names = upstream.network_names(args.case)
    upstream.check_checkouts(args.against_upstream, names)
    from benchmarks.measure import json_from_subprocess
    base = [sys.executable, os.path.abspath(__file__), '--against-upstream',
            os.path.abspath(args.against_upstream), '--warmup', str(args.warmup),
            '--repeat', str(repeat), '--hybridize', args.hybridize]
    if args.image_size:
        base += ['--image-size', str(args.image_size)]
    rows = []
    for name in names:
        timing = json_from_subprocess(base + ['--run-pair', name], env=os.environ)
        print(name, json.dumps(timing), file=sys.stderr, flush=True)
        if 'error' in timing:
            rows.append(dict(name=name, family=upstream.family(name), error=timing['error']))
            continue
        runs, memory_errors = {side: [] for side in upstream.SIDES}, {}
        held_runs = {side: [] for side in upstream.SIDES}
        for _ in range(args.memory_runs):          # the sides alternate, each run a new process
            for side in upstream.SIDES:
                if side in memory_errors:
                    continue
                result = json_from_subprocess(base + ['--run-memory', '%s:%s' % (name, side)],
                                              env=os.environ)
                print(name, side, json.dumps(result), file=sys.stderr, flush=True)
                if 'peak_mb' in result:
                    runs[side].append(result['peak_mb'])
                    if result.get('held_mb') is not None:
                        held_runs[side].append(result['held_mb'])
                else:
                    memory_errors[side] = result.get('error')
        memory = {side: statistics.median(peaks) for side, peaks in runs.items() if peaks}
        held = {side: statistics.median(v) for side, v in held_runs.items() if v}
        rows.append(dict(upstream.summarise(timing, memory, held), peak_mb_runs=runs,
                         held_mb_runs=held_runs,
                         **({'memory_error': memory_errors} if memory_errors else {})))
    print(upstream.format_upstream_table(rows))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
