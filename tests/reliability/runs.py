"""Helpers of the reliability tests: a tiny training command line, file checksums."""
import hashlib
import os


def train_args(records, save_dir, *extra):
    """``train_imagenet.py`` flags for the toy model on the packed record files: one batch of 2
    per epoch, a checkpoint after every epoch, the log in ``save_dir/train.log``."""
    return ['--model', 'toy_convnet', '--classes', '3', '--batch-size', '2', '-j', '1',
            '--input-size', '32', '--max-batches', '1', '--save-frequency', '1',
            '--save-dir', save_dir, '--log-interval', '1',
            '--logging-file', os.path.join(save_dir, 'train.log'),
            '--use-rec', '--rec-train', records['rec_train'],
            '--rec-train-idx', records['rec_train_idx'], '--rec-val', records['rec_val'],
            '--rec-val-idx', records['rec_val_idx']] + list(extra)


def checksums(folder):
    """File name -> SHA-256 of every file in ``folder`` (not recursive)."""
    out = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            with open(path, 'rb') as f:
                out[name] = hashlib.sha256(f.read()).hexdigest()
    return out


def checkpoint_files(sums):
    """The entries of :func:`checksums` that belong to checkpoints."""
    return {k: v for k, v in sums.items() if k.endswith(('.params', '.states', '.json'))}


def log_text(save_dir, name='train.log'):
    path = os.path.join(save_dir, name)
    return open(path).read() if os.path.exists(path) else ''


def train_toy(train_imagenet, records, save_dir, epochs, *extra):
    """Train the toy model for ``epochs`` epochs into ``save_dir``; the script's result."""
    return train_imagenet.main(train_args(records, save_dir, '--num-epochs', str(epochs),
                                          *extra))


def checkpoint_path(save_dir, epoch, suffix='.params'):
    """A file of the toy run's checkpoint after ``epoch``."""
    return os.path.join(save_dir, 'imagenet-toy_convnet-%d%s' % (epoch, suffix))
