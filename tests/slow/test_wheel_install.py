"""The package as a user installs it: build a wheel, install it into a fresh virtualenv, and from
another directory load ``pretrained='digits'`` from the installed copy; a corrupted copy of the
shipped file is refused.

The fresh venv sees the main venv's site-packages through a ``.pth`` line (so MXNet is not
installed again) but not its editable install of this repository, and the child process runs
without PYTHONPATH, so ``gluon_convattn`` comes from the wheel: the script checks its path.
"""
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CHILD = textwrap.dedent('''
    import os, sys
    import mxnet as mx
    import gluon_convattn
    from gluon_convattn.model_zoo import get_model, model_zoo
    from gluon_convattn.utils.params import ChecksumError
    here = os.path.dirname(gluon_convattn.__file__)
    assert here.startswith(sys.prefix), (here, sys.prefix)
    print('package', here)
    net = get_model('cifar_resnet20_v2_atac', pretrained='digits')
    logits = net(mx.nd.zeros((1, 3, 32, 32))).asnumpy()
    assert logits.shape == (1, 10) and abs(logits).max() < 1e3, logits
    print('loaded digits', model_zoo.weights_dir())
    path = os.path.join(model_zoo.weights_dir(), 'cifar_resnet20_v2_atac-digits.params')
    with open(path, 'r+b') as f:
        f.seek(os.path.getsize(path) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    try:
        get_model('cifar_resnet20_v2_atac', pretrained='digits')
    except ChecksumError as err:
        print('refused', err)
    else:
        raise SystemExit('the corrupted file loaded')
''')


def _run(cmd, cwd, env=None):
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    assert proc.returncode == 0, '%s failed:\n%s' % (' '.join(cmd), proc.stdout[-3000:])
    return proc.stdout


@pytest.mark.slow
def test_wheel_ships_the_weights_and_checks_them(tmp_path):
    source = tmp_path / 'source'        # a clean copy: the build writes build/ and egg-info
    shutil.copytree(os.path.join(ROOT, 'gluon_convattn'), str(source / 'gluon_convattn'),
                    ignore=shutil.ignore_patterns('__pycache__', '*.pyc', '*.so', '*.o'))
    shutil.copy(os.path.join(ROOT, 'setup.py'), str(source))
    wheels = tmp_path / 'wheels'
    _run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q',
          '-w', str(wheels), str(source)], cwd=str(tmp_path))
    wheel, = [str(p) for p in wheels.glob('gluon_convattn-*.whl')]
    # every kernel source ships, so `python -m gluon_convattn.ops.cpu_build` can rebuild both
    # libraries from the installed package
    kernels = os.path.join(ROOT, 'gluon_convattn', 'ops', 'kernels')
    sources = {os.path.relpath(os.path.join(d, f), ROOT).replace(os.sep, '/')
               for d, _, files in os.walk(kernels) for f in files}
    with zipfile.ZipFile(wheel) as archive:
        assert sources - set(archive.namelist()) == set()

    venv = tmp_path / 'venv'
    _run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], cwd=str(tmp_path))
    python = str(venv / 'bin' / 'python')
    _run([sys.executable, '-m', 'pip', '--python', python, 'install', '--no-deps',
          '--no-index', '-q', wheel], cwd=str(tmp_path))
    site = _run([python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                cwd=str(tmp_path)).strip()
    with open(os.path.join(site, 'main_venv.pth'), 'w') as f:
        f.write(sysconfig.get_paths()['purelib'] + '\n')

    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env['OMP_NUM_THREADS'] = '1'
    out = _run([python, '-c', CHILD], cwd=str(elsewhere), env=env)
    assert 'package %s' % os.path.join(site, 'gluon_convattn') in out
    assert 'loaded digits %s' % os.path.join(site, 'gluon_convattn', 'weights') in out
    assert 'refused' in out and 'but its record expects' in out
    assert '5c59de48315b70708b7da741e4cc1e400e4061c20a4f0f5dab640dbc5bbb0c1a' in out
