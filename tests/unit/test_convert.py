"""The checkpoint converter: reading .pth files, strict key/shape mapping, the CLI.

The checkpoints are built from SAN10-pairwise's real upstream key/shape manifest (the golden
fixture) with seeded values, saved the way hszhao/SAN's training script saves them.
"""
import importlib.util
import os
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

from gluon_convattn.convert import (ConversionError, convert_checkpoint, convert_state_dict,
                                    load_checkpoint)
from gluon_convattn.model_zoo import get_model, model_zoo
from gluon_convattn.model_zoo.configs import ModelConfig
from support.golden import load_fixture, seeded_state_dict

torch = pytest.importorskip('torch')

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLI = os.path.join(ROOT, 'scripts', 'convert_weights.py')
MODEL = 'san10_pairwise'


@pytest.fixture(scope='module')
def upstream_weights():
    meta, _ = load_fixture(os.path.join(ROOT, 'tests', 'fidelity', 'fixtures'), MODEL)
    return seeded_state_dict(meta['manifest'], 7)


@pytest.fixture(scope='module')
def checkpoint(upstream_weights, tmp_path_factory):
    """A DataParallel training checkpoint: {'state_dict': {'module.<key>': tensor}, ...}."""
    path = str(tmp_path_factory.mktemp('ckpt') / 'model_best.pth')
    torch.save({'epoch': 100, 'state_dict': {'module.' + k: torch.from_numpy(v)
                                             for k, v in upstream_weights.items()}}, path)
    return path


def _check_loaded(net, upstream):
    params = net._collect_params_with_prefix()
    np.testing.assert_array_equal(params['fc.weight'].data().asnumpy(), upstream['fc.weight'])
    np.testing.assert_array_equal(params['layer3.2.sam.conv_w.3.gamma'].data().asnumpy(),
                                  upstream['layer3.2.sam.conv_w.3.weight'])
    np.testing.assert_array_equal(params['bn_in.running_var'].data().asnumpy(),
                                  upstream['bn_in.running_var'])


def test_wrapped_prefixed_checkpoint_converts_and_loads_strictly(
        checkpoint, upstream_weights, tmp_path):
    sd = load_checkpoint(checkpoint)
    assert set(sd) == set(upstream_weights)          # wrapper gone, 'module.' stripped
    dst = convert_checkpoint(MODEL, checkpoint, str(tmp_path / 'out.params'))
    net = get_model(MODEL)
    net.load_parameters(dst, allow_missing=False, ignore_extra=False)
    _check_loaded(net, upstream_weights)


def test_unknown_key_is_named(upstream_weights):
    sd = dict(upstream_weights, **{'layer2.0.sam.conv_q.weight': np.zeros((4, 4, 1, 1))})
    with pytest.raises(ConversionError, match='layer2.0.sam.conv_q.weight'):
        convert_state_dict(MODEL, sd)


def test_wrong_shape_is_named(upstream_weights):
    sd = dict(upstream_weights)
    sd['layer1.0.sam.conv_p.weight'] = np.zeros((2, 3, 1, 1), np.float32)
    with pytest.raises(ConversionError, match=r"'layer1.0.sam.conv_p.weight' has shape "
                                              r"\(2, 3, 1, 1\).*needs \(2, 2, 1, 1\)"):
        convert_state_dict(MODEL, sd)


def test_missing_key_is_named(upstream_weights):
    sd = dict(upstream_weights)
    del sd['layer4.0.bn2.running_mean']
    with pytest.raises(ConversionError, match='layer4.0.bn2.running_mean'):
        convert_state_dict(MODEL, sd)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere.pth'):
        convert_checkpoint(MODEL, str(tmp_path / 'nowhere.pth'), str(tmp_path / 'o.params'))


def test_non_checkpoint_files(tmp_path):
    text = tmp_path / 'notes.pth'
    text.write_text('not a checkpoint')
    with pytest.raises(ConversionError, match='notes.pth is not a tensor checkpoint'):
        load_checkpoint(str(text))
    listed = str(tmp_path / 'list.pth')
    torch.save([torch.zeros(2)], listed)
    with pytest.raises(ConversionError, match='not a state dict'):
        load_checkpoint(listed)


def test_cli_end_to_end(checkpoint, upstream_weights, tmp_path):
    dst = str(tmp_path / 'sub' / (MODEL + '.params'))
    proc = subprocess.run([sys.executable, CLI, '--model', MODEL, '--src', checkpoint,
                           '--dst', dst], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert 'wrote' in proc.stdout
    net = get_model(MODEL)
    net.load_parameters(dst, allow_missing=False, ignore_extra=False)
    _check_loaded(net, upstream_weights)
    out = net(mx.nd.zeros((1, 3, 128, 128)))
    assert out.shape == (1, 1000)


@pytest.fixture(scope='module')
def cli_main():
    spec = importlib.util.spec_from_file_location('convert_weights_cli', CLI)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@pytest.mark.parametrize('args,message', [
    (['--classes', '10'], "'fc.weight' has shape (1000, 2048)"),
    (['--model-kwargs', '[1]'], 'argument --model-kwargs: give key=value pairs'),
    (['--model-kwargs', 'sa_type=7'], 'sa_type'),
    (['--classes', '0'], '--classes must be positive'),
], ids=['classes', 'kwargs-list', 'kwargs-value', 'classes-zero'])
def test_cli_errors(cli_main, checkpoint, tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(['--model', MODEL, '--src', checkpoint, '--dst', str(tmp_path / 'o.params')]
                 + args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / 'o.params').exists()


@pytest.mark.parametrize('model,src,message', [
    ('san10_pairwise', 'missing.pth', 'does not exist'),
    ('san11_pairwise', None, 'not a registered model'),
    ('mxnet_upstream_net', None, 'needs no conversion'),
])
def test_cli_bad_inputs(cli_main, checkpoint, tmp_path, capsys, monkeypatch, model, src,
                        message):
    # an ATAC-family model: its upstream is MXNet, so there is nothing to convert
    monkeypatch.setitem(model_zoo._MODELS, 'mxnet_upstream_net', model_zoo.ModelInfo(
        ModelConfig('mxnet_upstream_net', family='ATAC', faithful_to='test'), None, None))
    src = str(tmp_path / src) if src else checkpoint
    with pytest.raises(SystemExit) as exit_info:
        cli_main(['--model', model, '--src', src, '--dst', str(tmp_path / 'o.params')])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


class _Planted(object):
    """Would write a file when unpickled by an unrestricted loader."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


def test_training_checkpoint_with_pickled_objects_keeps_only_the_weights(tmp_path):
    """Swin saves its yacs config and KAConv its meters beside the weights: torch's weights-only
    loader refuses such files; ours reads the tensors and leaves the other objects inert."""
    import torch
    from yacs.config import CfgNode
    planted = tmp_path / 'planted'
    path = str(tmp_path / 'train.pth')
    weights = {'module.fc.weight': torch.randn(3, 4), 'module.fc.bias': torch.randn(3)}
    torch.save({'model': weights, 'config': CfgNode({'LR': 0.1, 'DEPTHS': [2, 2]}),
                'meter': _Planted(str(planted)), 'curve': np.zeros((4, 2)), 'epoch': 7}, path)
    with pytest.raises(Exception):
        torch.load(path, weights_only=True)
    state = load_checkpoint(path)
    assert sorted(state) == ['fc.bias', 'fc.weight']
    for key in state:
        np.testing.assert_array_equal(state[key], weights['module.' + key].numpy())
    assert not planted.exists()
