"""scripts/train_cifar.py and its data: the digits set, CIFAR errors, a short run and a resume."""
import importlib.util
import math
import os
import re
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

from gluon_convattn.data import DIGITS_MEAN, DIGITS_STD, Digits, get_dataset, load_cifar
from gluon_convattn.data.digits import digits_arrays

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, 'scripts', 'train_cifar.py')


@pytest.fixture(scope='module')
def script():
    spec = importlib.util.spec_from_file_location('train_cifar_script', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_digits_split_is_fixed_stratified_and_disjoint():
    train_x, train_y = digits_arrays(True)
    val_x, val_y = digits_arrays(False)
    assert train_x.shape == (1437, 32, 32, 3) and val_x.shape == (360, 32, 32, 3)
    assert train_x.dtype == np.uint8 and train_y.dtype == np.int32
    assert (train_x[..., 0] == train_x[..., 2]).all()          # grey repeated over RGB
    assert np.bincount(val_y).min() >= 35 and np.bincount(val_y).max() <= 37
    train_rows = {x.tobytes() for x in train_x}
    assert sum(x.tobytes() in train_rows for x in val_x) <= 2   # only pixel-identical twins
    from sklearn.datasets import load_digits
    assert len(train_y) + len(val_y) == len(load_digits().target)


def test_digits_images_are_upsampled_scikit_learn_digits():
    from sklearn.datasets import load_digits
    images, labels = digits_arrays(False)
    originals = load_digits()
    # block averages of the upsampled image approximate the 8x8 original (0..16 -> 0..255)
    pooled = (images[..., 0].reshape(-1, 8, 4, 8, 4).mean(axis=(2, 4)) * 16.0 / 255.0
              ).reshape(len(images), 64)
    flat = originals.images.reshape(-1, 64)
    squared = ((pooled ** 2).sum(1)[:, None] + (flat ** 2).sum(1)[None]
               - 2 * pooled @ flat.T)
    nearest = squared.argmin(axis=1)
    assert (originals.target[nearest] == labels).all()
    assert np.sqrt(np.maximum(squared.min(axis=1), 0) / 64).max() < 2.5   # of 16 levels


def test_digits_normalisation_constants_describe_the_training_split():
    images = digits_arrays(True)[0].astype(np.float64) / 255
    np.testing.assert_allclose(images.mean(axis=(0, 1, 2)), DIGITS_MEAN, atol=1e-3)
    np.testing.assert_allclose(images.std(axis=(0, 1, 2)), DIGITS_STD, atol=1e-3)


def test_digits_dataset_works_with_gluon_transforms(script):
    dataset = Digits(train=False).transform_first(script.image_transform('digits', True))
    image, label = dataset[5]
    assert image.shape == (3, 32, 32) and image.dtype == np.float32
    assert label == digits_arrays(False)[1][5]
    raw, _ = Digits(train=True)[0]
    assert isinstance(raw, mx.nd.NDArray) and raw.shape == (32, 32, 3) and raw.dtype == np.uint8


def test_missing_cifar_without_download_names_the_folder_files_and_digits(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_cifar('cifar10', root=str(tmp_path), download=False)
    message = str(err.value)
    for part in (str(tmp_path), 'data_batch_1.bin', 'test_batch.bin', '--dataset digits',
                 'cifar-10-binary.tar.gz'):
        assert part in message
    with pytest.raises(FileNotFoundError, match=r'(?s)--dataset digits.*train\.bin test\.bin'):
        get_dataset('cifar100', root=str(tmp_path), download=False)


def test_failed_cifar_download_becomes_the_clear_error(tmp_path, monkeypatch):
    import mxnet.gluon.data.vision.datasets as gluon_datasets

    def offline(*args, **kwargs):
        raise ConnectionError('Name or service not known')   # an OSError, like requests'
    monkeypatch.setattr(gluon_datasets, 'download', offline)
    with pytest.raises(FileNotFoundError) as err:
        load_cifar('cifar100', root=str(tmp_path))
    assert 'the download failed (Name or service not known)' in str(err.value)
    assert '--dataset digits' in str(err.value) and str(tmp_path) in str(err.value)


def test_default_cifar_folder_is_gluons(script):
    from gluon_convattn.data import cifar_root
    assert cifar_root('cifar10') == os.path.join(mx.base.data_dir(), 'datasets', 'cifar10')


def _short(tmp_path, *extra):
    return ['--num-epochs', '2', '--limit-train', '48', '--limit-val', '24', '--batch-size', '16',
            '--save-dir', str(tmp_path / 'run'), '--log-interval', '2', '--save-period', '1',
            '--warmup-epochs', '0'] + list(extra)


def test_short_run_writes_params_log_and_plot_then_resumes(script, tmp_path):
    summary = script.main(_short(tmp_path))
    run_dir = tmp_path / 'run'
    prefix = str(run_dir / 'digits-cifar_resnet20_v2_atac')
    for suffix in ('-0.params', '-0.states', '-0.json', '-1.params', '-1.states', '-1.json',
                   '.log', '_history.png'):
        assert os.path.isfile(prefix + suffix), suffix
    assert [p for p in os.listdir(str(run_dir)) if p.endswith('-best.params')]
    assert summary['params'] == prefix + '-1.params' and 0 <= summary['val_acc'] <= 1
    with open(prefix + '.log') as f:
        log = f.read()
    assert re.search(r'Epoch\[1\] Batch \[1\]\tSpeed: [\d.]+ samples/sec\taccuracy=[\d.]+\t'
                     r'lr=[\d.]+', log)
    assert re.search(r'\[Epoch 1\] train=[\d.]+ val=[\d.]+ time: [\d.]+', log)
    assert 'Final validation accuracy: %.4f' % summary['val_acc'] in log
    assert 'Parameters: %s-1.params' % prefix in log

    # GluonCV's --resume-from PARAMS: parameters and trainer states of epoch 1, then epoch 2
    summary = script.main(_short(tmp_path, '--num-epochs', '3', '--log-interval', '1',
                                 '--resume-from', prefix + '-1.params'))
    with open(prefix + '.log') as f:
        resumed = f.read()[len(log):]
    assert 'resumed from %s-1.params: epoch 2, update 6' % prefix in resumed
    assert '[Epoch 2]' in resumed and '[Epoch 1]' not in resumed
    assert summary['params'] == prefix + '-2.params'
    # the 3-epoch cosine schedule (9 updates, GluonCV's T / (N - 1)) continues after update 6
    logged = float(re.search(r'Epoch\[2\] Batch \[0\].*lr=([\d.]+)', resumed).group(1))
    assert logged == pytest.approx(0.1 * (1 + math.cos(math.pi * 7 / 8)) / 2, abs=1e-6)


def test_resume_from_a_params_file_or_a_folder(script, tmp_path):
    script.main(_short(tmp_path, '--num-epochs', '1'))
    run_dir = tmp_path / 'run'
    saved = str(run_dir / 'digits-cifar_resnet20_v2_atac-0.params')
    for where in (saved, str(run_dir)):
        point = script.start(_short(tmp_path, '--num-epochs', '2', '--resume-from', where)).point
        assert point.epoch == 1 and re.search(r'-0(-best)?\.params$', point.params)
        assert point.states.endswith('.states')
    # a bare file (no .json, no .states beside it): epoch from the name, momentum restarts
    bare = str(tmp_path / 'copy-4.params')
    with open(saved, 'rb') as src, open(bare, 'wb') as dst:
        dst.write(src.read())
    point = script.start(_short(tmp_path, '--num-epochs', '6', '--resume-from', bare)).point
    assert (point.epoch, point.params, point.states) == (5, bare, None)
    with pytest.raises(ValueError, match='nothing is left to do with --num-epochs 1'):
        script.start(_short(tmp_path, '--num-epochs', '1', '--resume-from', str(run_dir)))


def test_family_options_reach_the_constructor(script, tmp_path):
    run = script.start(_short(tmp_path, '--act-type', 'prelu', '--act-layers', '2',
                              '--no-useReLU', '--model-kwargs', 'act_order="pre"'))
    assert run.kwargs == {'act_type': 'prelu', 'act_layers': 2, 'useReLU': False,
                          'act_order': 'pre'}
    assert type(run.net.features[2][0].msAA1).__name__ == 'PReLU'


@pytest.mark.parametrize('args,error,match', [
    (['--dtype', 'float16'], ValueError, '--dtype float16 needs a GPU'),
    (['--dataset', 'cifar10', '--no-download', '--data-dir', 'MISSING'], FileNotFoundError,
     r'(?s)CIFAR-10 is not available.*--dataset digits.*MISSING'),
    (['--model', 'cifar_resnet20_v2_atak'], ValueError, 'closest first'),
    (['--model-kwargs', 'bogus=1'], ValueError, 'does not take the argument'),
    (['--r', '3'], ValueError, 'ChaATAC: --r 3 must divide'),
    (['--model-kwargs', 'r=3'], ValueError, r'r=3 must divide .* \(from --model-kwargs\)'),
    (['--act-layers', '7'], ValueError, r'^--act-layers must be an int in 0..4 .*, got 7'),
    (['--r', '2', '--model-kwargs', 'r=4'], ValueError, '--r and --model-kwargs both set r'),
    (['--resume-from', 'nothing.params'], FileNotFoundError, 'no such file'),
    (['--num-gpus', '99'], ValueError, '--num-gpus 99 asks for more GPUs'),
])
def test_bad_arguments_stop_before_training(script, tmp_path, args, error, match):
    args = [str(tmp_path / a) if a in ('MISSING', 'nothing.params') else a for a in args]
    with pytest.raises(error, match=match):
        script.start(_short(tmp_path, *args))


def test_command_line_reports_float16_on_cpu_without_a_traceback(tmp_path):
    result = subprocess.run([sys.executable, SCRIPT, '--dtype', 'float16',
                             '--save-dir', str(tmp_path)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().startswith('train_cifar.py: error: --dtype float16 needs a GPU')
    assert 'Traceback' not in result.stderr
