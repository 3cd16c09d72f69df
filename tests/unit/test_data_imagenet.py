"""ImageNet input pipelines: RecordIO packing with MXNet's im2rec, GluonCV preprocessing, the
image-folder and Tiny ImageNet readers, sharding, and errors for bad data."""
import math
import os

import cv2
import mxnet as mx
import numpy as np
import pytest

from gluon_convattn.data.imagenet import (RGB_MEAN, RGB_STD, Augmentation, LoaderSource,
                                          imagenet_transform,
                                          RecordSource, ShardSampler, image_folder,
                                          resize_size)
from gluon_convattn.data.recordio import (check_labels, check_record_files, im2rec_path,
                                          read_labels)
from gluon_convattn.data.tiny_imagenet import TinyImageNet
from support.toy import write_record_files, write_tiny_imagenet

CLASSES, PER_CLASS, VAL_PER_CLASS = 3, 8, 2


@pytest.fixture(scope='module')
def records(tmp_path_factory):
    return write_record_files(str(tmp_path_factory.mktemp('rec')), CLASSES, PER_CLASS,
                              VAL_PER_CLASS)


def _train(records, batch_size=4, size=32, **kwargs):
    return RecordSource(records['rec_train'], records['rec_train_idx'], batch_size, True,
                        Augmentation(size), num_workers=1, **kwargs)


def _val(records, batch_size=4, size=32):
    return RecordSource(records['rec_val'], records['rec_val_idx'], batch_size, False,
                        Augmentation(size), num_workers=1, flags=('--rec-val', '--rec-val-idx'))


def test_im2rec_ships_with_mxnet_and_packs_folders_with_sorted_class_labels(records):
    assert os.path.isfile(im2rec_path())
    labels = read_labels(records['rec_train'], records['rec_train_idx'])
    assert np.bincount(labels.astype(int)).tolist() == [PER_CLASS] * CLASSES
    # the header-only reader agrees with a full read of every record
    rec = mx.recordio.MXIndexedRecordIO(records['rec_train_idx'], records['rec_train'], 'r')
    full = [mx.recordio.unpack(rec.read_idx(k))[0].label for k in rec.keys]
    np.testing.assert_array_equal(labels, full)
    # im2rec numbers the class folders in sorted order, as ImageFolderDataset does
    with open(records['rec_train'][:-4] + '.lst') as f:
        for line in f:
            _, label, path = line.rstrip('\n').split('\t')
            assert path.startswith('class%d/' % int(float(label)))


def test_training_batches_are_augmented_normalised_crops(records):
    source = _train(records)
    batches = list(source.batches(0))
    assert len(batches) == math.ceil(CLASSES * PER_CLASS / 4)
    for batch in batches:
        assert batch.data.shape == (4, 3, 32, 32) and batch.data.dtype == np.float32
        assert set(batch.label.asnumpy().tolist()) <= {0.0, 1.0, 2.0}
    data = np.concatenate([b.data.asnumpy() for b in batches])
    assert abs(data.mean()) < 1.5 and 0.2 < data.std() < 3      # mean/std normalised


def test_each_epoch_has_its_own_reproducible_order_and_augmentation(records):
    source = _train(records, seed=7)
    first = np.concatenate([b.data.asnumpy() for b in source.batches(1)])
    again = np.concatenate([b.data.asnumpy() for b in _train(records, seed=7).batches(1)])
    other = np.concatenate([b.data.asnumpy() for b in source.batches(2)])
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).max() > 0.1


def test_validation_is_gluoncv_resize_and_centre_crop(records):
    batches = list(_val(records).batches())
    assert [b.valid for b in batches] == [4, 2]          # 6 images; the pad is not counted
    rec = mx.recordio.MXIndexedRecordIO(records['rec_val_idx'], records['rec_val'], 'r')
    header, payload = mx.recordio.unpack(rec.read_idx(rec.keys[0]))
    image = cv2.imdecode(np.frombuffer(payload, np.uint8), 1)[:, :, ::-1]
    height, width = image.shape[:2]
    short = resize_size(32, 0.875)
    assert short == 37
    scale = short / min(height, width)
    new_h, new_w = int(height * scale + 0.5), int(width * scale + 0.5)
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, left = (new_h - 32) // 2, (new_w - 32) // 2
    crop = resized[top:top + 32, left:left + 32].astype(np.float32)
    expected = ((crop - np.array(RGB_MEAN)) / np.array(RGB_STD)).transpose(2, 0, 1)
    np.testing.assert_allclose(batches[0].data[0].asnumpy(), expected, atol=1e-4)
    assert batches[0].label[0].asscalar() == header.label


def test_record_shards_split_the_file_between_workers(records):
    def images(num_parts=1, part_index=0):
        source = RecordSource(records['rec_train'], records['rec_train_idx'], 1, False,
                              Augmentation(32), num_workers=1, num_parts=num_parts,
                              part_index=part_index)
        return source.num_samples, [round(float(b.data.sum().asscalar()), 3)
                                    for b in source.batches()]
    total, everything = images()
    (n0, part0), (n1, part1) = images(2, 0), images(2, 1)
    assert (n0, n1) == (12, 12) and len(part0) + len(part1) == total == 24
    assert sorted(part0 + part1) == sorted(everything) and not set(part0) & set(part1)


def test_shard_sampler_parts_are_disjoint_and_reshuffled_per_epoch():
    parts = [ShardSampler(10, True, num_parts=2, part_index=i, seed=3) for i in range(2)]
    a, b = list(parts[0]), list(parts[1])
    assert len(a) == len(b) == 5 and not set(a) & set(b)
    parts[0].epoch = 1
    assert list(parts[0]) != a
    parts[0].epoch = 0
    assert list(parts[0]) == a
    assert list(ShardSampler(4, False)) == [0, 1, 2, 3]


def test_image_folder_source_gives_the_same_kind_of_batches(records):
    aug = Augmentation(32)
    train = LoaderSource(image_folder(records['images'], 'train'), 4, True,
                         imagenet_transform(aug, True), num_workers=0)
    val = LoaderSource(image_folder(records['images'], 'val'), 4, False,
                       imagenet_transform(aug, False), num_workers=0)
    batches = list(train.batches(0))
    assert len(batches) == CLASSES * PER_CLASS // 4
    assert batches[0].data.shape == (4, 3, 32, 32) and batches[0].label.dtype == np.float32
    first = [b.data.asnumpy() for b in val.batches()]
    assert [d.shape[0] for d in first] == [4, 2]
    np.testing.assert_array_equal(first[0], next(iter(val.batches())).data.asnumpy())


def test_image_folder_errors_name_the_flag(tmp_path):
    with pytest.raises(FileNotFoundError, match='root .*train'):
        image_folder(str(tmp_path), 'train')
    with pytest.raises(FileNotFoundError, match='--data-dir .*train'):
        image_folder(str(tmp_path), 'train', '--data-dir')
    (tmp_path / 'train').mkdir()
    with pytest.raises(ValueError, match='holds no images'):
        image_folder(str(tmp_path), 'train')


def test_tiny_imagenet_layout_is_read_directly(tmp_path):
    wnids = write_tiny_imagenet(str(tmp_path), classes=3, per_class=4, val_per_class=2)
    train, val = TinyImageNet(str(tmp_path), True), TinyImageNet(str(tmp_path), False)
    assert train.synsets == val.synsets == wnids == sorted(wnids)
    assert len(train) == 12 and len(val) == 6
    assert [label for _, label in train.items] == [0] * 4 + [1] * 4 + [2] * 4
    image, label = val[0]
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    # the annotation file, not the file name, gives the label
    with open(tmp_path / 'val' / 'val_annotations.txt') as f:
        first = sorted(line.split('\t')[:2] for line in f)[0]
    assert val.items[0] == (str(tmp_path / 'val' / 'images' / first[0]), wnids.index(first[1]))


def test_tiny_imagenet_errors(tmp_path):
    write_tiny_imagenet(str(tmp_path), classes=2, per_class=1, val_per_class=1)
    notes = tmp_path / 'val' / 'val_annotations.txt'
    notes.write_text(notes.read_text() + 'val_9.JPEG\tn99999999\t0\t0\t1\t1\n')
    with pytest.raises(ValueError, match='n99999999 is not in wnids.txt'):
        TinyImageNet(str(tmp_path), train=False)
    os.remove(tmp_path / 'wnids.txt')
    with pytest.raises(FileNotFoundError, match='wnids.txt'):
        TinyImageNet(str(tmp_path), train=True)


def test_missing_or_foreign_record_files_name_the_file_and_flag(records, tmp_path):
    missing = str(tmp_path / 'nope.idx')
    with pytest.raises(FileNotFoundError, match='--rec-val-idx .*nope.idx: no such file'):
        check_record_files(records['rec_val'], missing, '--rec-val', '--rec-val-idx')
    with pytest.raises(FileNotFoundError, match='rec .*nope.rec: no such file'):
        RecordSource(str(tmp_path / 'nope.rec'), records['rec_train_idx'], 2, True,
                     Augmentation(32))
    fake = tmp_path / 'fake.rec'
    fake.write_bytes(b'not a record file')
    with pytest.raises(ValueError, match='not an MXNet RecordIO file'):
        check_record_files(str(fake), records['rec_val_idx'], '--rec-val', '--rec-val-idx')
    # a truncated copy would crash MXNet's reader; it is refused first
    with open(records['rec_val'], 'rb') as f:
        data = f.read()
    cut = tmp_path / 'cut.rec'
    cut.write_bytes(data[:len(data) - 100])
    with pytest.raises(ValueError, match='truncated'):
        check_record_files(str(cut), records['rec_val_idx'], '--rec-val', '--rec-val-idx')


def test_labels_beyond_classes_are_reported_with_the_largest_label():
    check_labels([0, 1, 2], 3, 'x.rec')
    with pytest.raises(ValueError, match=r'x.rec holds class label 4 but classes=3 '
                                         r'\(labels must be 0..2\); pass classes=5 '):
        check_labels([0, 4, 2, 1], 3, 'x.rec')
    with pytest.raises(ValueError, match='integers'):
        check_labels([0, 1.5], 3, 'x.rec')
    with pytest.raises(ValueError, match='-1'):
        check_labels([-1, 0], 3, 'x.rec')
