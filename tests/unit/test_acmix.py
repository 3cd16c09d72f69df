"""ACmix: the layer against a numpy reference of upstream's definition, its initialisation,
the Swin pieces, the networks' input checks, hybridize/export, and backward."""
import mxnet as mx
import numpy as np
import pytest

from gluon_convattn.convert.acmix import swin_attention_mask, swin_relative_position_index
from gluon_convattn.model_zoo import get_model, get_model_info
from gluon_convattn.nn import ACmix
from gluon_convattn.nn.swin import (cyclic_shift, relative_position_index, shifted_window_mask,
                                    window_partition, window_reverse)
from gluon_convattn.nn.transformer import DropPath
from net_checks import assert_export_round_trip, outputs_and_grads

NARROW_SWIN = dict(img_size=56, embed_dim=16, depths=[2, 2], num_heads=[1, 2])


# ------------------------------------------------------ numpy reference of upstream's layer
def _conv1x1(p, prefix, x):
    out = np.einsum('oi,nihw->nohw', p[prefix + 'weight'][:, :, 0, 0], x)
    bias = p.get(prefix + 'bias')
    return out if bias is None else out + bias.reshape(1, -1, 1, 1)


def _windows(x, k, stride, dilation, pad, mode):
    """(N, C, k*k, Ho, Wo) taps of x padded by ``pad`` (numpy ``mode``)."""
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode=mode)
    ho = (padded.shape[2] - dilation * (k - 1) - 1) // stride + 1
    wo = (padded.shape[3] - dilation * (k - 1) - 1) // stride + 1
    return np.stack([padded[:, :, i * dilation:i * dilation + (ho - 1) * stride + 1:stride,
                            j * dilation:j * dilation + (wo - 1) * stride + 1:stride]
                     for i in range(k) for j in range(k)], axis=2)


def acmix_reference(p, x, head, k_att, k_conv, stride, dilation=1):
    """Upstream's ACmix forward, written out (including the logit term q . pe_centre)."""
    q, k, v = (_conv1x1(p, 'conv%d.' % i, x) for i in (1, 2, 3))
    n, c, h, w = q.shape
    hd = c // head
    grid = np.stack(np.meshgrid(np.linspace(-1, 1, w), np.linspace(-1, 1, h)))[None]
    pe = _conv1x1(p, 'conv_p.', grid)                                  # (1, hd, h, w)
    pad = dilation * (k_att - 1) // 2
    taps_k, taps_v, taps_pe = (_windows(t, k_att, stride, dilation, pad, 'reflect')
                               for t in (k, v, pe))
    ho, wo = taps_k.shape[3:]
    q_s = (q * hd ** -0.5)[:, :, ::stride, ::stride].reshape(n, head, hd, 1, ho, wo)
    pe_s = pe[:, :, ::stride, ::stride].reshape(1, 1, hd, 1, ho, wo)
    keys = taps_k.reshape(n, head, hd, -1, ho, wo) + pe_s - taps_pe.reshape(1, 1, hd, -1, ho, wo)
    logits = (q_s * keys).sum(2)                                        # (n, head, k*k, ho, wo)
    att = np.exp(logits - logits.max(2, keepdims=True))
    att /= att.sum(2, keepdims=True)
    out_att = (att[:, :, None] * taps_v.reshape(n, head, hd, -1, ho, wo)).sum(3)
    out_att = out_att.reshape(n, c, ho, wo)

    out_conv = shift_conv_reference(p, q, k, v, head, k_conv, stride)
    return p['rate1'] * out_att + p['rate2'] * out_conv


def shift_conv_reference(p, q, k, v, head, k_conv, stride=1):
    """ACmix's convolution path written out: ``fc`` mixes the 3 * head maps of q, k, v (each
    (n, c, h, w), ``head`` blocks of c // head channels), ``dep_conv`` shifts and sums into
    its output channels."""
    n, c, h, w = q.shape
    out = p['dep_conv.weight'].shape[0]
    hd = c // head
    taps = k_conv * k_conv
    qkv = np.concatenate([t.reshape(n, head, hd, h * w) for t in (q, k, v)], 1)
    mixed = np.einsum('ti,nidl->ntdl', p['fc.weight'][:, :, 0, 0], qkv)
    if 'fc.bias' in p:
        mixed += p['fc.bias'].reshape(1, -1, 1, 1)
    grouped = mixed.transpose(0, 2, 1, 3).reshape(n, hd, taps, h, w)
    cols = _windows(grouped.reshape(n, hd * taps, h, w), k_conv, stride, 1, k_conv // 2,
                    'constant')
    ho, wo = cols.shape[3:]
    cols = cols.reshape(n, hd, taps, taps, ho, wo)                      # (n, g, in, tap, ho, wo)
    weight = p['dep_conv.weight'].reshape(hd, out // hd, taps, taps)     # (g, out, in, tap)
    return np.einsum('goit,ngithw->ngohw', weight, cols).reshape(n, out, ho, wo)


def _randomize(block, rs):
    params = {}
    for name, param in block._collect_params_with_prefix().items():
        value = rs.standard_normal(param.shape) * (0.5 if param.shape != (1,) else 1.0)
        param.set_data(mx.nd.array(value))
        params[name] = value
    return params


LAYER_CASES = [  # in, out, kernel_att, head, kernel_conv, stride, dilation, H, W
    (6, 8, 7, 4, 3, 1, 1, 8, 9), (6, 8, 7, 4, 3, 2, 1, 8, 10), (4, 12, 5, 3, 3, 2, 1, 6, 6),
    (5, 6, 3, 1, 5, 1, 1, 5, 7), (4, 8, 3, 2, 3, 1, 2, 7, 7), (4, 8, 3, 2, 3, 3, 1, 9, 6)]


@pytest.mark.parametrize('cin,cout,k_att,head,k_conv,stride,dilation,h,w', LAYER_CASES)
def test_acmix_matches_numpy_reference(cin, cout, k_att, head, k_conv, stride, dilation, h, w):
    rs = np.random.RandomState(cin * 100 + k_att * 10 + stride)
    layer = ACmix(cin, cout, k_att, head, k_conv, stride=stride, dilation=dilation)
    layer.initialize()
    params = _randomize(layer, rs)
    x = rs.standard_normal((2, cin, h, w))
    expected = acmix_reference(params, x, head, k_att, k_conv, stride, dilation)
    assert expected.shape == (2, cout, h // stride, w // stride)
    got = layer(mx.nd.array(x)).asnumpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    layer.hybridize()
    np.testing.assert_allclose(layer(mx.nd.array(x)).asnumpy(), got, rtol=1e-5, atol=1e-6)


def test_acmix_initialisation_is_shift_kernels_and_half_rates():
    layer = ACmix(8, 8, 7, 2, 3)
    layer.initialize(mx.init.Xavier())    # a global initializer must not replace the shifts
    weight = layer.dep_conv.weight.data().asnumpy()                     # (8, 9, 3, 3)
    assert weight.shape == (8, 9, 3, 3) and layer.dep_conv.bias is None
    for i in range(9):
        expected = np.zeros((3, 3))
        expected[i // 3, i % 3] = 1
        np.testing.assert_array_equal(weight[:, i], np.broadcast_to(expected, (8, 3, 3)))
    assert layer.rate1.data().asscalar() == 0.5 and layer.rate2.data().asscalar() == 0.5


def test_acmix_backward_reaches_every_parameter():
    layer = ACmix(4, 8, 5, 2, 3, stride=2)
    layer.initialize(mx.init.Normal(0.5))
    (_, grads), (_, grads_hybrid) = outputs_and_grads(
        layer, mx.nd.random.normal(shape=(2, 4, 6, 6)))
    for name, grad in grads.items():
        assert np.isfinite(grad).all() and np.abs(grad).max() > 0, name
        np.testing.assert_allclose(grads_hybrid[name], grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('kwargs,match', [
    (dict(in_planes=4, out_planes=6, head=4), 'multiple of head'),
    (dict(in_planes=4, out_planes=8, kernel_att=6), 'kernel_att must be odd'),
    (dict(in_planes=4, out_planes=8, kernel_conv=2), 'kernel_conv must be odd'),
    (dict(in_planes=0, out_planes=8), 'in_planes'),
    (dict(in_planes=4, out_planes=8, impl='cuda'), 'impl'),
])
def test_acmix_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ACmix(**kwargs)


def test_acmix_rejects_bad_input_sizes():
    layer = ACmix(4, 8, 7, 2, 3, stride=2)
    layer.initialize()
    with pytest.raises(ValueError, match='divisible by 2'):
        layer(mx.nd.zeros((1, 4, 8, 9)))
    with pytest.raises(ValueError, match='at least 4x4'):
        layer(mx.nd.zeros((1, 4, 2, 2)))


# ------------------------------------------------------------------------------ Swin pieces
def test_window_partition_and_reverse():
    x = np.random.RandomState(0).standard_normal((2, 6, 9, 5))
    windows = window_partition(mx.nd.array(x), 6, 9, 3).asnumpy()
    expected = x.reshape(2, 2, 3, 3, 3, 5).transpose(0, 1, 3, 2, 4, 5).reshape(-1, 9, 5)
    np.testing.assert_array_equal(windows, expected.astype(np.float32))
    np.testing.assert_array_equal(window_reverse(mx.nd.array(windows), 6, 9, 3).asnumpy(),
                                  x.astype(np.float32))


@pytest.mark.parametrize('shift', [2, -3])
def test_cyclic_shift_is_roll(shift):
    x = np.arange(2 * 7 * 5 * 3, dtype=np.float32).reshape(2, 7, 5, 3)
    np.testing.assert_array_equal(cyclic_shift(mx.nd, mx.nd.array(x), shift).asnumpy(),
                                  np.roll(x, (shift, shift), axis=(1, 2)))


def test_in_graph_index_and_mask_equal_the_converters_buffers():
    """The converter's buffers are checked against upstream's by digest in the fidelity test."""
    np.testing.assert_array_equal(relative_position_index(mx.nd, 7).asnumpy(),
                                  swin_relative_position_index(7))
    like = mx.nd.zeros((1, 28, 28, 1), dtype='float64')
    mask = shifted_window_mask(mx.nd, like, 28, 28, 7, 3)
    assert mask.dtype == np.float64
    np.testing.assert_array_equal(mask.asnumpy(), swin_attention_mask(28, 28, 7, 3))


def test_drop_path_drops_whole_samples_while_training_only():
    x = mx.nd.ones((64, 5, 3))
    block = DropPath(0.5)
    np.testing.assert_array_equal(block(x).asnumpy(), x.asnumpy())
    with mx.autograd.train_mode():
        out = block(x).asnumpy()
    per_sample = out.reshape(64, -1)
    assert set(np.unique(per_sample)) == {0.0, 2.0}
    assert (per_sample.min(1) == per_sample.max(1)).all()
    with pytest.raises(ValueError, match='drop path rate'):
        DropPath(1.0)


# ----------------------------------------------------------------------------- networks
def test_registered_min_sizes_are_what_the_networks_check():
    for name, size in (('acmix_resnet26', 128), ('acmix_swin_tiny', 224)):
        info = get_model_info(name)
        assert info.min_size == size and info.family == 'ACmix'


def test_resnet_takes_any_size_whose_stages_divide_and_rejects_others():
    net = get_model('acmix_resnet26', classes=10)
    net.initialize()
    net.hybridize()
    for shape in ((1, 3, 128, 160), (1, 3, 160, 128)):
        out = net(mx.nd.zeros(shape)).asnumpy()
        assert out.shape == (1, 10) and np.isfinite(out).all()
    with pytest.raises(ValueError, match='at least 128x128'):
        net(mx.nd.zeros((1, 3, 96, 128)))
    with pytest.raises(ValueError, match='divisible by 8.*multiples of 32'):
        net(mx.nd.zeros((1, 3, 128, 150)))
    with pytest.raises(ValueError, match=r'\(N, 3, H, W\)'):
        net(mx.nd.zeros((1, 1, 128, 128)))


def test_swin_checks_the_construction_size_and_arguments():
    net = get_model('acmix_swin_tiny', classes=5, **NARROW_SWIN)
    net.initialize()
    assert net(mx.nd.zeros((2, 3, 56, 56))).shape == (2, 5)
    with pytest.raises(ValueError, match='built for 56x56.*img_size=64'):
        net(mx.nd.zeros((1, 3, 64, 64)))
    with pytest.raises(ValueError, match='at least 56x56'):
        net(mx.nd.zeros((1, 3, 32, 32)))
    with pytest.raises(ValueError, match='multiple of patch_size'):
        get_model('acmix_swin_tiny', img_size=200)
    with pytest.raises(ValueError, match='one entry per stage'):
        get_model('acmix_swin_tiny', depths=[2, 2])
    with pytest.raises(ValueError, match='multiple of the window 7'):
        get_model('acmix_swin_tiny', img_size=384)


def test_resnet_rejects_trunk_options_that_change_its_strides():
    with pytest.raises(ValueError, match=r'acmix_resnet26 does not take the argument\(s\) dilated'):
        get_model('acmix_resnet26', dilated=True)
    with pytest.raises(ValueError, match='k_att'):
        get_model('acmix_resnet26', k_att=0)


def test_swin_export_and_training_step(tmp_path):
    net = get_model('acmix_swin_tiny', classes=5, drop_path_rate=0.5, **NARROW_SWIN)
    net.initialize(mx.init.Xavier())
    net.hybridize()
    x = mx.nd.random.normal(shape=(2, 3, 56, 56))
    with mx.autograd.record():
        loss = net(x).sum()
    loss.backward()
    grad = net.layers[0].blocks[1].attn.relative_position_bias_table.grad().asnumpy()
    assert np.isfinite(grad).all() and np.abs(grad).max() > 0
    # inference: DropPath is the identity
    assert_export_round_trip(net, x, str(tmp_path / 'swin'), atol=1e-5)


def test_acmix_layer_exports(tmp_path):
    layer = ACmix(4, 8, 5, 2, 3, stride=2)
    layer.initialize(mx.init.Normal(0.5))
    assert_export_round_trip(layer, mx.nd.random.normal(shape=(1, 4, 8, 8)),
                             str(tmp_path / 'acmix'))
