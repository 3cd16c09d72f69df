"""Model configurations as data: one :class:`ModelConfig` per registered model.

Like timm's ``default_cfgs`` and torchvision's ``Weights``, a record says what a model is
(family, what it is faithful to), how to feed it (input size, mean/std, crop ratio) and which
weights exist for it (:class:`Weights`: tag, file, sha256, source). Each family file lists its
records in a ``CONFIGS`` table (:func:`config_table`) and registers every constructor with
``@register_model(CONFIGS[name], network=Class)``; the README's model table is printed from the
records by ``tools/model_table.py``.

The minimum input size is not in the record: it depends on constructor arguments (SAN's
kernels, ACmix's ``k_att``, Swin's ``img_size``, AT-kernel's stem), so it lives on the network
(``net.min_size``) and :attr:`ModelInfo.min_size` reads it from a default-built network.
"""
import re
from dataclasses import dataclass, field

__all__ = ['IMAGENET_MEAN', 'IMAGENET_STD', 'Weights', 'ModelConfig', 'config_table',
           'parse_flops']

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Weights:
    """A weights file for a model.

    Parameters
    ----------
    tag : str
        The name ``get_model(..., pretrained=tag)`` takes (the data set it was trained on).
    file : str
        File name in the package's ``gluon_convattn/weights/`` folder.
    sha256 : str
        Hex digest of the file; every load verifies it.
    source : str
        Where the weights come from (the command that trained them, or the upstream release
        they were converted from).
    classes : int
        Output classes of the network the file holds.
    mean, std : tuple of 3 float
        Input normalisation the weights were trained with (0..1 scale, RGB).
    accuracy : float, optional
        Measured top-1 accuracy; ``metric`` says on what.
    metric : str
    log : str
        Training log next to the file in ``gluon_convattn/weights/`` ('' when none).
    kwargs : dict
        Constructor arguments the file needs beyond the model's defaults.
    """
    tag: str
    file: str
    sha256: str
    source: str
    classes: int
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    accuracy: float = None
    metric: str = ''
    log: str = ''
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ModelConfig:
    """The data describing one registered model.

    Parameters
    ----------
    name : str
        Lower-case GluonCV-style model name.
    family : str
        ATAC, SAN, ACmix, KAConv or AT-kernel (new families add their own name).
    faithful_to : str
        What the network reproduces (upstream repository and entry point, or paper table) and
        how that was checked ('golden': upstream's logits; 'count': upstream's parameter
        count); the README table shows it as written (Markdown).
    input_size : int, default 224
        The image side the network is designed for (shape inference, training default).
    mean, std : tuple of 3 float
        Input normalisation (0..1 scale, RGB); ImageNet's by default.
    crop_ratio : float, default 0.875
        Evaluation centre-crop ratio (resize the shorter side to ``input_size / crop_ratio``).
    default_dataset : str, default 'imagenet'
        The data set whose weights ``pretrained=True`` stands for.
    weights : tuple of :class:`Weights`
        Weights files shipped in the package.
    seed_flops : str, default ''
        The FLOPs figure of the upstream README's or paper's table, as printed there ('2.2G',
        '180.52M'; multiply-adds at ``input_size``); '' when the seeds give none.
    flops_note : str, default ''
        The section of ``docs/flops.md`` (its ``note-...`` anchor without the prefix) that
        explains why the measured multiply-adds differ from ``seed_flops`` by more than 3 %.
    """
    name: str
    family: str
    faithful_to: str
    input_size: int = 224
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    crop_ratio: float = 0.875
    default_dataset: str = 'imagenet'
    weights: tuple = ()
    seed_flops: str = ''
    flops_note: str = ''

    def __post_init__(self):
        if self.name != self.name.lower():
            raise ValueError('model names are lower case, got %r' % self.name)
        tags = [w.tag for w in self.weights]
        if len(set(tags)) != len(tags):
            raise ValueError('%s lists the weights tag(s) %s twice'
                             % (self.name, sorted({t for t in tags if tags.count(t) > 1})))
        if self.seed_flops:
            parse_flops(self.seed_flops)

    def weights_for(self, tag):
        """The :class:`Weights` with ``tag``, or None."""
        return next((w for w in self.weights if w.tag == tag), None)


def config_table(*configs):
    """``{name: config}`` for a family file's records; a name given twice is an error."""
    table = {}
    for config in configs:
        if config.name in table:
            raise ValueError('model %r has two configurations' % config.name)
        table[config.name] = config
    return table


_FLOPS_UNITS = {'G': 1e9, 'M': 1e6}


def parse_flops(text):
    """The number a seed table's FLOPs figure stands for: ``'2.2G'`` -> 2.2e9,
    ``'180.52M'`` -> 1.8052e8; ValueError for anything else."""
    match = re.fullmatch(r'(\d+(?:\.\d+)?)([GM])', text) if isinstance(text, str) else None
    if match is None:
        raise ValueError('a FLOPs figure is a number followed by G or M (e.g. 2.2G, 180.52M), '
                         'got %r' % (text,))
    return float(match.group(1)) * _FLOPS_UNITS[match.group(2)]
