"""Both training scripts write GluonCV 0.10's batch lines: batch i (counted from 0) after every
``--log-interval`` batches (49, 99, ... for interval 50), and nothing for a last partial
interval; validation uses MXNet's Accuracy and TopKAccuracy."""
import os
import re

import mxnet as mx
import numpy as np

from gluon_convattn.data.imagenet import Batch
from gluon_convattn.train.loop import evaluate

BATCH_LINE = re.compile(r'^Epoch\[(\d+)\] Batch \[(\d+)\]\tSpeed: [\d.]+ samples/sec\t'
                        r'accuracy=[\d.]+\tlr=[\d.]+$')


def _logged_batches(log_file):
    """{epoch: [batch numbers]} of the batch lines; every 'Epoch[' line must be one."""
    logged = {}
    for line in open(log_file).read().splitlines():
        if line.startswith('Epoch['):
            match = BATCH_LINE.match(line)
            assert match, line
            logged.setdefault(int(match.group(1)), []).append(int(match.group(2)))
    return logged


def test_train_imagenet_numbers_batches_as_gluoncv(records, tmp_path, train_imagenet, toy):
    log = str(tmp_path / 'train.log')
    train_imagenet.main(['--model', toy, '--classes', '3', '--batch-size', '2', '-j', '1',
                         '--input-size', '32', '--num-epochs', '2', '--log-interval', '5',
                         '--save-dir', str(tmp_path), '--logging-file', log, '--use-rec',
                         '--rec-train', records['rec_train'], '--rec-train-idx',
                         records['rec_train_idx'], '--rec-val', records['rec_val'],
                         '--rec-val-idx', records['rec_val_idx']])
    # 24 images in batches of 2: 12 batches, logged after the 5th and the 10th
    assert _logged_batches(log) == {0: [4, 9], 1: [4, 9]}


def test_train_cifar_numbers_batches_as_gluoncv(tmp_path, train_cifar, toy):
    log = str(tmp_path / 'train.log')
    train_cifar.main(['--model', toy, '--limit-train', '96', '--limit-val', '16',
                      '--batch-size', '8', '--num-epochs', '1', '--log-interval', '5',
                      '--save-dir', str(tmp_path), '--logging-file', log])
    assert _logged_batches(log) == {0: [4, 9]}            # 12 batches of 8


class _Source(object):
    name = 'fixed scores'

    def __init__(self, batches):
        self._batches = batches

    def batches(self, epoch=0):
        return iter(self._batches)


def _topk(scores, labels, k):
    top = np.argsort(-scores, axis=1)[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean())


def test_validation_counts_top1_and_top_min5_classes_without_padding():
    rng = np.random.RandomState(0)
    for classes in (7, 3):
        scores = rng.rand(10, classes).astype(np.float32)
        labels = rng.randint(0, classes, 10).astype(np.float32)
        # the scores go through a batch whose last 4 samples are padding
        padded = np.concatenate([np.arange(10), [0, 0, 0, 0]]).astype(np.float32)
        source = _Source([Batch(mx.nd.array(padded[:7]), mx.nd.array(labels[:7]), 7),
                          Batch(mx.nd.array(padded[7:]), mx.nd.array(
                              np.concatenate([labels[7:], [0] * 4])), 3)])

        def net(index):
            return mx.nd.array(scores[index.asnumpy().astype(int)])
        top1, top5, seen = evaluate(net, source, [mx.cpu()], classes=classes)
        assert seen == 10
        assert top1 == _topk(scores, labels.astype(int), 1)
        assert top5 == _topk(scores, labels.astype(int), min(5, classes))
    assert top5 == 1.0                                     # top-3 of 3 classes
