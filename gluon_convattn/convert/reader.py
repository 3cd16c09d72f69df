"""Reading PyTorch checkpoints without running anything they contain.

Every pickle in the file (zip format, legacy tar format, the legacy format of
``torch.save(..., _use_new_zipfile_serialization=False)`` including its magic-number, protocol and
system-info pickles) is read by a :class:`~gluon_convattn.utils.safe_pickle.RestrictedUnpickler`:
the only globals it resolves are torch's weights-only list (tensor and storage rebuilders, dtypes,
``OrderedDict``...); every other global (a training config class, a meter, ``os.system``) becomes
an inert placeholder, so no function or constructor outside that list ever runs. TorchScript
archives are refused before torch sees them: ``torch.load`` hands them to ``torch.jit.load``,
which runs their code.
"""
import os
import pickle
import zipfile

from ..utils.checks import first_line
from ..utils.safe_pickle import restricted_unpickler

__all__ = ['load_checkpoint', 'restricted_pickle_module']


def _torch_weights_only_global(module, name):
    """torch's weights-only allow-list (storage classes as ``torch.load`` itself maps them)."""
    from torch._weights_only_unpickler import _get_allowed_globals
    from torch.serialization import StorageType
    found = _get_allowed_globals().get('%s.%s' % (module, name))
    if found is not None and 'Storage' in name:
        return StorageType(name)
    return found


def restricted_pickle_module():
    """A pickle module for ``torch.load(pickle_module=...)`` whose ``Unpickler`` and ``load``
    (torch calls ``load`` for the legacy format's magic-number, protocol, system-info and storage
    pickles) both rebuild tensors only; ``module.replaced`` collects the globals they replaced."""
    unpickler = restricted_unpickler(_torch_weights_only_global)

    def load(file, **kwargs):
        return unpickler(file, **kwargs).load()

    return type('restricted_pickle', (), {
        '__name__': 'restricted_pickle', 'Unpickler': unpickler, 'load': staticmethod(load),
        'UnpicklingError': pickle.UnpicklingError, 'replaced': unpickler.replaced})


def _not_a_checkpoint(path, reason):
    from .core import ConversionError
    return ConversionError('%s is not a tensor checkpoint: %s' % (path, reason))


def _is_torchscript(handle):
    if not zipfile.is_zipfile(handle):
        return False
    handle.seek(0)
    try:
        with zipfile.ZipFile(handle) as archive:
            return any(name.endswith('constants.pkl') for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _read(path):
    """``torch.load`` of ``path`` with every pickle restricted; errors name the file.

    Returns the loaded object and the names of the globals replaced by placeholders.
    """
    import torch
    if os.path.getsize(path) == 0:
        raise _not_a_checkpoint(path, 'the file is empty (0 bytes)')
    module = restricted_pickle_module()
    with open(path, 'rb') as handle:   # one handle for the check and the load
        if _is_torchscript(handle):
            raise _not_a_checkpoint(
                path, 'it is a TorchScript archive (torch.jit.save), whose code is never run '
                'here; save its weights with torch.save(module.state_dict(), PATH) and convert '
                'that file')
        handle.seek(0)
        try:
            ckpt = torch.load(handle, map_location='cpu', weights_only=False,
                              pickle_module=module)
        except Exception as err:  # torch raises several unrelated types for a bad file
            raise _not_a_checkpoint(path, 'torch.load cannot read it as torch.save output (%s)'
                                    % first_line(err)) from None
    return ckpt, sorted(module.replaced)


def _to_numpy(tensor):
    import torch
    tensor = torch.Tensor.detach(tensor).cpu()
    if tensor.dtype in (torch.float16, torch.bfloat16):
        tensor = tensor.float()
    return tensor.numpy()


def load_checkpoint(path):
    """Read a PyTorch checkpoint into a dict of numpy arrays (torch is imported here only).

    Accepts a plain state dict or one wrapped as ``{'state_dict': ...}`` or ``{'model': ...}``;
    removes a leading ``module.`` (DataParallel) from every key. Objects pickled beside the
    weights (a training config, meters) become inert placeholders; float16 and bfloat16 weights
    are widened to float32, the dtype of our parameters (exactly, without rounding).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ConversionError
        ``path`` is a directory, is empty, is not ``torch.save`` output, is a TorchScript archive,
        holds no tensors or is not a state dict.
    """
    from .core import ConversionError, strip_prefix
    if os.path.isdir(path):
        raise ConversionError('%s is a directory, not a checkpoint file (e.g. %s)'
                              % (path, os.path.join(path, 'model_best.pth')))
    if not os.path.isfile(path):
        raise FileNotFoundError('checkpoint %s does not exist' % path)
    try:
        import torch
    except ImportError:
        raise ImportError('reading PyTorch checkpoints needs torch: pip install torch==2.13.0 '
                          '(CPU is enough)') from None
    ckpt, replaced = _read(path)
    for wrapper in ('state_dict', 'model'):
        if isinstance(ckpt, dict) and isinstance(ckpt.get(wrapper), dict):
            ckpt = ckpt[wrapper]
            break
    tensors = ({k: v for k, v in ckpt.items() if isinstance(v, torch.Tensor)}
               if isinstance(ckpt, dict) else {})
    if not tensors:
        named = (' (it names %s, which was not run)' % ', '.join(replaced)) if replaced else ''
        if isinstance(ckpt, (dict, list, tuple)) and not replaced:
            raise ConversionError('%s holds a %s without named tensors, not a state dict'
                                  % (path, type(ckpt).__name__))
        raise _not_a_checkpoint(path, 'it holds no tensors%s' % named)
    arrays = {}
    for key, value in tensors.items():
        try:
            arrays[key] = _to_numpy(value)
        except Exception as err:  # sparse, quantized or meta tensors have no numpy form
            raise ConversionError('%s: tensor %r (%s, layout %s) has no dense numpy form '
                                  '(%s); save a dense float state dict (tensor.to_dense(), '
                                  '.dequantize()) and convert that' % (
                                      path, key, value.dtype, value.layout, first_line(err))
                                  ) from None
    return strip_prefix(arrays, 'module.')
