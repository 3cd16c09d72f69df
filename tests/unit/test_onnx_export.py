"""ONNX export: one model per family, the kernel CustomOps, the added translations, errors.

The exported graphs run in onnxruntime in the second virtualenv (``make .venv-onnx``) and in
``onnx.reference`` here; their outputs must be MXNet's within 1e-4 relative, at a batch size
other than the one the export traced (the batch dimension is dynamic).
"""
import os
import subprocess
import sys

import mxnet as mx
import numpy as np
import onnx
import pytest

from gluon_convattn.export import export_onnx, onnx_ops
from gluon_convattn.model_zoo import get_model
from gluon_convattn.nn import ACmix, SAM
from support.golden import relative_error

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                'onnx'))
from onnx_runners import (onnxruntime_available, run_onnxruntime,  # noqa: E402
                          run_reference, seed_weights)

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                      'scripts', 'export_onnx.py')
needs_onnxruntime = pytest.mark.skipif(not onnxruntime_available(),
                                       reason='onnxruntime lives in .venv-onnx: make .venv-onnx')

# family -> (model, constructor arguments, input size): narrow or small-input variants
FAMILIES = {
    'ATAC': ('cifar_resnet20_v2_atac', {}, 32),
    'SAN': ('san10_patchwise', dict(base_channels=32), 128),
    'ACmix-ResNet': ('acmix_resnet26', {}, 128),
    'ACmix-Swin': ('acmix_swin_tiny', dict(img_size=56, embed_dim=16, depths=[2, 2],
                                           num_heads=[1, 2]), 56),
    'KAConv': ('kamobilenetv2_0.5_h', {}, 32),
    'AT-kernel': ('atkernel_resnet26_tiny', {}, 16),
}


def _batch(size, batch=3, seed=1):
    return np.random.RandomState(seed).normal(size=(batch, 3, size, size)).astype('float32')


def _mxnet(net, data):
    net.hybridize()
    return net(mx.nd.array(data)).asnumpy()


def _export(net, tmp_path, size, name='model.onnx'):
    return export_onnx(net, str(tmp_path / name), input_size=size)


def _op_types(path):
    return {node.op_type for node in onnx.load(path).graph.node}


@needs_onnxruntime
@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_every_family_matches_mxnet_in_onnxruntime(family, tmp_path):
    name, kwargs, size = FAMILIES[family]
    net = get_model(name, classes=10, **kwargs)
    seed_weights(net)
    data = _batch(size)
    expected = _mxnet(net, data)
    path = _export(net, tmp_path, size)
    model = onnx.load(path)
    assert [o.version for o in model.opset_import] == [onnx_ops.OPSET]
    assert [i.name for i in model.graph.input] == ['data']
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == 'batch'
    assert relative_error(run_onnxruntime(path, data, str(tmp_path)), expected) <= 1e-4


@pytest.mark.parametrize('family', ['ATAC', 'ACmix-Swin'])
def test_onnx_reference_agrees(family, tmp_path):
    name, kwargs, size = FAMILIES[family]
    net = get_model(name, classes=10, **kwargs)
    seed_weights(net)
    data = _batch(size, batch=2)
    expected = _mxnet(net, data)
    assert relative_error(run_reference(_export(net, tmp_path, size), data), expected) <= 1e-4


class _Layers(mx.gluon.HybridBlock):
    """A 3x3 convolution then a sliding-window layer: small graphs with the CustomOps in them."""

    def __init__(self, layer, impl):
        super(_Layers, self).__init__()
        with self.name_scope():
            self.conv = mx.gluon.nn.Conv2D(16, 3, padding=1, in_channels=3)
            if layer == 'acmix':                                  # local_dot, aggregation
                self.layer = ACmix(16, 16, kernel_att=5, head=4, kernel_conv=3, impl=impl)
            else:                       # pairwise: subtraction2, subtraction, aggregation
                self.layer = SAM(sa_type=0 if layer == 'pairwise' else 1, in_planes=16,
                                 rel_planes=4, out_planes=16, kernel_size=5, impl=impl)

    def hybrid_forward(self, F, x):
        return self.layer(self.conv(x))


@needs_onnxruntime
@pytest.mark.parametrize('layer', ['pairwise', 'patchwise', 'acmix'])
def test_kernel_customops_export_as_their_composite_subgraph(layer, tmp_path):
    composite = _Layers(layer, 'composite')
    seed_weights(composite)
    data = _batch(12, batch=3)
    expected = _mxnet(composite, data)
    params = str(tmp_path / 'weights.params')
    composite.save_parameters(params)
    kernel = _Layers(layer, 'kernel')
    kernel.load_parameters(params)
    kernel.hybridize()
    kernel(mx.nd.zeros((1, 3, 12, 12)))
    assert 'gluon_convattn_' in kernel._cached_graph[1].tojson()
    path = _export(kernel, tmp_path, 12)
    assert 'Custom' not in _op_types(path)
    assert _op_types(path) == _op_types(_export(composite, tmp_path, 12, 'composite.onnx'))
    assert relative_error(run_onnxruntime(path, data, str(tmp_path)), expected) <= 1e-4
    assert relative_error(run_reference(path, data), expected) <= 1e-4


def test_script_exports_a_params_file_by_name(tmp_path):
    net = get_model('cifar_resnet20_v2_atac', classes=7)
    seed_weights(net)
    data = _batch(32, batch=2)
    expected = _mxnet(net, data)
    params, output = str(tmp_path / 'w.params'), str(tmp_path / 'atac.onnx')
    net.save_parameters(params)
    command = [sys.executable, SCRIPT, '--model', 'cifar_resnet20_v2_atac', '--classes', '7',
               '--params', params, '--input-size', '32', '--output', output]
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert done.returncode == 0, done.stderr
    assert 'wrote %s' % output in done.stdout
    assert relative_error(run_reference(output, data), expected) <= 1e-4
    again = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert again.returncode == 2 and 'exists; pass --overwrite to replace it' in again.stderr


# ------------------------------------------------------------------ the added translations
class _Lambda(mx.gluon.HybridBlock):
    def __init__(self, fn):
        super(_Lambda, self).__init__()
        self.fn = fn

    def hybrid_forward(self, F, x):
        return self.fn(F, x)


def _matches(fn, tmp_path, size=6, batch=2):
    data = _batch(size, batch=batch, seed=4) * 3
    net = _Lambda(fn)
    expected = _mxnet(net, data)
    got = run_reference(_export(net, tmp_path, size), data)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('shape,reverse', [
    ((0, -4, -1, 1, -2), False), ((0, -4, 3, -1, -2), False), ((-3, 0, -1), False),
    ((-3, -2), False), ((-3, -3), False), ((0, 0, -4, 2, 3, -2), False),
    ((-4, -1, 1, -4, 3, 1, -2), False), ((0, -3, 0), False),
    ((-1, 3, -3), False), ((-1, 3, 6, 0), True), ((0, -1, 2, 0), True),
])
def test_reshape_codes_match_mxnet(shape, reverse, tmp_path):
    _matches(lambda F, x: F.reshape(x, shape=shape, reverse=reverse), tmp_path)


@pytest.mark.parametrize('kernel,stride,dilate,pad', [
    ((3, 3), (1, 1), (1, 1), (0, 0)), ((3, 5), (2, 1), (1, 2), (1, 2)), ((1, 1), (2, 2), (1, 1),
                                                                         (0, 0))])
def test_im2col_matches_mxnet(kernel, stride, dilate, pad, tmp_path):
    _matches(lambda F, x: F.im2col(x, kernel=kernel, stride=stride, dilate=dilate, pad=pad),
             tmp_path, size=7)


def test_scalar_mod_and_greater_equal_match_mxnet(tmp_path):
    _matches(lambda F, x: (x % 1.5) + (x % -2) + (x >= 0.25), tmp_path)


def test_group_norm_matches_mxnet(tmp_path):
    class _GroupNorm(mx.gluon.HybridBlock):
        def __init__(self):
            super(_GroupNorm, self).__init__()
            self.norm = mx.gluon.nn.GroupNorm(num_groups=3, epsilon=1e-3)

        def hybrid_forward(self, F, x):
            return self.norm(F.concat(x, x * x, dim=1))

    net = _GroupNorm()
    net.initialize()
    net.norm.gamma.set_data(mx.nd.array([0.5, 2.0, -1.0]))
    net.norm.beta.set_data(mx.nd.array([0.1, -0.2, 0.3]))
    data = _batch(5, batch=2)
    expected = _mxnet(net, data)
    got = run_reference(_export(net, tmp_path, 5), data)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_translations_are_installed_only_during_an_export():
    from mxnet.onnx.mx2onnx._export_onnx import MXNetGraph
    before = dict(MXNetGraph.registry_.get(onnx_ops.OPSET, {}))
    with onnx_ops.installed():
        assert MXNetGraph.registry_[onnx_ops.OPSET]['im2col'] is onnx_ops.convert_im2col
        assert onnx.defs.onnx_opset_version() == onnx_ops.OPSET
    assert MXNetGraph.registry_[onnx_ops.OPSET] == before
    assert onnx.defs.onnx_opset_version() > onnx_ops.OPSET


# ---------------------------------------------------------------------------------- errors
def test_an_existing_output_is_kept_unless_overwrite(tmp_path):
    net = get_model('cifar_resnet20_v2_atac')
    seed_weights(net)
    output = tmp_path / 'model.onnx'
    output.write_bytes(b'keep me')
    with pytest.raises(ValueError, match='exists; pass overwrite=True'):
        export_onnx(net, str(output), input_size=32)
    assert output.read_bytes() == b'keep me'
    export_onnx(net, str(output), input_size=32, overwrite=True)
    assert onnx.load(str(output)).graph.input[0].name == 'data'
    assert os.listdir(str(tmp_path)) == ['model.onnx']


def test_bad_arguments_name_the_problem(tmp_path):
    out = str(tmp_path / 'm.onnx')
    with pytest.raises(ValueError, match='params is needed'):
        export_onnx('cifar_resnet20_v2_atac', out)
    with pytest.raises(FileNotFoundError, match='missing.params does not exist'):
        export_onnx('cifar_resnet20_v2_atac', out, params=str(tmp_path / 'missing.params'))
    with pytest.raises(ValueError, match='not a registered model'):
        export_onnx('cifar_resnet20_v2_atak', out, params='x.params')
    with pytest.raises(ValueError, match='.onnx file name'):
        export_onnx('cifar_resnet20_v2_atac', str(tmp_path / 'm.txt'), params='x.params')
    with pytest.raises(FileNotFoundError, match='folder of output'):
        export_onnx('cifar_resnet20_v2_atac', str(tmp_path / 'no' / 'm.onnx'))
    net = get_model('san10_pairwise', base_channels=32)
    seed_weights(net)
    with pytest.raises(ValueError, match='input_size is needed'):
        export_onnx(net, out)
    with pytest.raises(ValueError, match='at least 128x128'):
        export_onnx(net, out, input_size=64)
    assert not os.path.exists(out)


def test_foreign_custom_ops_are_refused():
    node = {'name': 'c0', 'op': 'Custom', 'inputs': [[0, 0, 0]], 'attrs': {'op_type': 'mine'}}
    lookup = [[onnx_ops._Output('x', 'float32')]]
    with pytest.raises(ValueError, match="'mine' has no ONNX translation"):
        onnx_ops.convert_custom(node, outputs_lookup=lookup, initializer=[])
