"""The training log: GluonCV writes every line to ``--logging-file`` and to the console."""
import logging
import sys

__all__ = ['LOGGER_NAME', 'setup_logger']

LOGGER_NAME = 'gluon_convattn.train'


def setup_logger(logging_file=None, rank=0):
    """The logger the training modules write to, reset to a console handler and, when
    ``logging_file`` is given, a file handler (``<file>.worker<rank>`` for workers other than
    0, so that workers sharing a folder do not interleave)."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(logging.StreamHandler(sys.stderr))
    if logging_file:
        if rank:
            logging_file = '%s.worker%d' % (logging_file, rank)
        logger.addHandler(logging.FileHandler(logging_file))
    return logger
