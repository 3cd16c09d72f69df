"""What the ``make_golden_<family>.py`` tools share: their command line, upstream provenance,
seeding and running an upstream PyTorch network, and writing a fixture.

The tools run as scripts (``python tools/make_golden_san.py --upstream DIR``), so Python puts
``tools/`` on ``sys.path`` and they import this module by name. Importing it puts the
repository root first on ``sys.path``, so the tools then import ``gluon_convattn`` from this
checkout rather than from an installed copy, and ``tests/``, for the fixture helpers
(``support.golden``). Nothing here comes from upstream.
"""
import argparse
import os
import subprocess
import sys
import types

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, 'tests'))    # support.golden: seeding and fixtures

from support.golden import save_fixture, seeded_state_dict  # noqa: E402

FIXTURE_DIR = os.path.join(REPO, 'tests', 'fidelity', 'fixtures')


def parse_args(doc, repo, files, fixtures, counts=None, argv=None):
    """Parse a tool's command line and check that ``--upstream`` is a checkout of ``repo``.

    Parameters
    ----------
    doc : str
        The tool's docstring (its ``--help`` text).
    repo : str
        The upstream repository, ``owner/name``.
    files : list of str
        Paths a checkout of ``repo`` has; a missing one is a usage error naming it.
    fixtures : iterable of str
        Fixture names, the choices of the repeatable ``--only``.
    counts : str, optional
        Help text of a ``--counts`` flag (print upstream's parameter counts); no flag if None.
    argv : list of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    argparse.Namespace
        ``upstream``, ``out``, ``only`` (None: every fixture) and, with ``counts``, ``counts``.
    """
    parser = argparse.ArgumentParser(description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--upstream', required=True, help='path to a %s checkout' % repo)
    parser.add_argument('--out', default=FIXTURE_DIR, help='fixture folder')
    parser.add_argument('--only', action='append', choices=sorted(fixtures),
                        help='write only this fixture (repeatable)')
    if counts is not None:
        parser.add_argument('--counts', action='store_true', help=counts)
    args = parser.parse_args(argv)
    try:
        check_checkout(args.upstream, repo, files)
    except FileNotFoundError as err:
        parser.error(str(err))
    return args


def check_checkout(path, repo, files):
    """Raise FileNotFoundError unless ``path`` holds ``files``, as a checkout of ``repo`` does.

    The message names the repository, what is missing and how to fetch it.
    """
    missing = [f for f in files if not os.path.isfile(os.path.join(path, f))]
    if missing:
        raise FileNotFoundError(
            '%s is not a checkout of %s (%s); fetch it with '
            '`git clone https://github.com/%s %s`' % (
                path, repo, 'no such folder' if not os.path.isdir(path) else
                'no ' + ', '.join(missing), repo, path))


def upstream_commit(upstream):
    """The checkout's git commit, or ``'unknown'`` when it is not a git work tree."""
    try:
        return subprocess.check_output(['git', '-C', upstream, 'rev-parse', 'HEAD'], text=True,
                                       stderr=subprocess.DEVNULL).strip()
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def provenance(repo, upstream, entry, **details):
    """The fixture's ``upstream`` record: repository, commit, entry point, then ``details``."""
    return dict(repo=repo, commit=upstream_commit(upstream), entry=entry, **details)


def trainable_count(net):
    """Trainable parameters of a PyTorch module."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def print_counts(named_nets):
    """Print ``name count`` for every ``(name, torch module)`` pair (built one at a time)."""
    for name, net in named_nets:
        print('%s %d' % (name, trainable_count(net)))


def load_seeded_weights(net, seed, buffers=()):
    """Load ``support.golden.seeded_state_dict`` weights over ``net``'s own state-dict manifest.

    Keys ending in one of ``buffers`` are no weights (the network computes them): they are left
    out of the manifest and keep their values. Returns the manifest, ``[[key, shape], ...]``.
    """
    import torch
    buffers = tuple(buffers)
    state = net.state_dict()
    manifest = [[k, list(v.shape)] for k, v in state.items() if not k.endswith(buffers)]
    weights = {k: torch.from_numpy(v) for k, v in seeded_state_dict(manifest, seed).items()}
    missing, unexpected = net.load_state_dict(weights, strict=False)
    if unexpected or sorted(missing) != sorted(k for k in state if k.endswith(buffers)):
        raise RuntimeError('seeded weights do not match the state dict (missing %s, '
                           'unexpected %s)' % (missing, unexpected))
    return manifest


def install_timm_stand_ins():
    """Register stand-ins for the few timm names upstream transformer code imports, when timm
    is not installed: ``timm.models.layers.{DropPath, to_2tuple, trunc_normal_}``,
    ``timm.models.registry.register_model`` (returns the function) and
    ``timm.models.vision_transformer._cfg`` (returns a dict). DropPath drops whole samples in
    training mode, as timm's does (the benchmark trains upstream's networks)."""
    import torch
    try:
        import timm.models.layers  # noqa: F401
        return
    except ImportError:
        pass

    class DropPath(torch.nn.Module):
        def __init__(self, drop_prob=0.0):
            super().__init__()
            self.drop_prob = drop_prob

        def forward(self, x):     # timm's drop_path: drop whole samples, rescale
            if not self.training or self.drop_prob == 0:
                return x
            keep = 1.0 - self.drop_prob
            mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
            return x * mask / keep

    layers = types.ModuleType('timm.models.layers')
    layers.DropPath = DropPath
    layers.to_2tuple = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    layers.trunc_normal_ = lambda t, mean=0.0, std=1.0, a=-2.0, b=2.0: \
        torch.nn.init.trunc_normal_(t, mean, std, a, b)
    registry = types.ModuleType('timm.models.registry')
    registry.register_model = lambda fn: fn
    vision_transformer = types.ModuleType('timm.models.vision_transformer')
    vision_transformer._cfg = lambda **kwargs: dict(kwargs)
    for name, module in (('timm', types.ModuleType('timm')),
                         ('timm.models', types.ModuleType('timm.models')),
                         ('timm.models.layers', layers), ('timm.models.registry', registry),
                         ('timm.models.vision_transformer', vision_transformer)):
        sys.modules.setdefault(name, module)


def upstream_forward(net, x, float64=True):
    """Run a PyTorch module on the numpy batch ``x`` without autograd; return numpy.

    With ``float64`` the module and ``x`` are cast to float64 and so is torch's default dtype
    while it runs (upstream builds tensors such as position grids in the default dtype), so
    the result is upstream's function of the float32 weights free of its float32 round-off.
    """
    import torch
    if not float64:
        with torch.no_grad():
            return net(torch.from_numpy(x)).numpy()
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        with torch.no_grad():
            return net.double()(torch.from_numpy(x.astype(np.float64))).numpy()
    finally:
        torch.set_default_dtype(default_dtype)


def write_fixture(out, name, meta, expected, note=''):
    """Save a fixture with ``support.golden.save_fixture`` and print a one-line summary.

    Raises RuntimeError instead when ``expected`` is not finite. ``note`` is appended to the
    summary's figures (e.g. ``', 12 trainable params'``).
    """
    if not np.isfinite(expected).all():
        raise RuntimeError('%s: upstream output is not finite; pick other seeds' % name)
    save_fixture(out, name, meta, expected)
    print('%s: output %s, max |y| %.4g%s -> %s' % (name, expected.shape, np.abs(expected).max(),
                                                   note, os.path.join(out, name + '.json')))
