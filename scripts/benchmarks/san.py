"""Benchmark cases: SAN's SAM layers at SAN10's stage shapes, and whole SAN10 networks.

Every case runs once per operator implementation (``impl``): ``composite`` (MXNet operators,
any device) and ``kernel`` (the CUDA kernels; GPU only).
"""
import functools

from gluon_convattn.nn import SAM
from .measure import Case, hybridized_step, network_case, require_gpu

IMPLS = ('composite', 'kernel')
SA_NAMES = {0: 'pairwise', 1: 'patchwise'}

# (stage, batch, planes, size, kernel): SAN10 at 224 px runs stage 1 at 56x56 (256 channels)
# and stage 4 at 7x7 (2048 channels); the SAM maps planes -> planes // 4 with planes // 16
# relation channels.
LAYERS = [(1, 8, 256, 56, 7), (4, 8, 2048, 7, 7)]
NETWORKS = [('san10_pairwise', 2, 224), ('san10_patchwise', 2, 224)]


def _sam_setup(sa_type, batch, planes, size, kernel, impl, ctx):
    if impl == 'kernel':
        require_gpu(ctx, 'impl=kernel')
    layer = SAM(sa_type, planes, planes // 16, planes // 4, share_planes=8, kernel_size=kernel,
                impl=impl)
    return hybridized_step(layer, ctx, (batch, planes, size, size))


def _cases():
    cases = []
    for impl in IMPLS:
        for stage, batch, planes, size, kernel in LAYERS:
            for sa_type, sa_name in SA_NAMES.items():
                cases.append(Case(
                    'san', 'sam_%s_stage%d' % (sa_name, stage), impl,
                    'N%d C%d->%d %dx%d k%d' % (batch, planes, planes // 4, size, size, kernel),
                    functools.partial(_sam_setup, sa_type, batch, planes, size, kernel, impl)))
        for name, batch, size in NETWORKS:
            cases.append(network_case('san', name, batch, size, impl, {'impl': impl},
                                      scale=0.1))
    return cases


CASES = _cases()
