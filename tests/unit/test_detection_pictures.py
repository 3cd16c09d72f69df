"""scripts/demo_faster_rcnn.py and scripts/visualize_attention.py write their pictures."""
import mxnet as mx
import numpy as np
import pytest
from PIL import Image

from gluon_convattn.model_zoo import get_model
from gluon_convattn.nn.atkernel import ChannelGroupNorm
from gluon_convattn.train.checkpoint import save_checkpoint

# small RPN/RCNN sample counts keep the CPU forward short
SMALL = {'rpn_test_pre_nms': 200, 'rpn_test_post_nms': 64}


@pytest.fixture(scope='module')
def image(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('img') / 'shapes.png')
    rs = np.random.RandomState(0)
    arr = rs.randint(90, 150, size=(64, 96, 3)).astype(np.uint8)
    arr[10:40, 20:50] = (220, 40, 40)
    Image.fromarray(arr).save(path)
    return path


def test_demo_draws_detections_and_saves_the_picture(image, tmp_path, capsys,
                                                     detection_scripts):
    mx.random.seed(0)
    classes = ['square', 'disc', 'triangle']
    net = get_model('faster_rcnn_fpn_atkernel_resnet50_coco', classes=classes, **SMALL)
    net.initialize()
    net(mx.nd.zeros((1, 3, 64, 96)))
    ckpt = save_checkpoint(str(tmp_path), 'det', net, None, {
        'epoch': 0, 'tag': 'det', 'classes': classes, 'model_kwargs': SMALL})
    out_dir = tmp_path / 'pictures'
    demo = detection_scripts['demo_faster_rcnn']
    args = ['--pretrained', ckpt.params, '--images', image, '--save-dir', str(out_dir),
            '--thresh', '0', '--image-short', '64', '--image-max-size', '96']
    assert demo.main(args) == 0
    picture = out_dir / 'shapes.png'
    assert picture.exists() and Image.open(str(picture)).size[0] > 96
    assert 'detections above 0.00' in capsys.readouterr().out
    with pytest.raises(ValueError, match='exists; pass --overwrite'):
        demo.main(args)


def test_visualize_records_the_layers_own_weights(image, detection_scripts):
    visualize = detection_scripts['visualize_attention']
    net = get_model('atkernel_resnet26_tiny')
    net.initialize()
    name, layer = visualize.attention_layers(net)[0]
    assert name == 'layer1.0.conv2'
    seen = []
    handle = layer.mlp[3].register_forward_hook(lambda block, inputs, out: seen.append(out))
    x = mx.nd.random.uniform(shape=(1, 3, 64, 64))
    weights = visualize.record_weights(net, layer, x)
    handle.detach()
    # the weights the unfused layer would form: the group norm with its affine on the logits
    norm = layer.mlp[-1]
    norm.gamma.set_data(mx.nd.random.uniform(0.5, 1.5, shape=norm.gamma.shape))
    norm.beta.set_data(mx.nd.random.uniform(-0.5, 0.5, shape=norm.beta.shape))
    weights = visualize.record_weights(net, layer, x)
    expected = ChannelGroupNorm.hybrid_forward(norm, mx.nd, seen[-1], gamma=norm.gamma.data(),
                                               beta=norm.beta.data()).asnumpy()
    np.testing.assert_allclose(weights, expected, rtol=1e-5, atol=1e-6)
    assert weights.shape == (1, 256, 9, 64 * 64)
    picture = visualize.mosaic(weights)
    assert picture.shape == (64 * 3, 64 * 3)
    # the window of output position (r, c) sits at rows 3r..3r+2, columns 3c..3c+2
    np.testing.assert_allclose(picture[3 * 5:3 * 5 + 3, 3 * 7:3 * 7 + 3],
                               weights[0].mean(axis=0)[:, 5 * 64 + 7].reshape(3, 3), rtol=1e-6)


def test_visualize_script_writes_picture_and_weights(image, tmp_path, detection_scripts):
    visualize = detection_scripts['visualize_attention']
    out, npy = str(tmp_path / 'att.png'), str(tmp_path / 'att.npy')
    args = ['--model', 'atkernel_resnet26_tiny', '--image', image, '--out', out,
            '--save-weights', npy, '--map', '3']
    assert visualize.main(args) == 0
    assert Image.open(out).size[0] > 64 and np.load(npy).shape == (1, 256, 9, 4096)
    with pytest.raises(ValueError, match='exists'):
        visualize.main(args)
    with pytest.raises(ValueError, match='--layer 5: atkernel_resnet26_tiny has 1 attention'):
        visualize.main(['--model', 'atkernel_resnet26_tiny', '--image', image, '--layer', '5'])
    with pytest.raises(ValueError, match='no AT-kernel, SAN or ACmix layer'):
        visualize.main(['--model', 'resnet50_v1b_atac', '--list-layers'])
