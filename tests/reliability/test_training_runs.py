"""Training runs lose nothing and train on nothing wrong: another run's checkpoints are never
overwritten, damaged checkpoints and full disks are reported and survived, validation labels
follow the training classes, resumed runs take the flags they are given, and every dimension of
a loaded parameter file is checked. Data cases compare checksums before and after."""
import errno
import logging
import os
import re
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

from support.toy import write_image_folder
from gluon_convattn.utils.params import ParamsMismatchError
from runs import (checkpoint_files, checkpoint_path, checksums, log_text, train_args,
                  train_toy)

TAG = 'imagenet-toy_convnet'


# ------------------------------------------------------------------ two runs, one folder
def test_a_fresh_run_never_overwrites_another_runs_checkpoints(records, tmp_path,
                                                               train_imagenet, toy):
    save_dir = str(tmp_path)
    train_toy(train_imagenet, records, save_dir, 2)
    before = checkpoint_files(checksums(save_dir))
    assert len(before) == 6 + 3                      # epochs 0, 1 and a -best copy
    with pytest.raises(ValueError) as info:
        train_imagenet.main(train_args(records, save_dir, '--num-epochs', '1', '--seed', '5'))
    message = str(info.value)
    assert ('--save-dir %s already holds checkpoints of %s (epochs 0-1) from another run'
            % (save_dir, TAG)) in message
    assert '--resume-from %s' % save_dir in message and '--overwrite' in message
    assert checkpoint_files(checksums(save_dir)) == before


def test_overwrite_deletes_the_old_runs_checkpoints_so_resume_cannot_pick_them(
        records, tmp_path, train_imagenet, toy):
    save_dir = str(tmp_path)
    train_toy(train_imagenet, records, save_dir, 3)
    result = train_imagenet.main(train_args(records, save_dir, '--num-epochs', '1',
                                            '--seed', '5', '--overwrite'))
    assert {c.epoch for c in result.checkpoints} == {0}
    assert not [f for f in os.listdir(save_dir) if re.search(r'-[12](-best)?\.', f)]
    assert 'overwrite: deleted' in log_text(save_dir)


def test_a_resumed_run_continues_in_its_folder(records, tmp_path, train_imagenet, toy):
    save_dir = str(tmp_path)
    train_toy(train_imagenet, records, save_dir, 1)
    epoch0 = checkpoint_files(checksums(save_dir))
    result = train_imagenet.main(train_args(records, save_dir, '--num-epochs', '2',
                                            '--resume-from', save_dir))
    assert {c.epoch for c in result.checkpoints} == {0, 1}
    after = checksums(save_dir)
    assert all(after[name] == digest for name, digest in epoch0.items()
               if '-best' not in name)


# ------------------------------------------------------------------ resuming with other flags
def test_resume_honours_new_optimizer_flags_and_says_which_changed(records, tmp_path,
                                                                   train_imagenet, toy):
    save_dir = str(tmp_path)
    train_toy(train_imagenet, records, save_dir, 1)
    result = train_imagenet.main(train_args(
        records, save_dir, '--num-epochs', '2', '--resume-from', save_dir, '--optimizer',
        'adam', '--wd', '0.05', '--logging-file', os.path.join(save_dir, 'resume.log')))
    optimizer = result.trainer.optimizer
    assert type(optimizer).__name__ == 'Adam' and optimizer.wd == 0.05
    log = log_text(save_dir, 'resume.log')
    assert ('with other optimizer flags: --optimizer adam (was nag), --wd 0.05 (was 0.0001); '
            'the new values apply from epoch 1') in log
    assert 'do not fit Adam with the present flags' in log and 'start from zero' in log


def test_resume_with_a_compatible_optimizer_carries_the_momentum_over(records, tmp_path,
                                                                      train_imagenet, toy):
    from gluon_convattn.train.states import read_trainer_states
    save_dir = str(tmp_path)
    train_toy(train_imagenet, records, save_dir, 1)
    saved = read_trainer_states(checkpoint_path(save_dir, 0, '.states'))
    result = train_imagenet.main(train_args(
        records, save_dir, '--num-epochs', '2', '--resume-from', save_dir, '--optimizer', 'sgd',
        '--momentum', '0.5', '--max-batches', '1', '--lr', '1e-9',
        '--logging-file', os.path.join(save_dir, 'resume.log')))
    assert type(result.trainer.optimizer).__name__ == 'SGD'
    assert result.trainer.optimizer.momentum == 0.5
    states = result.trainer._updaters[0].states
    assert set(states) == set(saved)
    # one SGD step later the momentum is 0.5 * saved + lr * grad, lr tiny: still the saved one
    for index in saved:
        np.testing.assert_allclose(states[index].asnumpy(), 0.5 * saved[index].asnumpy(),
                                   atol=1e-6)
    assert '--momentum 0.5 (was 0.9), --optimizer sgd (was nag)' in log_text(save_dir,
                                                                           'resume.log')


# ------------------------------------------------------------------ damaged checkpoints
def _flip_a_byte(path, offset=-8):
    with open(path, 'r+b') as f:
        f.seek(offset, os.SEEK_END)
        value = f.read(1)
        f.seek(offset, os.SEEK_END)
        f.write(bytes([value[0] ^ 0xFF]))


def test_a_same_size_corrupt_checkpoint_is_skipped_saying_so(records, tmp_path,
                                                             train_imagenet, toy):
    save_dir = str(tmp_path)
    train_toy(train_imagenet, records, save_dir, 2)
    latest = checkpoint_path(save_dir, 1, '.params')
    size = os.path.getsize(latest)
    _flip_a_byte(latest)
    assert os.path.getsize(latest) == size
    before = checksums(save_dir)
    result = train_imagenet.main(train_args(
        records, save_dir, '--num-epochs', '3', '--resume-from', save_dir,
        '--logging-file', os.path.join(save_dir, 'resume.log')))
    log = log_text(save_dir, 'resume.log')
    assert ('%s-1.params differs from the checksum in %s-1.json (damaged on disk?); resuming '
            'from the previous checkpoint, epoch 0' % (TAG, TAG)) in log
    assert 'Epoch[1] Batch [0]' in log                       # epoch 1 is trained again
    assert {c.epoch for c in result.checkpoints} >= {0, 1, 2}
    after = checksums(save_dir)
    assert after[TAG + '-0.params'] == before[TAG + '-0.params']


def test_gluoncv_resume_flags_refuse_a_damaged_file(records, tmp_path, train_imagenet, toy):
    save_dir = str(tmp_path)
    train_toy(train_imagenet, records, save_dir, 1)
    params = checkpoint_path(save_dir, 0, '.params')
    _flip_a_byte(params)
    with pytest.raises(ValueError) as info:
        train_imagenet.main(train_args(records, save_dir, '--num-epochs', '2',
                                       '--resume-params', params, '--resume-epoch', '1'))
    assert '%s differs from the checksum recorded in' % params in str(info.value)


@pytest.mark.parametrize('content', [b'', b'\x80\x04\x95\x10\x00', b'not a pickle at all'],
                         ids=['empty', 'truncated', 'text'])
def test_a_bad_resume_states_file_is_one_clear_error(records, tmp_path, train_imagenet, toy,
                                                     content):
    save_dir = str(tmp_path)
    train_toy(train_imagenet, records, save_dir, 1)
    states = os.path.join(save_dir, 'bad.states')
    with open(states, 'wb') as f:
        f.write(content)
    with pytest.raises(ValueError) as info:
        train_imagenet.main(train_args(
            records, save_dir, '--num-epochs', '2', '--resume-epoch', '1', '--resume-params',
            checkpoint_path(save_dir, 0, '.params'), '--resume-states', states))
    message = str(info.value)
    assert message.startswith('--resume-states %s ' % states)
    assert 'resume from an earlier checkpoint, or without --resume-states' in message


def test_stale_temporaries_of_killed_saves_are_removed_and_live_ones_kept(
        records, tmp_path, train_imagenet, toy):
    save_dir = str(tmp_path)
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    stale = tmp_path / ('.%s-0.params.tmp-%d' % (TAG, dead.pid))
    live = tmp_path / ('.%s-0.params.tmp-%d' % (TAG, os.getppid()))
    stale.write_bytes(b'half a checkpoint')
    live.write_bytes(b'being written by a live process')
    train_toy(train_imagenet, records, save_dir, 1)
    assert not stale.exists()
    assert live.read_bytes() == b'being written by a live process'
    assert 'removed %s, left by a save that was killed' % stale in log_text(save_dir)


def test_a_full_disk_while_saving_is_one_error_and_keeps_the_previous_checkpoint(
        records, tmp_path, train_imagenet, toy, monkeypatch):
    save_dir = str(tmp_path)
    train_toy(train_imagenet, records, save_dir, 1)
    before = checkpoint_files(checksums(save_dir))
    real_save = mx.gluon.Block.save_parameters

    def save_until_the_disk_is_full(self, filename, *args, **kwargs):
        real_save(self, filename, *args, **kwargs)
        with open(filename, 'r+b') as f:                  # half written, then ENOSPC
            f.truncate(os.path.getsize(filename) // 2)
        raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(mx.gluon.Block, 'save_parameters', save_until_the_disk_is_full)
    with pytest.raises(OSError) as info:
        train_imagenet.main(train_args(records, save_dir, '--num-epochs', '2',
                                       '--resume-from', save_dir))
    assert info.value.errno == errno.ENOSPC
    assert ('no space left on the device while saving checkpoint %s-1 in %s; the checkpoints '
            'saved before it are kept' % (TAG, save_dir)) in str(info.value)
    after = checksums(save_dir)
    assert checkpoint_files(after) == before                 # nothing lost, nothing partial
    assert not [name for name in after if '.tmp-' in name or '-1.' in name]


def test_full_disk_reaches_the_command_line_as_one_line(monkeypatch, capsys):
    from gluon_convattn.train import cli
    from gluon_convattn.utils.files import DiskFullError

    def main():
        raise DiskFullError(errno.ENOSPC, 'no space left on the device while saving X')
    monkeypatch.setattr(sys, 'argv', ['train_imagenet.py'])
    with pytest.raises(SystemExit) as info:
        cli.run_main(main)
    assert str(info.value.code).startswith('train_imagenet.py: error: ')
    assert 'no space left on the device while saving X' in str(info.value.code)


# ------------------------------------------------------------------ parameter shapes
def test_a_params_file_with_one_batchnorm_entry_too_many_is_refused(records, tmp_path,
                                                                    train_imagenet, toy):
    save_dir = str(tmp_path)
    train_toy(train_imagenet, records, save_dir, 1)
    arrays = mx.nd.load(checkpoint_path(save_dir, 0))
    gamma = sorted(k for k in arrays if k.endswith('gamma'))[0]
    channels = arrays[gamma].shape[0]
    arrays[gamma] = mx.nd.ones((channels + 1,))
    bad = os.path.join(save_dir, 'bad.params')
    mx.nd.save(bad, arrays)
    with pytest.raises(ParamsMismatchError) as info:
        train_imagenet.main(train_args(records, save_dir, '--num-epochs', '2',
                                       '--resume-params', bad, '--resume-epoch', '1'))
    assert ('parameter %r: ToyNet needs shape (%d,), %s holds (%d,)'
            % (gamma, channels, bad, channels + 1)) in str(info.value)


@pytest.mark.parametrize('content', [b'', b'\x12\x01\x00\x00\x00\x00\x00\x00garbage'],
                         ids=['empty', 'corrupt'])
def test_an_empty_or_corrupt_params_file_is_one_line(tmp_path, content):
    from support.toy import ToyNet
    from gluon_convattn.utils.params import load_parameters_checked
    path = tmp_path / 'x.params'
    path.write_bytes(content)
    with pytest.raises(ValueError) as info:
        load_parameters_checked(ToyNet(3), str(path))
    message = str(info.value)
    assert message.startswith(str(path) + ' is ')
    assert 'Traceback' not in message and '\n' not in message


# ------------------------------------------------------------------ image folders
def _folders(root, train_classes, val_classes):
    write_image_folder(os.path.join(root, 'train'), len(train_classes), 4,
                       names=train_classes)
    write_image_folder(os.path.join(root, 'val'), len(val_classes), 2, seed=1,
                       names=val_classes)


def _folder_args(root, save_dir, *extra):
    return ['--model', 'toy_convnet', '--classes', '3', '--batch-size', '2', '-j', '0',
            '--input-size', '32', '--max-batches', '1', '--save-frequency', '1',
            '--data-dir', root, '--save-dir', save_dir,
            '--logging-file', os.path.join(os.path.dirname(save_dir), 'train.log')] + list(extra)


def test_validation_labels_follow_the_training_class_names(tmp_path, caplog):
    from types import SimpleNamespace
    from gluon_convattn.data.imagenet import Augmentation
    from gluon_convattn.train.inputs import val_source
    root = str(tmp_path / 'data')
    _folders(root, ['ant', 'bee', 'cat'], ['bee', 'cat'])       # val lacks 'ant'
    args = SimpleNamespace(use_rec=False, dataset='imagenet', data_dir=root, num_workers=0,
                           classes=3)
    with caplog.at_level(logging.WARNING):
        source = val_source(args, 2, 3, Augmentation(32))
    assert sorted({label for _, label in source.dataset.items}) == [1, 2]   # bee, cat
    assert 'has no folder for 1 of the 3 training classes (ant)' in caplog.text


def test_a_validation_class_unknown_to_training_is_an_error(tmp_path, train_imagenet, toy):
    root = str(tmp_path / 'data')
    _folders(root, ['ant', 'bee', 'cat'], ['ant', 'bee', 'dog'])
    with pytest.raises(ValueError) as info:
        train_imagenet.main(_folder_args(root, str(tmp_path / 'run'), '--num-epochs', '1'))
    assert "has class folder(s) dog that the training data lacks" in str(info.value)


@pytest.mark.parametrize('workers', ['0', '2'])
def test_a_corrupt_jpeg_is_named(tmp_path, train_imagenet, toy, workers):
    root = str(tmp_path / 'data')
    _folders(root, ['ant', 'bee', 'cat'], ['ant', 'bee', 'cat'])
    broken = os.path.join(root, 'train', 'bee', '2.jpg')
    with open(broken, 'r+b') as f:
        f.truncate(40)
    with pytest.raises(ValueError) as info:
        train_imagenet.main(_folder_args(root, str(tmp_path / 'run'), '--num-epochs', '1',
                                         '--max-batches', '100', '-j', workers))
    assert 'cannot decode the image %s' % broken in str(info.value)
    assert 'replace or delete it' in str(info.value)
