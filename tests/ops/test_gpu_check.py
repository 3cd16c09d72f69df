"""scripts/gpu_check.py with --ctx cpu: the same checks a GPU host runs, on the CPU kernels
(the g++ emulation where there is no CPU launcher), with small shapes."""
import os
import subprocess
import sys

import numpy as np
import pytest

from gluon_convattn.ops import kernel_spec

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'scripts'))
import gpu_check  # noqa: E402


def _table_rows(text):
    rows = [line.strip('|').split(' | ') for line in text.splitlines()
            if line.startswith('| ') and not line.startswith('| check')]
    return [[c.strip() for c in r] for r in rows]


def test_gpu_check_on_the_cpu_passes_and_writes_its_table(tmp_path):
    out = tmp_path / 'table.md'
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'scripts', 'gpu_check.py'), '--ctx', 'cpu',
         '--quick', '--families', 'ATAC,AT-kernel', '--bench-case',
         'subtraction_stage4:kernel-emulated', '--out', str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    text = out.read_text()
    assert text in proc.stdout
    rows = _table_rows(text)
    by_check = {}
    for check, case, status, detail in rows:
        by_check.setdefault(check, []).append((case, status, detail))
    ops_rows = by_check['ops']
    assert len(ops_rows) == len(gpu_check.OP_NAMES) * len(gpu_check.DTYPES)
    for case, status, detail in ops_rows:
        assert status == 'PASS' and 'kernel launches' in detail and ' 0 kernel' not in detail
    assert {c for c, _, _ in ops_rows} == {'%s %s cpu(0)' % (o, d) for o in gpu_check.OP_NAMES
                                           for d in gpu_check.DTYPES}
    assert by_check['two-gpus'][0][1] == 'SKIP'
    assert by_check['cross-device'][0][1] == 'PASS'
    assert [(c, s) for c, s, _ in by_check['train']] == [
        ('ATAC cifar_resnet20_v2_atac', 'PASS'), ('AT-kernel atkernel_resnet26_tiny', 'PASS')]
    (case, status, detail), = by_check['benchmark']
    assert case == 'ops:subtraction_stage4:kernel-emulated' and status == 'PASS'
    assert 'ms fwd+bwd' in detail
    assert '16 passed, 0 failed, 1 skipped' in text


class _WrongLauncher(object):
    """Runs the kernels, then spoils one output element."""
    name, dtypes = 'wrong', tuple(kernel_spec.DTYPES)

    def __init__(self, launcher):
        self.launcher = launcher

    def launch(self, kernel, dtype, ctx, arrays, ints):
        self.launcher.launch(kernel, dtype, ctx, arrays, ints)
        arrays[-1][0] += 1


class _NoDtypeLauncher(object):
    """Serves no dtype, so the CustomOps compute the composite operators instead."""
    name, dtypes = 'none', ()


@pytest.mark.parametrize('make_launcher,expected', [
    (lambda lib: _WrongLauncher(gpu_check.emulation.EmulatedLauncher(lib)), 'max rel err'),
    (lambda lib: _NoDtypeLauncher(), ' 0 kernel launches'),
])
def test_an_op_row_fails_on_wrong_values_or_when_no_kernel_ran(emulated_library, make_launcher,
                                                               expected):
    import mxnet as mx
    launcher = gpu_check.CountingLauncher(make_launcher(emulated_library))
    windows = gpu_check.WINDOWS['quick'][:1]
    with gpu_check.custom.use_launcher('cpu', launcher):
        err, where, launched = gpu_check._compare_op('subtraction', 'float32', mx.cpu(),
                                                     windows, launcher)
    if expected == 'max rel err':
        assert launched > 0 and err > gpu_check.TOLERANCE['float32']
    else:
        assert launched == 0 and np.isfinite(err)


def test_bad_arguments_are_refused():
    with pytest.raises(SystemExit):
        gpu_check.main(['--ctx', 'tpu0'])
    with pytest.raises(SystemExit):
        gpu_check.main(['--ctx', 'cpu', '--families', 'ATAC,Nope'])
