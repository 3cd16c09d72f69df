"""Atomic checkpoints, finding the latest complete one, and resuming training after a kill with
the same learning-rate schedule."""
import json
import os
import signal
import subprocess
import sys
import time

import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon

from gluon_convattn.train.checkpoint import (atomic_write, find_checkpoints, latest_checkpoint,
                                             save_checkpoint)
from gluon_convattn.train.schedule import build_lr_scheduler, set_update_count
from support.toy import ToyNet
from gluon_convattn.utils import ParamsMismatchError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, 'scripts', 'train_imagenet.py')


def _toy_and_trainer(width=8):
    net = ToyNet(classes=3, width=width)
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 3, 16, 16)))
    trainer = gluon.Trainer(net.collect_params(), 'nag', {'learning_rate': 0.1,
                                                          'momentum': 0.9})
    return net, trainer


def _step(net, trainer):
    with mx.autograd.record():
        loss = net(mx.nd.ones((2, 3, 16, 16))).sum()
    loss.backward()
    trainer.step(2)


def _params(path):
    return {k: v.asnumpy() for k, v in mx.nd.load(path).items()}


# ------------------------------------------------------------------ atomic files
def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    path = str(tmp_path / 'f.params')
    atomic_write(path, lambda p: open(p, 'w').write('old'))

    def crash(p):
        with open(p, 'w') as f:
            f.write('partial new cont')
        raise KeyboardInterrupt    # e.g. Ctrl-C in the middle of a write

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, crash)
    assert open(path).read() == 'old'
    assert os.listdir(str(tmp_path)) == ['f.params']


def test_an_interrupted_checkpoint_leaves_the_previous_one_loadable(tmp_path):
    net, trainer = _toy_and_trainer()
    save_dir = str(tmp_path)
    _step(net, trainer)
    first = save_checkpoint(save_dir, 'imagenet-toy-0', net, trainer, {'tag': 'imagenet-toy',
                                                                       'epoch': 0})
    _step(net, trainer)

    def dies_while_saving_states(fname):
        with open(fname, 'wb') as f:
            f.write(b'\0' * 10)
        raise SystemExit('killed')

    trainer.save_states = dies_while_saving_states
    with pytest.raises(SystemExit):
        save_checkpoint(save_dir, 'imagenet-toy-1', net, trainer,
                        {'tag': 'imagenet-toy', 'epoch': 1})
    # epoch 1 wrote its .params but never its .states and .json: it does not count
    assert os.path.exists(os.path.join(save_dir, 'imagenet-toy-1.params'))
    latest = latest_checkpoint(save_dir, 'imagenet-toy')
    assert latest.epoch == 0 and latest.params == first.params
    restored, restored_trainer = _toy_and_trainer()
    restored.load_parameters(latest.params)
    restored_trainer.load_states(latest.states)
    np.testing.assert_array_equal(_params(first.params)['output.weight'],
                                  restored.output.weight.data().asnumpy())


def test_latest_checkpoint_skips_incomplete_and_foreign_ones(tmp_path):
    net, trainer = _toy_and_trainer()
    save_dir = str(tmp_path)
    for epoch in range(3):
        save_checkpoint(save_dir, 'imagenet-toy-%d' % epoch, net, trainer,
                        {'tag': 'imagenet-toy', 'epoch': epoch})
    save_checkpoint(save_dir, 'imagenet-other-5', net, trainer,
                    {'tag': 'imagenet-other', 'epoch': 5})
    assert latest_checkpoint(save_dir, 'imagenet-toy').epoch == 2
    with open(os.path.join(save_dir, 'imagenet-toy-2.params'), 'r+b') as f:
        f.truncate(10)                                  # a damaged copy
    assert latest_checkpoint(save_dir, 'imagenet-toy').epoch == 1
    assert [c.epoch for c in find_checkpoints(save_dir, 'imagenet-toy')] == [0, 1]
    with pytest.raises(ValueError, match='holds checkpoints of imagenet-other, imagenet-toy, '
                                         'none of imagenet-third'):
        latest_checkpoint(save_dir, 'imagenet-third')
    with pytest.raises(FileNotFoundError, match='no such folder'):
        latest_checkpoint(str(tmp_path / 'missing'), 'imagenet-toy')


# ------------------------------------------------------------------ schedule position
def test_update_count_puts_the_optimizer_on_the_schedule():
    scheduler = build_lr_scheduler(0.4, 'cosine', num_epochs=4, batches_per_epoch=5,
                                   warmup_epochs=1)
    reference = build_lr_scheduler(0.4, 'cosine', num_epochs=4, batches_per_epoch=5,
                                   warmup_epochs=1)
    net, _ = _toy_and_trainer()
    trainer = gluon.Trainer(net.collect_params(), 'nag', {'lr_scheduler': scheduler,
                                                          'momentum': 0.9})
    set_update_count(trainer.optimizer, 10)
    assert trainer.learning_rate == pytest.approx(reference(10))
    _step(net, trainer)
    assert trainer.optimizer.num_update == 11
    assert trainer.learning_rate == pytest.approx(reference(11))
    assert reference(11) != pytest.approx(reference(1))


# ------------------------------------------------------------------ the training script
def _args(records, save_dir, *extra, log='train.log'):
    return ['--model', 'toy_convnet', '--use-rec', '--rec-train', records['rec_train'],
            '--rec-train-idx', records['rec_train_idx'], '--rec-val', records['rec_val'],
            '--rec-val-idx', records['rec_val_idx'], '--classes', '3', '--batch-size', '2',
            '--input-size', '64', '-j', '1', '--num-epochs', '3', '--lr-mode', 'cosine',
            '--warmup-epochs', '1', '--lr', '0.2', '--save-frequency', '1', '--save-dir',
            save_dir, '--log-interval', '1', '--logging-file',
            os.path.join(save_dir, log)] + list(extra)


def _lr_by_batch(log):
    lines = [l for l in open(log).read().splitlines() if l.startswith('Epoch[')]
    return {l.split('\t')[0]: l.split('lr=')[1] for l in lines}


_LAUNCHER = ('import runpy, sys\n'
             'from support.toy import toy_model_registered\n'
             'with toy_model_registered():\n'
             '    sys.argv = sys.argv[1:]\n'
             '    runpy.run_path(sys.argv[0], run_name="__main__")\n')


def _launch(args, **kwargs):
    """The training script in a new process. MXNet's threaded engine does not repeat float
    rounding from one process to the next; the naive engine does, so runs compare exactly."""
    env = dict(os.environ, MXNET_ENGINE_TYPE='NaiveEngine',
               PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, 'tests'),
                                       os.environ.get('PYTHONPATH', '')]))
    return subprocess.Popen([sys.executable, '-c', _LAUNCHER, SCRIPT] + args, env=env,
                            cwd=ROOT, text=True, **kwargs)


def _run_dir(tmp_path, name):
    path = str(tmp_path / name)
    os.makedirs(path)
    return path


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(records, tmp_path,
                                                                    train_imagenet, toy):
    killed_dir, straight_dir = _run_dir(tmp_path, 'killed'), _run_dir(tmp_path, 'straight')
    straight = _launch(_args(records, straight_dir), stderr=subprocess.DEVNULL)
    killed = _launch(_args(records, killed_dir), stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        for line in killed.stderr:
            if line.startswith('Epoch[1] Batch [2]') or time.time() > deadline:
                break
        killed.send_signal(signal.SIGKILL)
    finally:
        killed.wait()
    assert killed.returncode == -signal.SIGKILL
    log = open(os.path.join(killed_dir, 'train.log')).read()
    assert 'Epoch[1] Batch [1]' in log and '[Epoch 1] validation' not in log
    assert {c.epoch for c in find_checkpoints(killed_dir, 'imagenet-toy_convnet')} == {0}

    resumed = _launch(_args(records, killed_dir, '--resume-from', killed_dir,
                            log='resumed.log'), stderr=subprocess.DEVNULL)
    assert resumed.wait() == 0 and straight.wait() == 0
    resumed_log = open(os.path.join(killed_dir, 'resumed.log')).read()
    assert 'Epoch[0]' not in resumed_log and 'Epoch[1] Batch [1]' in resumed_log
    assert {c.epoch for c in find_checkpoints(killed_dir, 'imagenet-toy_convnet')} == {0, 1, 2}
    straight_lr = _lr_by_batch(os.path.join(straight_dir, 'train.log'))
    resumed_lr = _lr_by_batch(os.path.join(killed_dir, 'resumed.log'))
    assert len(resumed_lr) == 24 and all(straight_lr[k] == v for k, v in resumed_lr.items())
    final = 'imagenet-toy_convnet-2.params'
    expected = _params(os.path.join(straight_dir, final))
    got = _params(os.path.join(killed_dir, final))
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)

    # the comparison can fail: resuming without the optimizer states drifts away
    lost_dir = _run_dir(tmp_path, 'lost')
    for ext in ('.params', '.json'):
        name = 'imagenet-toy_convnet-0' + ext
        with open(os.path.join(killed_dir, name), 'rb') as f:
            data = f.read()
        if ext == '.json':
            meta = json.loads(data)
            meta['states'] = None
            data = json.dumps(meta).encode()
        with open(os.path.join(lost_dir, name), 'wb') as f:
            f.write(data)
    train_imagenet.main(_args(records, lost_dir, '--resume-from', lost_dir))
    lost = _params(os.path.join(lost_dir, final))
    drift = max(np.abs(lost[k] - expected[k]).max() for k in expected)
    print('drift without optimizer states', drift)
    assert drift > 1e-2


def test_resume_refuses_parameters_of_another_model(records, tmp_path, train_imagenet, toy):
    other = gluon.nn.Dense(3, in_units=5)
    other.initialize()
    foreign = str(tmp_path / 'other.params')
    other.save_parameters(foreign)
    with pytest.raises(ParamsMismatchError, match="parameter 'features.0.weight' of ToyNet is "
                                                  "missing in .*other.params"):
        train_imagenet.main(_args(records, str(tmp_path), '--resume-params', foreign,
                                  '--resume-epoch', '1'))
    narrow = ToyNet(classes=3, width=4)
    narrow.initialize()
    narrow(mx.nd.zeros((1, 3, 16, 16)))
    narrow.save_parameters(foreign)
    with pytest.raises(ParamsMismatchError, match="parameter 'features.0.weight'"):
        train_imagenet.main(_args(records, str(tmp_path), '--resume-params', foreign,
                                  '--resume-epoch', '1'))


def test_resume_flags_are_checked(records, tmp_path, train_imagenet, toy):
    with pytest.raises(FileNotFoundError, match='--resume-params .*none.params: no such file'):
        train_imagenet.main(_args(records, str(tmp_path), '--resume-params',
                                  str(tmp_path / 'none.params'), '--resume-epoch', '1'))
    with pytest.raises(ValueError, match='need --resume-params'):
        train_imagenet.main(_args(records, str(tmp_path), '--resume-epoch', '2'))
    with pytest.raises(ValueError, match='do not combine'):
        train_imagenet.main(_args(records, str(tmp_path), '--resume-from', str(tmp_path),
                                  '--resume-epoch', '2'))
