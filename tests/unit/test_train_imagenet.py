"""scripts/train_imagenet.py and scripts/eval_imagenet.py: every registered model trains,
resumes and evaluates; GluonCV's recipe options; clear errors for bad input."""
import math
import os
import re

import mxnet as mx
import numpy as np
import pytest

from gluon_convattn.data.imagenet import Batch
from gluon_convattn.model_zoo import get_model_info, get_model_list
from gluon_convattn.train.labels import mixup_lambda, mixup_transform, smooth, \
    teacher_probabilities
from gluon_convattn.train.loop import split_batch
from gluon_convattn.train.cli import parse_model_kwargs
from support.toy import ToyNet, write_tiny_imagenet

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The cheapest model of each kind of network trains in the CI budget (about 45 s on 2 cores);
# the others run with `-m slow`.
FAST_MODELS = {'cifar_resnet20_v2_atac', 'resnet50_v1b_atac', 'san10_pairwise',
               'san10_patchwise', 'acmix_resnet26', 'acmix_swin_tiny', 'karesnet50_l',
               'kamobilenetv2_0.5_l', 'kamobilenetv2_1.0_l', 'atkernel_resnet26_tiny',
               'atkernel_resnet50', 'pvt_tiny'}


def _rec_args(records, train=True):
    args = ['--use-rec', '--rec-val', records['rec_val'], '--rec-val-idx', records['rec_val_idx']]
    if train:
        args += ['--rec-train', records['rec_train'], '--rec-train-idx',
                 records['rec_train_idx']]
    return args


def _train_args(records, save_dir, model='toy_convnet', *extra):
    return ['--model', model, '--classes', '3', '--batch-size', '2', '-j', '1',
            '--save-frequency', '1', '--save-dir', save_dir, '--log-interval', '1',
            '--logging-file', os.path.join(save_dir, 'train.log')] + \
        _rec_args(records) + list(extra)


def _log(save_dir, name='train.log'):
    return open(os.path.join(save_dir, name)).read()


def _params(path):
    return {k: v.asnumpy() for k, v in mx.nd.load(path).items()}


# --------------------------------------------------------------- every registered model
def _model_params():
    return [pytest.param(name, marks=() if name in FAST_MODELS else pytest.mark.slow)
            for name in get_model_list() if get_model_info(name).default_dataset != 'coco']


def test_every_family_has_a_model_in_the_ci_budget():
    families = {get_model_info(n).family for n in get_model_list()}
    covered = {get_model_info(n).family for n in FAST_MODELS & set(get_model_list())}
    assert families <= covered, 'add a cheap model of %s to FAST_MODELS' % (families - covered)


@pytest.mark.parametrize('name', _model_params())
def test_every_model_trains_resumes_and_evaluates(name, records, tmp_path, train_imagenet,
                                                  eval_imagenet):
    info = get_model_info(name)
    # the smallest size that still leaves BatchNorm of a batch of 2 more than one value per
    # channel in the last stage (at 1x1 it divides by ~0 and the weights explode)
    size = str(max(info.min_size, min(64, info.input_size // 2)))
    save_dir = str(tmp_path)
    common = _train_args(records, save_dir, name, '--input-size', size, '--max-batches', '1',
                         '--lr', '0.01')
    first = train_imagenet.main(common + ['--num-epochs', '1'])
    assert {c.epoch for c in first.checkpoints} == {0}
    second = train_imagenet.main(common + ['--num-epochs', '2', '--resume-from', save_dir,
                                           '--logging-file', os.path.join(save_dir, 'r.log')])
    resumed = _log(save_dir, 'r.log')
    assert 'Epoch[0]' not in resumed and 'Epoch[1] Batch [0]' in resumed
    assert '[Epoch 1] validation: err-top1=' in resumed
    epoch0 = _params(os.path.join(save_dir, 'imagenet-%s-0.params' % name))
    epoch1 = os.path.join(save_dir, 'imagenet-%s-1.params' % name)
    after = _params(epoch1)
    assert all(np.isfinite(v).all() for v in after.values())
    assert any(np.abs(after[k] - epoch0[k]).max() > 0 for k in after)   # it did train
    assert {c.epoch for c in second.checkpoints} == {0, 1}
    result = eval_imagenet.main(['--model', name, '--classes', '3', '--params', epoch1,
                                 '--input-size', size, '--batch-size', '2', '-j', '1',
                                 '--max-batches', '1'] + _rec_args(records, train=False))
    assert result.samples == 2 and result.top1 in (0.0, 0.5, 1.0)
    assert result.top5 == 1.0                    # three classes: top-5 holds every class


# --------------------------------------------------------------- the recipe's options
def _gluoncv_lr(update, lr, warmup_updates, total_updates):
    """GluonCV's schedule (linear warm-up from 0, then cosine to 0), written out."""
    if update < warmup_updates:
        return lr * update / (warmup_updates - 1)
    t = min(update - warmup_updates, total_updates - warmup_updates - 1)
    return lr * (1 + math.cos(math.pi * t / (total_updates - warmup_updates - 1))) / 2


def test_recipe_options_train_with_the_gluoncv_schedule(records, tmp_path, train_imagenet, toy):
    save_dir = str(tmp_path)
    result = train_imagenet.main(_train_args(
        records, save_dir, 'toy_convnet', '--input-size', '32', '--num-epochs', '3',
        '--max-batches', '4', '--lr', '0.4', '--lr-mode', 'cosine', '--warmup-epochs', '1',
        '--label-smoothing', '--mixup', '--mixup-off-epoch', '1', '--no-wd', '--last-gamma',
        '--optimizer', 'nag', '--mode', 'hybrid'))
    log = _log(save_dir)
    lrs = [float(v) for v in re.findall(r'^Epoch\[\d+\] Batch .*\tlr=([0-9.]+)$', log, re.M)]
    # the log line after update u shows the rate of update u + 1
    assert lrs == pytest.approx([_gluoncv_lr(u + 1, 0.4, 4, 12) for u in range(12)], abs=1e-6)
    assert 'rmse=' in log                                    # GluonCV's metric under mixup
    assert re.search(r'\[Epoch 2\] speed: \d+ samples/sec\ttime cost: [0-9.]+', log)
    assert result.net.last_gamma
    wd_mult = {k: p.wd_mult for k, p in result.net.collect_params().items()}
    assert all(v == 0 for k, v in wd_mult.items() if k.endswith(('gamma', 'beta', 'bias')))
    assert wd_mult[result.net.features[0].weight.name] == 1
    assert result.trainer.optimizer.momentum == 0.9
    assert type(result.trainer.optimizer).__name__ == 'NAG'


def test_label_smoothing_and_mixup_targets():
    label = mx.nd.array([0, 2])
    (smoothed,) = smooth([label], 3, eta=0.1)
    np.testing.assert_allclose(smoothed.asnumpy(), [[0.9 + 0.1 / 3, 0.1 / 3, 0.1 / 3],
                                                    [0.1 / 3, 0.1 / 3, 0.9 + 0.1 / 3]],
                               rtol=1e-6)
    (mixed,) = mixup_transform([label], 3, lam=0.7)
    np.testing.assert_allclose(mixed.asnumpy(), [[0.7, 0, 0.3], [0.3, 0, 0.7]], rtol=1e-6)
    assert mixup_lambda(0.2, epoch=9, num_epochs=10, off_epochs=1) == 1.0
    assert 0 < mixup_lambda(0.2, epoch=8, num_epochs=10, off_epochs=1,
                            rng=np.random.RandomState(0)) < 1


def test_distillation_uses_the_teachers_softened_outputs(records, tmp_path, train_imagenet,
                                                         toy):
    teacher = ToyNet(classes=3)
    teacher.initialize(mx.init.Xavier())
    x = mx.nd.random.normal(shape=(2, 3, 32, 32))
    probs = teacher_probabilities(teacher, [x], 'float32', temperature=4.0)[0]
    np.testing.assert_allclose(probs.asnumpy(), mx.nd.softmax(teacher(x) / 4.0).asnumpy(),
                               rtol=1e-6)
    teacher_file = str(tmp_path / 'teacher.params')
    teacher.save_parameters(teacher_file)
    save_dir = str(tmp_path / 'run')
    os.makedirs(save_dir)
    result = train_imagenet.main(_train_args(
        records, save_dir, 'toy_convnet', '--input-size', '32', '--num-epochs', '1',
        '--max-batches', '2', '--teacher', 'toy_convnet', '--teacher-params', teacher_file,
        '--temperature', '4', '--hard-weight', '0.3'))
    assert result.best_err <= 1.0 and 'Epoch[0] Batch [1]' in _log(save_dir)


def test_image_folder_and_tiny_imagenet_inputs(records, tmp_path, train_imagenet, toy):
    folder_dir = str(tmp_path / 'folder')
    os.makedirs(folder_dir)
    train_imagenet.main(['--model', 'toy_convnet', '--data-dir', records['images'],
                         '--classes', '3', '--batch-size', '4', '-j', '0', '--input-size', '32',
                         '--num-epochs', '1', '--save-dir', folder_dir, '--log-interval', '6',
                         '--logging-file', os.path.join(folder_dir, 'train.log')])
    assert 'Epoch[0] Batch [5]' in _log(folder_dir)         # 24 images, batches of 4
    tiny = str(tmp_path / 'tiny-imagenet-200')
    write_tiny_imagenet(tiny, classes=3, per_class=4, val_per_class=2)
    tiny_dir = str(tmp_path / 'tiny')
    os.makedirs(tiny_dir)
    result = train_imagenet.main(['--model', 'toy_convnet', '--dataset', 'tiny-imagenet',
                                  '--data-dir', tiny, '--batch-size', '4', '-j', '0',
                                  '--num-epochs', '1', '--save-dir', tiny_dir,
                                  '--log-interval', '3',
                                  '--logging-file', os.path.join(tiny_dir, 'train.log')])
    assert result.net.output.weight.shape == (200, 16)      # Tiny ImageNet's 200 classes
    assert 'Epoch[0] Batch [2]' in _log(tiny_dir)           # 12 images at 64 px
    assert os.path.exists(os.path.join(tiny_dir, 'tiny-imagenet-toy_convnet-0.params'))


def test_eval_counts_every_image_once(records, tmp_path, eval_imagenet, toy):
    net = ToyNet(classes=3)
    net.initialize()
    net(mx.nd.zeros((1, 3, 32, 32)))
    net.output.weight.set_data(mx.nd.zeros_like(net.output.weight.data()))
    net.output.bias.set_data(mx.nd.array([0, 1, 0.5]))       # always class 1, then 2
    params = str(tmp_path / 'fixed.params')
    net.save_parameters(params)
    result = eval_imagenet.main(['--model', 'toy_convnet', '--classes', '3', '--params',
                                 params, '--batch-size', '4', '-j', '1'] +
                                _rec_args(records, train=False))
    # 6 images (2 per class) in batches of 4: the padding of the last batch is not counted
    assert result.samples == 6
    assert result.top1 == pytest.approx(1 / 3) and result.top5 == 1.0


# --------------------------------------------------------------- errors
def test_model_kwargs_parsing():
    assert parse_model_kwargs("r=2,layers=[1, 2,4,1],impl=composite,name='a,b',x=None") == {
        'r': 2, 'layers': [1, 2, 4, 1], 'impl': 'composite', 'name': 'a,b', 'x': None}
    assert parse_model_kwargs('') == {}
    with pytest.raises(ValueError, match='key=value'):
        parse_model_kwargs('r=2,oops')
    with pytest.raises(ValueError, match="'r' is set twice"):
        parse_model_kwargs('r=2,r=3')


def _expect(train_imagenet, records, tmp_path, error, match, *extra):
    with pytest.raises(error, match=match):
        train_imagenet.main(_train_args(records, str(tmp_path), 'toy_convnet',
                                        '--input-size', '32', '--num-epochs', '1') +
                            list(extra))
    assert 'Epoch[' not in _log(str(tmp_path))                # stopped before training


def test_bad_input_stops_before_training_with_clear_errors(records, tmp_path, train_imagenet,
                                                           toy):
    _expect(train_imagenet, records, tmp_path, ValueError, 'float16 needs a GPU',
            '--dtype', 'float16')
    _expect(train_imagenet, records, tmp_path, FileNotFoundError,
            '--rec-train .*missing.rec: no such file', '--rec-train',
            str(tmp_path / 'missing.rec'))
    _expect(train_imagenet, records, tmp_path, ValueError,
            r'--rec-train .*train.rec holds class label 2 but --classes 2 ', '--classes', '2')
    _expect(train_imagenet, records, tmp_path, ValueError,
            r'--input-size 8 does not fit toy_convnet: .* at least 16x16; pass --input-size 16',
            '--input-size', '8')
    _expect(train_imagenet, records, tmp_path, ValueError,
            r"toy_convnet does not take the argument\(s\) depth", '--model-kwargs', 'depth=3')
    _expect(train_imagenet, records, tmp_path, ValueError, 'is not a registered model',
            '--model', 'resnet_nonexistent')
    with pytest.raises(SystemExit):
        train_imagenet.parse_args(['--model', 'toy_convnet', '--kvstore', 'carrier_pigeon'])


def test_a_real_models_input_size_error_surfaces_before_training(records, tmp_path,
                                                                 train_imagenet):
    name = max(FAST_MODELS & set(get_model_list()),
               key=lambda n: (get_model_info(n).min_size, n))
    too_small = get_model_info(name).min_size // 2
    with pytest.raises(ValueError, match='--input-size %d does not fit' % too_small):
        train_imagenet.main(_train_args(records, str(tmp_path), name, '--input-size',
                                        str(too_small), '--num-epochs', '1'))


def test_horovod_without_horovod_is_a_clear_error(records, tmp_path, train_imagenet, toy):
    try:
        import horovod.mxnet  # noqa: F401
        pytest.skip('horovod is installed here')
    except ImportError:
        pass
    with pytest.raises(ValueError, match='--kvstore horovod needs Horovod'):
        train_imagenet.main(_train_args(records, str(tmp_path), 'toy_convnet', '--kvstore',
                                        'horovod'))


def test_a_short_last_batch_is_split_over_the_devices_it_reaches():
    batch = Batch(mx.nd.arange(8).reshape((4, 2)), mx.nd.array([0, 1, 2, 0]), valid=1)
    data, label = split_batch(batch, [mx.cpu(0), mx.cpu(1)], batch.valid)
    assert [d.shape for d in data] == [(1, 2)] and label[0].asnumpy().tolist() == [0]
    data, _ = split_batch(batch, [mx.cpu(0), mx.cpu(1)])
    assert [d.shape for d in data] == [(2, 2), (2, 2)]


def test_labels_of_large_record_files_are_checked_batch_by_batch(records, tmp_path,
                                                                 train_imagenet, toy,
                                                                 monkeypatch):
    import gluon_convattn.train.inputs as inputs
    monkeypatch.setattr(inputs, 'LABEL_SCAN_LIMIT', 0)      # as if it held millions of images
    with pytest.raises(ValueError, match=r'--rec-train .*train.rec holds class label 2 but '
                                         r'--classes 2 \(labels must be 0..1\); pass --classes 3'):
        train_imagenet.main(_train_args(records, str(tmp_path), 'toy_convnet',
                                        '--input-size', '32', '--num-epochs', '1',
                                        '--classes', '2'))
