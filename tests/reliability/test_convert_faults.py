"""convert_weights.py loses no file and shows no traceback: empty, float16, bfloat16 and
directory inputs, --dst over --src or a folder, a full disk, a failing verification."""
import errno
import hashlib
import os

import mxnet as mx
import numpy as np
import pytest

from gluon_convattn.convert import convert_checkpoint
from support.golden import load_fixture, seeded_state_dict

torch = pytest.importorskip('torch')

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = 'san10_pairwise'


@pytest.fixture(scope='module')
def upstream():
    meta, _ = load_fixture(os.path.join(ROOT, 'tests', 'fidelity', 'fixtures'), MODEL)
    return seeded_state_dict(meta['manifest'], 7)


def _save(state, path, dtype=None):
    torch.save({'state_dict': {k: (torch.from_numpy(v).to(dtype) if dtype else
                                   torch.from_numpy(v)) for k, v in state.items()}}, path)
    return path


def _sha(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def _cli(load_script, capsys, src, dst, *extra):
    with pytest.raises(SystemExit) as info:
        load_script('convert_weights').main(['--model', MODEL, '--src', str(src),
                                             '--dst', str(dst)] + list(extra))
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert 'Traceback' not in err
    return err


def test_empty_checkpoint(load_script, capsys, tmp_path):
    src = tmp_path / 'empty.pth'
    src.write_bytes(b'')
    err = _cli(load_script, capsys, src, tmp_path / 'out.params')
    assert 'error: %s is not a tensor checkpoint: the file is empty (0 bytes)' % src in err
    assert not (tmp_path / 'out.params').exists()


def test_src_a_directory(load_script, capsys, tmp_path):
    err = _cli(load_script, capsys, tmp_path, tmp_path / 'out.params')
    assert 'error: %s is a directory, not a checkpoint file' % tmp_path in err


def test_dst_a_directory(load_script, capsys, upstream, tmp_path):
    src = _save(upstream, str(tmp_path / 'model.pth'))
    folder = tmp_path / 'out'
    folder.mkdir()
    err = _cli(load_script, capsys, src, folder)
    assert 'error: --dst %s is a directory; give the file to write, e.g. %s' % (
        folder, os.path.join(str(folder), 'model.params')) in err
    assert os.listdir(str(folder)) == []


def test_dst_equal_to_src_is_refused_and_the_source_kept(load_script, capsys, upstream,
                                                         tmp_path):
    src = _save(upstream, str(tmp_path / 'model.pth'))
    before = _sha(src)
    for dst in (src, str(tmp_path / '.' / 'model.pth')):
        err = _cli(load_script, capsys, src, dst)
        assert 'error: --dst %s is the checkpoint being converted (src)' % dst in err
    assert _sha(src) == before


@pytest.mark.parametrize('dtype', ['float16', 'bfloat16'])
def test_half_precision_checkpoints_convert_exactly_to_float32(upstream, tmp_path, dtype):
    half = {k: torch.from_numpy(v).to(getattr(torch, dtype)) for k, v in upstream.items()}
    src = str(tmp_path / ('%s.pth' % dtype))
    torch.save({'state_dict': half}, src)
    dst = convert_checkpoint(MODEL, src, str(tmp_path / 'out.params'), verify=True)
    loaded = mx.nd.load(dst)
    weight = loaded['fc.weight'].asnumpy()
    assert weight.dtype == np.float32
    np.testing.assert_array_equal(weight, half['fc.weight'].float().numpy())


def test_a_full_disk_leaves_the_previous_output_and_no_partial_file(
        load_script, capsys, upstream, tmp_path, monkeypatch):
    src = _save(upstream, str(tmp_path / 'model.pth'))
    dst = tmp_path / 'out.params'
    dst.write_bytes(b'the previous conversion')
    real_save = mx.nd.save

    def save_until_the_disk_is_full(fname, data):
        real_save(fname, data)
        with open(fname, 'r+b') as f:
            f.truncate(100)
        raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(mx.nd, 'save', save_until_the_disk_is_full)
    err = _cli(load_script, capsys, src, dst)
    assert 'error: [Errno 28] no space left on the device while writing %s' % dst in err
    assert dst.read_bytes() == b'the previous conversion'
    assert sorted(os.listdir(str(tmp_path))) == ['model.pth', 'out.params']


def test_a_failed_verification_leaves_no_file(upstream, tmp_path, monkeypatch):
    import gluon_convattn.utils.params as params
    src = _save(upstream, str(tmp_path / 'model.pth'))

    def refuse(*args, **kwargs):
        raise params.ParamsMismatchError('parameter fc.weight does not fit')
    monkeypatch.setattr(params, 'load_parameters_checked', refuse)
    with pytest.raises(params.ParamsMismatchError):
        convert_checkpoint(MODEL, src, str(tmp_path / 'out.params'), verify=True)
    assert sorted(os.listdir(str(tmp_path))) == ['model.pth']


def test_a_tensor_without_a_numpy_form_is_named(tmp_path):
    from gluon_convattn.convert import ConversionError, load_checkpoint
    src = str(tmp_path / 'sparse.pth')
    torch.save({'fc.weight': torch.eye(3).to_sparse()}, src)
    with pytest.raises(ConversionError) as info:
        load_checkpoint(src)
    assert "%s: tensor 'fc.weight'" % src in str(info.value)
    assert 'has no dense numpy form' in str(info.value)
