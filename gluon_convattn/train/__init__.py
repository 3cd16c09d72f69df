"""Training pieces shared by ``scripts/train_imagenet.py`` and ``scripts/train_cifar.py``.

- :mod:`.context`: devices, ``--dtype`` checks, kvstore / Horovod distribution
- :mod:`.schedule`: GluonCV's warm-up + step/cosine/poly schedule, resuming its position
- :mod:`.optim`: optimizer arguments (``multi_precision``), ``--no-wd``
- :mod:`.network`: building a registered model with checked arguments, dry forward pass
- :mod:`.labels`: label smoothing, mixup, distillation loss
- :mod:`.checkpoint`, :mod:`.resume`: atomic, checksummed checkpoints and resuming from them
- :mod:`.states`: trainer states read without running code, into the present flags' optimizer
- :mod:`.validate`, :mod:`.rundir`: the scripts' flag checks; the ``--save-dir`` of a run
- :mod:`.finetune`: ``--use-pretrained`` (model or backbone matching, classifier reset)
- :mod:`.loop`: the epoch loop, validation top-1/top-5, GluonCV's log lines
- :mod:`.cli`: the flags every script shares (model constructor flags included) and the
  one mapping of library argument names to flags in error messages
- :mod:`.inputs`, :mod:`.logs`: data sources from flags, the log
- :mod:`.launch`: MXNet's ``tools/launch.py`` for ``dist_*`` jobs, on current Python
"""
from .checkpoint import Checkpoint, atomic_write, find_checkpoints, latest_checkpoint
from .checkpoint import read_checkpoint, save_checkpoint
from .context import Distribution, check_dtype, make_context, setup_distribution
from .loop import Recipe, Saver, evaluate, fit, train_epoch
from .network import create_network, dry_forward, prepare_network
from .resume import ResumePoint, find_resume_point, restore
from .schedule import build_lr_scheduler, set_update_count
