"""``scripts/benchmark.py --against-upstream``: alternation, ratio arithmetic, the table, the
checkout errors, and one pair run on a stand-in upstream checkout (a tiny fake network).

Nothing here asserts a time: the clock is scripted where medians are checked.
"""
import json
import os
import sys
import textwrap

import pytest

SCRIPTS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'scripts')
sys.path.insert(0, SCRIPTS)
import benchmark  # noqa: E402
from benchmarks import upstream  # noqa: E402

# A stand-in for dreamcontinue/KAConv's models/KAResNet.py: the names the builder uses
# (ResNet(num_classes, depth), AGL, AGH), around a network small enough for a unit test.
FAKE_KARESNET = textwrap.dedent('''
    import torch
    from torch import nn


    class AGL(nn.Module):
        pass


    class AGH(nn.Module):
        pass


    class ResNet(nn.Module):
        def __init__(self, num_classes=1000, depth=50):
            super().__init__()
            self.built_with = (AGL.__name__, depth)
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)
            self.fc = nn.Linear(4, num_classes)

        def forward(self, x):
            return self.fc(torch.relu(self.bn(self.conv(x))).mean((2, 3)))
''')


def scripted_clock(durations):
    """A clock for ``alternate``: each step reads it twice and lasts the next duration (s)."""
    def ticks():
        now = 0.0
        for d in durations:
            yield now
            now += d
            yield now
    it = ticks()
    return lambda: next(it)


def test_alternate_runs_the_sides_in_turn_and_takes_the_median_of_the_timed_rounds():
    calls = []
    steps = {'upstream': lambda: calls.append('upstream') or 'u',
             'ours': lambda: calls.append('ours') or 'o'}
    # two warm-up rounds far slower than the rest: they must not enter the medians
    upstream_s = [9.0, 9.0, 0.004, 0.001, 0.003, 0.002]
    ours_s = [9.0, 9.0, 0.001, 0.001, 0.001, 0.009]
    clock = scripted_clock([d for pair in zip(upstream_s, ours_s) for d in pair])
    ms, order, last = upstream.alternate(steps, warmup=2, repeat=4, clock=clock)
    assert order == calls == ['upstream', 'ours'] * 6
    assert ms['upstream'] == pytest.approx(2.5)
    assert ms['ours'] == pytest.approx(1.0)
    assert last == {'upstream': 'u', 'ours': 'o'}


def timing(name, family, train, infer):
    return dict(name=name, family=family, size=224, batch=2, finite={'upstream': True,
                                                                    'ours': True},
                train_ms=dict(zip(upstream.SIDES, train)),
                infer_ms=dict(zip(upstream.SIDES, infer)))


def test_ratios_are_upstream_over_ours_for_time_and_ours_over_upstream_for_memory():
    row = upstream.summarise(timing('san10_pairwise', 'SAN', (300.0, 150.0), (40.0, 80.0)),
                             {'upstream': 500.0, 'ours': 250.0})
    assert row['train_ratio'] == pytest.approx(2.0)
    assert row['infer_ratio'] == pytest.approx(0.5)
    assert row['memory_ratio'] == pytest.approx(0.5)
    assert upstream.summarise(timing('x', 'SAN', (1.0, 1.0), (1.0, 1.0)),
                              {'ours': 1.0})['memory_ratio'] is None
    held = upstream.summarise(timing('x', 'SAN', (1.0, 1.0), (1.0, 1.0)), {},
                              {'upstream': 400.0, 'ours': 100.0})
    assert held['held_ratio'] == pytest.approx(0.25)
    assert held['held_mb'] == {'upstream': 400.0, 'ours': 100.0}


def test_table_has_each_network_the_baseline_and_the_geometric_mean_of_the_four_families():
    rows = [
        upstream.summarise(timing('resnet50_v1b', 'baseline', (100.0, 200.0), (10.0, 20.0)),
                           {'upstream': 100.0, 'ours': 300.0}),
        upstream.summarise(timing('san10_pairwise', 'SAN', (200.0, 100.0), (30.0, 10.0)),
                           {'upstream': 400.0, 'ours': 100.0},
                           {'upstream': 300.0, 'ours': 60.0}),
        upstream.summarise(timing('karesnet50_l', 'KAConv', (800.0, 100.0), (10.0, 30.0)),
                           {'upstream': 100.0, 'ours': 400.0},
                           {'upstream': 50.0, 'ours': 250.0}),
        dict(name='acmix_resnet26', family='ACmix', error='RuntimeError: boom'),
    ]
    lines = upstream.format_upstream_table(rows).splitlines()
    assert lines[0].startswith('| network | training ratio | inference ratio (batch 1, eval) |')
    body = [[cell.strip() for cell in line.strip('|').split('|')] for line in lines[2:]]
    names = [cells[0] for cells in body]
    assert names == ['san10_pairwise', 'karesnet50_l', 'acmix_resnet26',
                     'resnet50_v1b (baseline)',
                     'geometric mean (SAN, ACmix, KAConv, AT-kernel)']
    assert body[0][1:9] == ['2.00', '3.00', '0.25', '0.20', '200 / 100', '30 / 10',
                            '400 / 100', '300 / 60']
    assert body[1][1:5] == ['8.00', '0.33', '4.00', '5.00']
    assert 'error: RuntimeError: boom' in lines[4]
    assert body[3][1:5] == ['0.50', '0.50', '3.00', '']     # no held figures: an empty cell
    # geometric means over san10 and karesnet50 only (not the baseline, not the error row)
    assert body[4][1:5] == ['4.00', '1.00', '1.00', '1.00']
    assert all(len(cells) == 9 for cells in body)


def test_a_non_finite_loss_is_flagged_in_the_table():
    t = timing('san10_patchwise', 'SAN', (2.0, 1.0), (2.0, 1.0))
    t['finite'] = {'upstream': True, 'ours': False}
    table = upstream.format_upstream_table([upstream.summarise(t, {})])
    assert 'san10_patchwise (non-finite loss: ours)' in table


def test_case_picks_networks_and_a_case_matching_none_names_the_choices():
    assert upstream.network_names(['san10']) == ['san10_pairwise', 'san10_patchwise']
    assert upstream.network_names()[-1] == upstream.BASELINE
    with pytest.raises(ValueError, match='matches no network.*karesnet50_l'):
        upstream.network_names(['nothing'])


def test_missing_or_incomplete_checkouts_name_the_repository_and_how_to_fetch_it(tmp_path):
    with pytest.raises(FileNotFoundError, match='no such folder.*hszhao/SAN as SAN'):
        upstream.check_checkouts(str(tmp_path / 'absent'), ['san10_pairwise'])
    (tmp_path / 'SAN').mkdir()
    with pytest.raises(FileNotFoundError) as err:
        upstream.check_checkouts(str(tmp_path), ['san10_pairwise', 'karesnet50_l'])
    message = str(err.value)
    assert 'not a checkout of hszhao/SAN (no model/san.py)' in message
    assert 'git clone https://github.com/hszhao/SAN %s' % (tmp_path / 'SAN') in message
    assert 'not a checkout of dreamcontinue/KAConv (no such folder)' in message
    upstream.check_checkouts(str(tmp_path), [upstream.BASELINE])   # needs no checkout


def test_the_command_line_reports_a_missing_checkout_as_a_usage_error(tmp_path, capsys,
                                                                     monkeypatch):
    for key in upstream.thread_environment({}):     # main() sets them; restore them after
        monkeypatch.setenv(key, os.environ.get(key, '1'))
    with pytest.raises(SystemExit) as code:
        benchmark.main(['--against-upstream', str(tmp_path), '--case', 'atkernel'])
    assert code.value.code == 2
    err = capsys.readouterr().err
    assert 'Koooko96/AT-kernel' in err and 'git clone' in err
    with pytest.raises(SystemExit):
        benchmark.main(['--against-upstream', str(tmp_path), '--suite', 'ops'])
    assert 'takes no --suite' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        benchmark.main(['--against-upstream', str(tmp_path), '--memory-runs', '0'])
    assert '--memory-runs must be at least 1, got 0' in capsys.readouterr().err


@pytest.fixture
def fake_kaconv(tmp_path):
    models = tmp_path / 'KAConv' / 'models'
    models.mkdir(parents=True)
    (models / 'KAResNet.py').write_text(FAKE_KARESNET)
    return str(tmp_path)


def tiny_ours():
    from mxnet.gluon import nn
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, padding=1), nn.BatchNorm(), nn.Activation('relu'),
            nn.GlobalAvgPool2D(), nn.Dense(1000))
    return net


def test_a_pair_runs_both_sides_in_turn_on_a_stand_in_checkout(fake_kaconv):
    torch = pytest.importorskip('torch')
    threads = torch.get_num_threads()
    pair = upstream.pair_for('karesnet50_h', fake_kaconv, size=8)._replace(
        build_ours=tiny_ours)
    assert pair.build_upstream().built_with == ('AGH', 50)   # upstream's builder, from DIR
    try:
        result = upstream.run_pair(pair, batch=2, warmup=1, repeat=2)
        memory = {side: upstream.measure_memory(pair, side, steps=1)['peak_mb']
                  for side in upstream.SIDES}
    finally:
        torch.set_num_threads(threads)
    assert result['order'] == ['upstream', 'ours'] * 3
    assert result['finite'] == {'upstream': True, 'ours': True}
    assert result['threads']['torch'] == upstream.THREADS
    assert all(result[key][side] > 0 for key in ('train_ms', 'infer_ms')
               for side in upstream.SIDES)
    assert all(m >= 0 for m in memory.values())
    row = upstream.summarise(json.loads(json.dumps(result)), memory)
    assert row['train_ratio'] == pytest.approx(result['train_ms']['upstream'] /
                                               result['train_ms']['ours'])
    assert row['infer_ratio'] == pytest.approx(result['infer_ms']['upstream'] /
                                               result['infer_ms']['ours'])


def test_the_thread_environment_gives_mxnet_one_worker_of_two_openmp_threads():
    env = upstream.thread_environment({'MXNET_CPU_WORKER_NTHREADS': '4'})
    assert env == {'OMP_NUM_THREADS': '2', 'MKL_NUM_THREADS': '2',
                   'MXNET_CPU_WORKER_NTHREADS': '1'}


def test_the_harness_imports_no_mxnet_so_the_thread_environment_can_come_first():
    import subprocess
    code = ('import sys; sys.path.insert(0, %r); import benchmark; '
            'from benchmarks import upstream; print(sorted(m for m in ("mxnet", "torch") '
            'if m in sys.modules))' % SCRIPTS)
    out = subprocess.run([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True,
                         check=True).stdout
    assert out.strip() == '[]'


def test_the_pytorch_baseline_is_gluoncv_resnet50_v1b_layer_for_layer():
    pytest.importorskip('torch')
    from benchmarks.torch_resnet50 import resnet50
    from gluon_convattn.utils.gluoncv_import import import_gluoncv
    from gluon_convattn.utils.params import param_shapes
    ours = param_shapes(import_gluoncv().model_zoo.get_model(upstream.BASELINE),
                        (1, 3, 32, 32))
    theirs = [tuple(v.shape) for k, v in resnet50().state_dict().items()
              if not k.endswith('num_batches_tracked')]
    assert sorted(ours.values()) == sorted(theirs)


@pytest.mark.slow
def test_the_command_line_runs_a_pair_and_both_memory_sides_in_their_own_processes(
        fake_kaconv, tmp_path):
    import subprocess
    out = tmp_path / 'rows.json'
    proc = subprocess.run(
        [sys.executable, os.path.join(SCRIPTS, 'benchmark.py'), '--against-upstream',
         fake_kaconv, '--case', 'karesnet50_l', '--image-size', '32', '--warmup', '1',
         '--repeat', '1', '--memory-runs', '3', '--json', str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr
    [row] = json.loads(out.read_text())
    assert row['name'] == 'karesnet50_l' and 'error' not in row
    assert set(row['peak_mb']) == set(upstream.SIDES)
    for side in upstream.SIDES:            # three fresh processes a side, their median
        runs = row['peak_mb_runs'][side]
        assert len(runs) == 3 and row['peak_mb'][side] == sorted(runs)[1]
    assert row['train_ratio'] == pytest.approx(row['train_ms']['upstream'] /
                                               row['train_ms']['ours'])
    assert row['memory_ratio'] == pytest.approx(row['peak_mb']['ours'] /
                                                row['peak_mb']['upstream'])
    for side in upstream.SIDES:            # what the forward pass holds is part of the peak
        assert len(row['held_mb_runs'][side]) == 3
        assert 0 <= row['held_mb'][side] <= row['peak_mb'][side] + 1
    assert '| karesnet50_l | %.2f |' % row['train_ratio'] in proc.stdout
    assert 'geometric mean' in proc.stdout


def test_the_memory_meter_sees_work_below_an_earlier_higher_peak():
    """``ru_maxrss`` growth misses memory that fits under a high-water mark set before the
    measured work (building the network); the meter restarts the mark where Linux allows."""
    from benchmarks import resident
    np = pytest.importorskip('numpy')
    big = np.ones(96 * 2 ** 20 // 8)             # an earlier peak of 96 MiB, then freed
    del big
    meter = resident.start()
    work = np.ones(48 * 2 ** 20 // 8)            # 48 MiB touched after the start
    peak = meter.peak_mb()
    del work
    if not meter.exact:
        pytest.skip('/proc/self/clear_refs is not writable here: the meter falls back to '
                    'ru_maxrss growth')
    assert 40 < peak < 90


def test_our_memory_side_allocates_the_gradients_inside_the_measured_steps():
    """PyTorch allocates ``.grad`` in its first backward, inside the measured steps; our side
    defers its gradient arrays to the first step too, and that step fills every one."""
    holder = {}

    def build():
        holder['net'] = tiny_ours()
        return holder['net']
    pair = upstream.Pair('tiny', 'KAConv', 8, build, None)
    step, _ = upstream._ours(pair, 2, gradients=False)
    params = list(holder['net'].collect_params().values())
    assert all(p.grad_req == 'null' for p in params)
    step()
    trained = [p for p in params if p.grad_req != 'null']
    assert trained and all(float(p.grad().abs().sum().asscalar()) > 0 for p in trained)


def large_weights_small_activations():
    """A network of 16 MiB of weights whose activations are a few bytes: what its forward pass
    holds is nearly nothing, its peak the 16 MiB of weight gradients."""
    import mxnet as mx
    from mxnet.gluon import HybridBlock

    class Net(HybridBlock):
        def __init__(self):
            super(Net, self).__init__()
            with self.name_scope():
                self.weight = self.params.get('weight', shape=(4096, 1024),
                                              init=mx.init.Constant(1e-6))

        def hybrid_forward(self, F, x, weight):
            corner = F.slice(weight, begin=(0, 0), end=(1, 1))       # reads 4 bytes
            return F.broadcast_mul(F.mean(x, axis=(1, 2, 3)).reshape((-1, 1)), corner)
    return Net()


def test_what_the_forward_pass_holds_leaves_out_our_gradient_arrays():
    pair = upstream.Pair('large_weights', 'KAConv', 8, large_weights_small_activations, None)
    forward, backward, gradient_mb = upstream._our_phases(pair, 2)
    assert gradient_mb == pytest.approx(16.0)
    upstream.measure_memory(pair, 'ours', steps=1)     # MXNet's first run in this process
    result = upstream.measure_memory(pair, 'ours', steps=2)
    if not result['exact']:
        pytest.skip('/proc/self/clear_refs is not writable here: no resident figures')
    assert result['peak_mb'] > 14          # the weight gradients, allocated in the first step
    assert result['held_mb'] < 8           # without them: the forward pass holds little
