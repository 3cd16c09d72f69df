#!/usr/bin/env python
"""Where a network's CPU time goes: MXNet's profiler over training steps, by operator.

Usage::

    python scripts/profile_model.py --model atkernel_resnet50            # N2, 224 px
    python scripts/profile_model.py --model atkernel_resnet26_tiny --input-size 64 --top 15

It hybridizes the network (``static_alloc``, ``static_shape``), runs warm-up steps, then
profiles forward + backward of the logits' sum and prints MXNet's aggregate table (per operator:
calls, total and average time), sorted by total time. ``--impl`` picks the sliding-window
operators' implementation.
"""
import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gluon_convattn.train import cli  # noqa: E402  (gluon_convattn first: the CUDA libraries)


def _operator_rows(table, top):
    """The operator and custom-operator rows of MXNet's aggregate table, by total time."""
    rows, section = [], None
    for line in table.splitlines():
        if line and not line.startswith((' ', '-', '=', 'Name')) and len(line.split()) == 1:
            section = line.strip()
        parts = line.split()
        if section in ('operator', 'Custom Operator') and len(parts) >= 6:
            try:
                count, total = int(parts[-5]), float(parts[-4])
            except ValueError:
                continue
            rows.append((total, count, ' '.join(parts[:-5])))
    rows.sort(reverse=True)
    grand = sum(r[0] for r in rows) or 1.0
    out = ['%-60s %6s %12s %6s' % ('operator', 'calls', 'total ms', 'share')]
    out += ['%-60s %6d %12.1f %5.1f%%' % (name[:60], count, total, 100 * total / grand)
            for total, count, name in rows[:top]]
    return '\n'.join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', required=True)
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--input-size', type=int, default=224)
    parser.add_argument('--steps', type=int, default=3, help='profiled steps')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--impl', choices=('auto', 'composite', 'kernel'), default='auto')
    parser.add_argument('--top', type=int, default=25, help='operators to print')
    parser.add_argument('--eval', action='store_true', help='inference (no backward)')
    cli.add_constructor_args(parser)
    args = parser.parse_args(argv)

    from gluon_convattn.model_zoo import get_model
    import mxnet as mx

    kwargs = cli.constructor_kwargs(args)
    if args.impl != 'auto':
        if 'impl' in kwargs:
            parser.error('--impl and --model-kwargs both set impl; give it once')
        kwargs['impl'] = args.impl
    with cli.flag_errors(args):
        net = get_model(args.model, **kwargs)
    net.initialize(mx.init.Xavier())
    net.hybridize(static_alloc=True, static_shape=True)
    x = mx.nd.random.normal(shape=(args.batch_size, 3, args.input_size, args.input_size))

    def step():
        if args.eval:
            net(x).wait_to_read()
            return
        with mx.autograd.record():
            loss = net(x).sum()
        loss.backward()
        mx.nd.waitall()

    for _ in range(args.warmup):
        step()
    trace = os.path.join(tempfile.mkdtemp(prefix='gluon_convattn_profile_'), 'profile.json')
    mx.profiler.set_config(profile_all=True, aggregate_stats=True, filename=trace)
    mx.profiler.set_state('run')
    for _ in range(args.steps):
        step()
    mx.profiler.set_state('stop')
    table = mx.profiler.dumps(reset=True, format='table', sort_by='total', ascending=False)
    print(_operator_rows(table, args.top))
    return 0


if __name__ == '__main__':
    sys.exit(main())
