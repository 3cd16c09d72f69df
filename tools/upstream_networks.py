"""The upstream PyTorch networks that ``scripts/benchmark.py --against-upstream DIR`` runs.

Each network is built from a checkout of its upstream repository in ``DIR/<folder>`` by the same
builders the golden fixtures use (``tools/make_golden_<family>.py``): SAN with its CUDA-only
operators replaced by its own unfold formulas, ACmix and AT-kernel with stand-ins only for the
helper packages they import (timm, torchvision, mmcv, einops) where those are missing. Nothing
from upstream is copied into the repository.

Importing this module puts ``tools/`` (and, through ``golden_tool``, the repository root) on
``sys.path``. Loading an upstream checkout imports its modules, so give each network its own
process.
"""
import os
import sys
from collections import namedtuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import golden_tool  # noqa: E402
import make_golden_acmix as acmix_tool  # noqa: E402
import make_golden_atkernel as atkernel_tool  # noqa: E402
import make_golden_kaconv as kaconv_tool  # noqa: E402
import make_golden_san as san_tool  # noqa: E402

__all__ = ['Checkout', 'UpstreamNetwork', 'CHECKOUTS', 'NETWORKS', 'check_checkouts']

Checkout = namedtuple('Checkout', ['folder', 'repo', 'files'])
Checkout.__doc__ = """An upstream repository: its folder under DIR, ``owner/name`` and the files
the builders read."""

UpstreamNetwork = namedtuple('UpstreamNetwork', ['name', 'family', 'checkout', 'size', 'build'])
UpstreamNetwork.__doc__ = """One upstream network beside ``get_model(name)``.

name : str
    Our model name (``get_model``) and the table's row.
family : str
    SAN, ACmix, KAConv or AT-kernel.
checkout : Checkout
    Where it comes from.
size : int
    The image side the benchmark runs it at.
build : callable
    ``build(path)`` returns the upstream ``torch.nn.Module`` built from the checkout at ``path``.
"""

CHECKOUTS = {
    'SAN': Checkout('SAN', san_tool.REPO, san_tool.UPSTREAM_FILES),
    'ACmix': Checkout('ACmix', acmix_tool.REPO, acmix_tool.UPSTREAM_FILES),
    'KAConv': Checkout('KAConv', kaconv_tool.REPO, kaconv_tool.UPSTREAM_FILES),
    'AT-kernel': Checkout('AT-kernel', atkernel_tool.REPO, atkernel_tool.UPSTREAM_FILES),
}


def _san(name):
    def build(path):
        san, _ = san_tool.load_upstream(path)
        return san_tool.build(san, name)
    return build


def _acmix(name):
    def build(path):
        resnet, swin = acmix_tool.load_upstream(path)
        return acmix_tool.build(resnet, swin, name, {})
    return build


def _kaconv(name):
    def build(path):
        return kaconv_tool.build(kaconv_tool.load_upstream(path), name)
    return build


def _atkernel(name):
    """The network of the golden fixture ``name`` (the Tiny config with its AT blocks on)."""
    def build(path):
        _, _, config, overrides, _, _ = atkernel_tool.FIXTURES[name]
        module = atkernel_tool.load_backbone_module(path)
        return atkernel_tool.build_classifier(
            module, *atkernel_tool.model_config(path, config, overrides))
    return build


NETWORKS = {net.name: net for net in [
    UpstreamNetwork('san10_pairwise', 'SAN', CHECKOUTS['SAN'], 224, _san('san10_pairwise')),
    UpstreamNetwork('san10_patchwise', 'SAN', CHECKOUTS['SAN'], 224, _san('san10_patchwise')),
    UpstreamNetwork('acmix_resnet26', 'ACmix', CHECKOUTS['ACmix'], 224, _acmix('acmix_resnet26')),
    UpstreamNetwork('acmix_swin_tiny', 'ACmix', CHECKOUTS['ACmix'], 224,
                    _acmix('acmix_swin_tiny')),
    UpstreamNetwork('karesnet50_l', 'KAConv', CHECKOUTS['KAConv'], 224, _kaconv('karesnet50_l')),
    UpstreamNetwork('karesnet50_h', 'KAConv', CHECKOUTS['KAConv'], 224, _kaconv('karesnet50_h')),
    UpstreamNetwork('atkernel_resnet50', 'AT-kernel', CHECKOUTS['AT-kernel'], 224,
                    _atkernel('atkernel_resnet50')),
    UpstreamNetwork('atkernel_resnet26_tiny', 'AT-kernel', CHECKOUTS['AT-kernel'], 64,
                    _atkernel('atkernel_resnet26_tiny')),
]}


def check_checkouts(root, names):
    """Raise FileNotFoundError unless ``root`` holds the checkouts the networks ``names`` need.

    The message names each missing or incomplete repository and the ``git clone`` that fetches
    it.
    """
    if not os.path.isdir(root):
        raise FileNotFoundError('--against-upstream %s: no such folder; it holds checkouts of '
                                'the upstream repositories (%s), one folder each' % (
                                    root, ', '.join('%s as %s' % (c.repo, c.folder)
                                                    for c in CHECKOUTS.values())))
    problems = []
    needed = {NETWORKS[n].checkout.folder: NETWORKS[n].checkout for n in names}
    for _, checkout in sorted(needed.items()):
        try:
            golden_tool.check_checkout(os.path.join(root, checkout.folder), checkout.repo,
                                       checkout.files)
        except FileNotFoundError as err:
            problems.append(str(err))
    if problems:
        raise FileNotFoundError('\n'.join(problems))
