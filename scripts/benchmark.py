#!/usr/bin/env python
"""Forward+backward time and peak memory of the operators, layers and networks.

Usage::

    python scripts/benchmark.py                      # every suite, CPU
    python scripts/benchmark.py --suite ops --suite san --ctx gpu0
    python scripts/benchmark.py --list               # the case ids
    python scripts/benchmark.py --case san10 --repeat 3

Each case runs in its own process (see ``gluon_convattn.utils.benchmark``); the table is
Markdown. Suites live in ``scripts/benchmarks/<suite>.py`` and define ``CASES``.
"""
import argparse
import importlib
import json
import os
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
    parser.add_argument('--repeat', type=int, default=5, help='timed runs per case')
    parser.add_argument('--warmup', type=int, default=2, help='untimed runs per case')
    parser.add_argument('--list', action='store_true', help='list the case ids and exit')
    parser.add_argument('--json', help='also write the rows to this JSON file')
    parser.add_argument('--run-case', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    from gluon_convattn.utils.benchmark import format_table, measure_in_subprocess, run_case
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


if __name__ == '__main__':
    sys.exit(main())
