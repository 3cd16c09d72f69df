"""train_cifar.py --input-size: the digits (and CIFAR) images resized for the families that need
larger inputs, and the too-small-size error of both scripts naming the flag."""
import numpy as np
import pytest

from gluon_convattn.data import Digits
from gluon_convattn.model_zoo import get_model_info, get_model_list


@pytest.mark.parametrize('train', [True, False])
def test_the_transforms_resize_the_images(train_cifar, train):
    image, _ = Digits(train=False).transform_first(
        train_cifar.image_transform('digits', train, 128))[3]
    assert image.shape == (3, 128, 128) and image.dtype == np.float32


def test_every_too_small_model_names_the_flag_before_training(train_cifar, tmp_path):
    too_small = [n for n in get_model_list() if get_model_info(n).min_size > 32]
    assert {'SAN', 'ACmix'} <= {get_model_info(n).family for n in too_small}
    for name in too_small:
        minimum = get_model_info(name).min_size
        with pytest.raises(ValueError, match=r'--input-size 32 does not fit %s: .* at least '
                                             r'%dx%d; pass --input-size %d \(the 32x32 '
                                             r'digits images are resized to it\)'
                                             % (name, minimum, minimum, minimum)):
            train_cifar.start(['--model', name, '--save-dir', str(tmp_path)])


def test_san_trains_on_the_digits_at_128(train_cifar, tmp_path):
    summary = train_cifar.main(['--model', 'san10_pairwise', '--dataset', 'digits',
                                '--input-size', '128', '--limit-train', '8', '--limit-val', '4',
                                '--batch-size', '4', '--num-epochs', '1', '--warmup-epochs', '0',
                                '--save-dir', str(tmp_path)])
    assert summary['params'].endswith('digits-san10_pairwise-0.params')
    assert 0 <= summary['val_acc'] <= 1
