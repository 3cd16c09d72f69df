"""The training and evaluation scripts refuse flags that used to train on garbage, crash with a
traceback or loop forever, before reading any data: each case checks the message."""
import os
import subprocess
import sys

import pytest

from runs import log_text, train_args, train_toy

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize('flags,message', [
    (['--lr', 'nan'], '--lr must be a positive learning rate, e.g. 0.1, got nan'),
    (['--lr', '-1'], '--lr must be a positive learning rate, e.g. 0.1, got -1.0'),
    (['--lr', 'inf'], '--lr must be a positive learning rate'),
    (['--rgb-std', '0,0,0'], '--rgb-std takes three comma-separated positive numbers'),
    (['--rgb-std', '58,57'], '--rgb-std takes three comma-separated positive numbers'),
    (['--rgb-mean', 'nan,1,2'], '--rgb-mean takes three comma-separated numbers'),
    (['--wd', '-0.0001'], '--wd must be a weight decay >= 0, e.g. 0.0001, got -0.0001'),
    (['--momentum', '1'], '--momentum must be a momentum in [0, 1), e.g. 0.9, got 1.0'),
    (['--momentum', '-0.5'], '--momentum must be a momentum in [0, 1)'),
    (['-j', '-1'], '-j/--num-data-workers must be >= 0, got -1'),
    (['--num-training-samples', '0'], '--num-training-samples must be >= 1, got 0'),
    (['--crop-ratio', '0'], '--crop-ratio must be a crop ratio in (0, 1], e.g. 0.875, got 0.0'),
    (['--crop-ratio', '1.5'], '--crop-ratio must be a crop ratio in (0, 1]'),
    (['--input-size', '0'], '--input-size must be >= 1, got 0'),
    (['--batch-size', '0'], '--batch-size must be >= 1, got 0'),
    (['--classes', '0'], '--classes must be >= 1, got 0'),
    (['--resume-epoch', '9', '--num-epochs', '3'],
     '--resume-epoch 9 is at or past --num-epochs 3: nothing is left to train'),
], ids=lambda v: ' '.join(v) if isinstance(v, list) else None)
def test_train_imagenet_refuses_bad_flags(records, tmp_path, train_imagenet, toy, flags,
                                          message):
    save_dir = str(tmp_path)
    with pytest.raises(ValueError) as info:
        train_imagenet.main(train_args(records, save_dir, *flags))
    assert message in str(info.value)
    assert 'Epoch[' not in log_text(save_dir)
    assert not [f for f in os.listdir(save_dir) if f.endswith('.params')]


@pytest.mark.parametrize('flags,message', [
    (['--lr', 'nan'], '--lr must be a positive learning rate'),
    (['--wd', '-1'], '--wd must be a weight decay >= 0'),
    (['--momentum', '1.2'], '--momentum must be a momentum in [0, 1)'),
    (['-j', '-2'], '-j/--num-data-workers must be >= 0, got -2'),
    (['--limit-train', '0'], '--limit-train must be >= 1, got 0'),
    (['--resume-epoch', '5', '--num-epochs', '5'], '--resume-epoch 5 is at or past'),
])
def test_train_cifar_refuses_bad_flags(load_script, tmp_path, flags, message):
    with pytest.raises(ValueError) as info:
        load_script('train_cifar').start(['--save-dir', str(tmp_path / 'run')] + flags)
    assert message in str(info.value)


def test_eval_imagenet_refuses_a_zero_batch_size(records, eval_imagenet, toy, tmp_path):
    with pytest.raises(ValueError) as info:
        eval_imagenet.main(['--model', 'toy_convnet', '--classes', '3', '--params',
                            str(tmp_path / 'x.params'), '--batch-size', '0', '--use-rec',
                            '--rec-val', records['rec_val'], '--rec-val-idx',
                            records['rec_val_idx']])
    assert '--batch-size must be >= 1, got 0' in str(info.value)


def test_save_dir_that_is_a_file_is_refused_and_kept(records, tmp_path, train_imagenet, toy):
    target = tmp_path / 'params'
    target.write_text('my notes')
    with pytest.raises(ValueError) as info:
        train_imagenet.main(train_args(records, str(tmp_path), '--save-dir', str(target)))
    assert '--save-dir %s is a file, not a folder' % target in str(info.value)
    assert target.read_text() == 'my notes'


def test_dist_kvstore_without_the_launcher_says_how_to_launch(records, tmp_path, train_imagenet,
                                                              toy, monkeypatch):
    for name in ('DMLC_ROLE', 'DMLC_PS_ROOT_URI', 'DMLC_NUM_WORKER'):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError) as info:
        train_imagenet.main(train_args(records, str(tmp_path), '--kvstore', 'dist_sync'))
    message = str(info.value)
    assert '--kvstore dist_sync needs the parameter-server processes' in message
    assert 'python -m gluon_convattn.train.launch -n 2 -s 1 --launcher local' in message


def test_resume_from_a_finished_run_is_refused(records, tmp_path, train_imagenet, toy):
    save_dir = str(tmp_path)
    train_toy(train_imagenet, records, save_dir, 2)
    with pytest.raises(ValueError) as info:
        train_imagenet.main(train_args(records, save_dir, '--num-epochs', '1',
                                       '--resume-from', save_dir))
    assert 'ends at epoch 1: nothing is left to do with --num-epochs 1' in str(info.value)
    assert 'Training time for -' not in log_text(save_dir)


def test_train_cifar_resume_errors_come_without_a_traceback(tmp_path):
    states = tmp_path / 'digits-cifar_resnet20_v2_atac-0.states'
    params = tmp_path / 'digits-cifar_resnet20_v2_atac-0.params'
    params.write_bytes(b'')
    states.write_bytes(b'\x80\x04\x95')                     # a pickle cut after 3 bytes
    for flags, message in (
            (['--resume-from', str(tmp_path / 'missing-3.params')],
             'no such file or folder'),
            (['--resume-params', str(params), '--resume-states', str(states),
              '--resume-epoch', '1'], 'is not complete trainer states (truncated or damaged')):
        proc = subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'train_cifar.py'),
                               '--save-dir', str(tmp_path / 'run'), '--num-epochs', '2'] + flags,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=300, cwd=ROOT)
        assert proc.returncode == 1
        assert 'Traceback' not in proc.stderr
        assert proc.stderr.strip().splitlines()[-1].startswith('train_cifar.py: error: ')
        assert message in proc.stderr
