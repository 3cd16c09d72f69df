"""Two workers, one server and a scheduler on 127.0.0.1, started by MXNet's launch.py
(through gluon_convattn.train.launch), train with --kvstore dist_sync: both end with the same
weights, each having read its own half of the data."""
import glob
import json
import os
import signal
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

from support.toy import write_record_files

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, 'scripts', 'train_imagenet.py')

WORKER = '''
import importlib.util, json, os, sys
from support.toy import toy_model_registered   # a server or scheduler stops here
out, script = sys.argv[1], sys.argv[2]
spec = importlib.util.spec_from_file_location('train_imagenet', script)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
with toy_model_registered():
    result = module.main(sys.argv[3:])
result.net.save_parameters(os.path.join(out, 'worker%d.params' % result.rank))
with open(os.path.join(out, 'worker%d.json' % result.rank), 'w') as f:
    json.dump({'updates': result.trainer.optimizer.num_update,
               'workers': result.trainer._kvstore.num_workers,
               'root': os.environ['DMLC_PS_ROOT_URI']}, f)
'''


def _params(path):
    return {k: v.asnumpy() for k, v in mx.nd.load(path).items()}


# MXNet's threaded engine rounds differently from one process to the next, so there the
# workers agree to float rounding; the naive engine shows that the synchronisation is exact.
@pytest.mark.parametrize('engine,atol', [('NaiveEngine', 0.0), ('ThreadedEnginePerDevice', 1e-5)])
def test_two_workers_with_dist_sync_end_with_the_same_weights(tmp_path, engine, atol):
    records = write_record_files(str(tmp_path / 'data'), classes=3, per_class=8)
    out = str(tmp_path / 'out')
    os.makedirs(out)
    worker = tmp_path / 'worker.py'
    worker.write_text(WORKER)
    train = ['--model', 'toy_convnet', '--kvstore', 'dist_sync', '--use-rec',
             '--rec-train', records['rec_train'], '--rec-train-idx', records['rec_train_idx'],
             '--rec-val', records['rec_val'], '--rec-val-idx', records['rec_val_idx'],
             '--classes', '3', '--batch-size', '2', '-j', '1', '--input-size', '32',
             '--num-epochs', '2', '--lr', '0.1', '--save-frequency', '1', '--save-dir', out,
             '--log-interval', '1', '--logging-file', os.path.join(out, 'train.log')]
    command = [sys.executable, '-m', 'gluon_convattn.train.launch', '-n', '2', '-s', '1',
               '--launcher', 'local', sys.executable, str(worker), out, SCRIPT] + train
    env = dict(os.environ, DMLC_INTERFACE='lo',
               MXNET_ENGINE_TYPE=engine,
               PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, 'tests'),
                                       os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = proc.communicate(timeout=400)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail('the distributed job did not finish:\n' + output[-3000:])
    assert proc.returncode == 0, output[-3000:]

    # 24 images, 2 workers x 2 per batch: 6 synchronous updates per epoch on each worker
    for rank in (0, 1):
        with open(os.path.join(out, 'worker%d.json' % rank)) as f:
            assert json.load(f) == {'updates': 12, 'workers': 2, 'root': '127.0.0.1'}
    assert 'kvstore dist_sync: worker 0 of 2' in open(os.path.join(out, 'train.log')).read()
    assert 'kvstore dist_sync: worker 1 of 2' in open(
        os.path.join(out, 'train.log.worker1')).read()

    first, second = _params(os.path.join(out, 'worker0.params')), _params(
        os.path.join(out, 'worker1.params'))
    trained = [k for k in first if not k.endswith(('running_mean', 'running_var'))]
    for key in trained:
        np.testing.assert_allclose(first[key], second[key], rtol=0, atol=atol, err_msg=key)
    # BatchNorm statistics are each worker's own: they saw different halves of the data
    assert any(np.abs(first[k] - second[k]).max() > 0 for k in first if k not in trained)
    # and the weights did move between the checkpoints worker 0 wrote
    epoch0 = _params(os.path.join(out, 'imagenet-toy_convnet-0.params'))
    assert any(np.abs(first[k] - epoch0[k]).max() > 1e-4 for k in trained)
    assert not glob.glob(os.path.join(out, '*.tmp-*'))
