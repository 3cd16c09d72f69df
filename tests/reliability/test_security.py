"""No byte of a checkpoint handed to the converter is unpickled by anything but the restricted
unpickler: files whose pickles would create a marker file, in every format torch reads.

Each crafted file is first shown to be armed (an unrestricted ``torch.load`` or ``pickle.load``
creates the marker), then read by ``load_checkpoint`` and by ``convert_weights.py``: the marker
must not appear and the error must name the file and say it is not a tensor checkpoint.
"""
import builtins
import io
import os
import pickle
import shlex
import struct
import tarfile
import zipfile

import pytest

from gluon_convattn.convert import ConversionError, load_checkpoint

torch = pytest.importorskip('torch')

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C   # torch's legacy-format header pickles
PROTOCOL_VERSION = 1001
SYS_INFO = {'protocol_version': PROTOCOL_VERSION, 'little_endian': True,
            'type_sizes': {'short': 2, 'int': 4, 'long': 4}}


class Payload(object):
    """Pickles as a call that creates ``marker``: ``os.system``, ``exec`` or ``open``."""

    def __init__(self, how, marker):
        self.how, self.marker = how, marker

    def __reduce__(self):
        if self.how == 'system':
            return os.system, ('touch %s' % shlex.quote(self.marker),)
        if self.how == 'exec':
            return builtins.exec, ("open(%r, 'w').close()" % self.marker,)
        return builtins.open, (self.marker, 'w')


def _dump(obj):
    return pickle.dumps(obj, protocol=2)


def _legacy_stream(payload, where):
    """The legacy (non-tar) format, ``payload`` in place of one of its five pickles."""
    parts = [MAGIC_NUMBER, PROTOCOL_VERSION, SYS_INFO, {}, []]
    parts[['magic', 'protocol', 'sys_info', 'data', 'storage_keys'].index(where)] = payload
    return b''.join(_dump(part) for part in parts)


def _legacy_tar(payload, member):
    """The legacy tar format (storages, tensors, pickle), ``payload`` in one member."""
    members = {'storages': _dump(0) + _dump([]), 'tensors': _dump(0), 'pickle': _dump({})}
    members[member] = _dump(payload)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w:', format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _saved(obj, **kwargs):
    buffer = io.BytesIO()
    torch.save(obj, buffer, **kwargs)
    return buffer.getvalue()


def _torchscript(payload):
    """A real ``torch.jit.save`` archive whose constants.pkl is replaced by ``payload``."""
    source = io.BytesIO()
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), source)
    out = io.BytesIO()
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(out, 'w') as dst:
        for name in src.namelist():
            data = src.read(name)
            dst.writestr(name, _dump(payload) if name.endswith('constants.pkl') else data)
    return out.getvalue()


FORMATS = {
    'plain-pickle': lambda p: _dump(p),
    'legacy-magic': lambda p: _legacy_stream(p, 'magic'),
    'legacy-protocol': lambda p: _legacy_stream(p, 'protocol'),
    'legacy-sys-info': lambda p: _legacy_stream(p, 'sys_info'),
    'legacy-data': lambda p: _saved(p, _use_new_zipfile_serialization=False),
    'legacy-storage-keys': lambda p: _legacy_stream(p, 'storage_keys'),
    'tar-storages': lambda p: _legacy_tar(p, 'storages'),
    'tar-tensors': lambda p: _legacy_tar(p, 'tensors'),
    'tar-pickle': lambda p: _legacy_tar(p, 'pickle'),
    'zip': lambda p: _saved(p),
    'zip-nested': lambda p: _saved({'state_dict': {'config': p}}),
    'torchscript': _torchscript,
}
HOW = ('system', 'exec', 'open')


@pytest.fixture(params=sorted(FORMATS))
def fmt(request):
    return request.param


@pytest.fixture(params=HOW)
def armed(request, fmt, tmp_path):
    """(path of the crafted file, path of the marker its payload would create)."""
    marker = str(tmp_path / 'marker')
    path = tmp_path / ('evil-%s.pth' % fmt)
    path.write_bytes(FORMATS[fmt](Payload(request.param, marker)))
    return str(path), marker


def test_crafted_files_are_armed(armed, fmt):
    """Without the restriction each file runs its payload (so the tests below can fail)."""
    path, marker = armed
    if fmt == 'torchscript':
        with zipfile.ZipFile(path) as archive:
            name = [n for n in archive.namelist() if n.endswith('constants.pkl')][0]
            pickle.loads(archive.read(name))
    else:
        try:
            torch.load(path, weights_only=False)
        except Exception:
            pass
    assert os.path.exists(marker)


def test_load_checkpoint_runs_no_payload(armed):
    path, marker = armed
    with pytest.raises(ConversionError) as info:
        load_checkpoint(path)
    assert not os.path.exists(marker)
    assert str(info.value).startswith(path + ' is not a tensor checkpoint')


def test_convert_weights_runs_no_payload(armed, load_script, tmp_path, capsys):
    path, marker = armed
    dst = tmp_path / 'out.params'
    with pytest.raises(SystemExit) as exit_info:
        load_script('convert_weights').main(['--model', 'san10_pairwise', '--src', path,
                                             '--dst', str(dst)])
    assert exit_info.value.code == 2
    assert not os.path.exists(marker)
    assert 'error: %s is not a tensor checkpoint' % path in capsys.readouterr().err
    assert not dst.exists()


def test_torchscript_archive_is_refused_unrun(tmp_path):
    path = str(tmp_path / 'scripted.pt')
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), path)
    with pytest.raises(ConversionError, match='TorchScript archive .*torch.save\\(module.state_'):
        load_checkpoint(path)


def test_tensors_beside_a_payload_load_and_the_payload_stays_inert(tmp_path):
    """A real checkpoint with a payload among its objects: the weights come out, nothing runs."""
    marker = str(tmp_path / 'marker')
    weights = {'fc.weight': torch.randn(3, 4)}
    for how in HOW:
        for legacy in (False, True):
            path = str(tmp_path / ('mixed-%s-%s.pth' % (how, legacy)))
            torch.save({'state_dict': weights, 'hook': Payload(how, marker)}, path,
                       _use_new_zipfile_serialization=not legacy)
            state = load_checkpoint(path)
            assert sorted(state) == ['fc.weight']
            assert (state['fc.weight'] == weights['fc.weight'].numpy()).all()
    assert not os.path.exists(marker)


def _legacy_tar_checkpoint(tensor):
    """A genuine legacy tar checkpoint {'w': tensor} (float32, contiguous), as torch <= 0.3
    wrote it."""
    storages = (_dump(1) + _dump((0, 'cpu', torch.FloatStorage))
                + struct.pack('<q', tensor.numel()) + tensor.numpy().tobytes() + _dump([]))
    ndim = tensor.dim()
    tensors = (_dump(1) + _dump((1, 0, torch.FloatTensor)) + struct.pack('<i', ndim)
               + b'\0' * 4 + struct.pack('<%dq' % ndim, *tensor.shape)
               + struct.pack('<%dq' % ndim, *tensor.stride()) + struct.pack('<q', 0))

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return '1' if obj is tensor else None
    data = io.BytesIO()
    Pickler(data, protocol=2).dump({'w': tensor})
    data = data.getvalue()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode='w:', format=tarfile.PAX_FORMAT) as tar:
        for name, blob in (('storages', storages), ('tensors', tensors), ('pickle', data)):
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return buffer.getvalue()


def test_genuine_legacy_tar_checkpoint_still_loads(tmp_path):
    tensor = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    path = tmp_path / 'old.pth'
    path.write_bytes(_legacy_tar_checkpoint(tensor))
    assert (torch.load(str(path), weights_only=False)['w'] == tensor).all()
    state = load_checkpoint(str(path))
    assert (state['w'] == tensor.numpy()).all()


# ------------------------------------------------------------------ trainer states (.states)
@pytest.mark.parametrize('how', HOW)
def test_resuming_from_a_states_file_runs_no_payload(records, tmp_path, train_imagenet, toy,
                                                     how):
    """MXNet's Trainer.load_states would unpickle a .states file with pickle.loads."""
    from runs import checkpoint_path, train_args, train_toy
    save_dir = str(tmp_path)
    train_toy(train_imagenet, records, save_dir, 1)
    marker = str(tmp_path / 'marker')
    states = str(tmp_path / 'evil.states')
    with open(states, 'wb') as f:
        f.write(pickle.dumps(({0: Payload(how, marker)}, Payload(how, marker))))
    pickle.loads(open(states, 'rb').read())                 # armed
    assert os.path.exists(marker)
    os.remove(marker)
    params = checkpoint_path(save_dir, 0, '.params')
    with pytest.raises(ValueError) as info:
        train_imagenet.main(train_args(records, save_dir, '--num-epochs', '2', '--resume-epoch',
                                       '1', '--resume-params', params, '--resume-states',
                                       states))
    assert not os.path.exists(marker)
    message = str(info.value)
    assert message.startswith('--resume-states %s holds objects other than optimizer states '
                              '(it names ' % states)
    assert 'which was not run' in message


def test_a_checkpoints_states_load_without_unpickling_the_optimizer(records, tmp_path,
                                                                     train_imagenet, toy):
    """A genuine .states names MXNet's optimizer and scheduler classes; they stay inert."""
    import pickletools
    from gluon_convattn.train.states import read_trainer_states
    from runs import checkpoint_path, train_toy
    save_dir = str(tmp_path)
    train_toy(train_imagenet, records, save_dir, 1)
    path = checkpoint_path(save_dir, 0, '.states')
    data = open(path, 'rb').read()
    assert b'NAG' in data and any(op.name == 'STACK_GLOBAL'
                                  for op, _, _ in pickletools.genops(data))
    states = read_trainer_states(path)
    assert states and all(type(v).__name__ == 'NDArray' for v in states.values())


def test_a_state_dict_pickled_as_an_unknown_dict_subclass_still_converts(tmp_path):
    """Its class is not rebuilt (it could run code), but its items are plain data."""
    import collections
    import sys
    import types
    module = types.ModuleType('trainer_utils')
    module.AttrDict = type('AttrDict', (collections.OrderedDict,),
                           {'__module__': 'trainer_utils'})
    sys.modules['trainer_utils'] = module
    try:
        weights = module.AttrDict(w=torch.ones(2))
        path = str(tmp_path / 'attr.pth')
        torch.save({'state_dict': weights}, path)
    finally:
        del sys.modules['trainer_utils']
    state = load_checkpoint(path)
    assert list(state) == ['w'] and (state['w'] == 1).all()
