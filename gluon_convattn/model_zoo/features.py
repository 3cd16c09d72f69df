"""The ``features_only`` convention of the model zoo (timm's, for detection and segmentation).

A network built with ``features_only=True, out_indices=(0, 1, 2, 3)`` returns, instead of
logits, the list of its stage outputs picked by ``out_indices`` (NCHW), and describes them in
``feature_info``: one ``{'num_chs': C, 'reduction': R, 'module': name}`` per returned stage.
"""

__all__ = ['check_out_indices', 'stage_feature_info']


def check_out_indices(out_indices, stages):
    """Return ``out_indices`` as a sorted tuple of distinct stage indices in ``0..stages-1``,
    or raise ValueError naming the valid range."""
    try:
        indices = tuple(sorted(set(int(i) for i in out_indices)))
    except (TypeError, ValueError):
        raise ValueError('out_indices must be a sequence of stage indices, got %r'
                         % (out_indices,)) from None
    if not indices or indices[0] < 0 or indices[-1] >= stages or \
            len(indices) != len(tuple(out_indices)):
        raise ValueError('out_indices must be distinct stage indices in 0..%d, got %r'
                         % (stages - 1, tuple(out_indices)))
    return indices


def stage_feature_info(channels, reductions, modules, out_indices):
    """``feature_info`` for the stages in ``out_indices``: channels, reduction and module name
    of each."""
    return [{'num_chs': channels[i], 'reduction': reductions[i], 'module': modules[i]}
            for i in out_indices]
