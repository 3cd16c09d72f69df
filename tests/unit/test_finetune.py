"""Fine-tuning (--use-pretrained, --lr-mult-backbone) in both training scripts, and the matching
of checkpoints to a model or its backbone (gluon_convattn.train.finetune)."""
import os
import re

import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock

from gluon_convattn.data import DIGITS_MEAN, DIGITS_STD
from gluon_convattn.data.digits import digits_arrays
from gluon_convattn.model_zoo import get_model, get_model_info
from gluon_convattn.train.finetune import apply_pretrained, match_pretrained
from support.toy import ToyNet
from gluon_convattn.utils.params import ParamsMismatchError, param_shapes

DIGITS_MODEL = 'cifar_resnet20_v2_atac'
NEW_CLASSES = {'zero': 0, 'three': 3, 'seven': 7}   # class folder -> digit
# the pretrained digits checkpoint's classifier; everything else is the backbone
CLASSIFIER = ['output.weight', 'output.bias']


def _digits_folder(root, train_per_class=100):
    """A 3-class ImageNet-layout folder (train/<class>/, val/<class>/) of digits PNGs."""
    import cv2
    for split, limit in (('train', train_per_class), ('val', None)):
        images, labels = digits_arrays(split == 'train')
        for name, digit in NEW_CLASSES.items():
            folder = os.path.join(root, split, name)
            os.makedirs(folder)
            for i, image in enumerate(images[labels == digit][:limit]):
                assert cv2.imwrite(os.path.join(folder, '%d.png' % i), image)
    return root


@pytest.fixture(scope='module')
def digits_folder(tmp_path_factory):
    return _digits_folder(str(tmp_path_factory.mktemp('digits3')))


def _finetune_args(folder, save_dir, *extra):
    grey_mean, grey_std = '%g' % (DIGITS_MEAN[0] * 255), '%g' % (DIGITS_STD[0] * 255)
    return ['--model', DIGITS_MODEL, '--use-pretrained', 'digits', '--classes', '3',
            '--data-dir', folder, '--input-size', '32', '--crop-ratio', '1',
            '--rgb-mean', ','.join([grey_mean] * 3), '--rgb-std', ','.join([grey_std] * 3),
            '--jitter-param', '0', '--lighting-param', '0', '--min-random-area', '1',
            '--batch-size', '16', '-j', '0', '--lr', '0.1', '--lr-mode', 'cosine',
            '--save-dir', save_dir,
            '--log-interval', '10', '--logging-file', os.path.join(save_dir, 'train.log')] + \
        list(extra)


def _pretrained_digits():
    return {k: v.data().asnumpy() for k, v in
            get_model(DIGITS_MODEL, pretrained='digits')._collect_params_with_prefix().items()}


def test_finetunes_the_digits_checkpoint_onto_three_new_classes(digits_folder, tmp_path,
                                                                train_imagenet):
    save_dir = str(tmp_path)
    result = train_imagenet.main(_finetune_args(digits_folder, save_dir, '--num-epochs', '3',
                                                '--lr-mult-backbone', '0.1'))
    match = result.pretrained
    pretrained = _pretrained_digits()
    assert match.kind == 'model' and match.reset == CLASSIFIER
    assert set(match.kept) == set(pretrained) - set(CLASSIFIER)
    assert result.net.output.weight.shape == (3, 64)
    params = result.net._collect_params_with_prefix()
    assert {params[k].lr_mult for k in match.kept} == {0.1}
    assert {params[k].lr_mult for k in CLASSIFIER} == {1.0}
    assert 1 - result.best_err >= 0.95          # 108 validation images of the new classes
    log = open(os.path.join(save_dir, 'train.log')).read()
    # the kept features do the work: one epoch of 300 images suffices (from scratch, one epoch
    # of all 1,437 digits reached 41 % validation accuracy on the 10 classes)
    first_err = float(re.search(r'\[Epoch 0\] validation: err-top1=([\d.]+)', log).group(1))
    assert first_err <= 0.1
    assert "Fine-tuning from cifar_resnet20_v2_atac's 'digits' pretrained weights (the model, " \
           'classifier re-created for 3 classes)' in log
    assert 'kept %d parameters: features.* (%d)' % (len(match.kept), len(match.kept)) in log
    assert 'reset 2 parameters (initialised): output.weight, output.bias' in log


def test_lr_mult_backbone_zero_freezes_the_kept_layers_also_after_resuming(
        digits_folder, tmp_path, train_imagenet):
    save_dir = str(tmp_path)
    common = _finetune_args(digits_folder, save_dir, '--lr-mult-backbone', '0',
                            '--max-batches', '3', '--save-frequency', '1')
    first = train_imagenet.main(common + ['--num-epochs', '1'])
    pretrained = _pretrained_digits()
    trained = {k: v.data().asnumpy() for k, v in first.net._collect_params_with_prefix().items()}
    frozen = [k for k, p in first.net._collect_params_with_prefix().items()
              if p.grad_req != 'null' and k not in CLASSIFIER]
    assert frozen and all(np.array_equal(trained[k], pretrained[k]) for k in frozen)
    assert not np.allclose(trained['output.weight'], 0)     # initialised, then trained
    second = train_imagenet.main(common + ['--num-epochs', '2', '--resume-from', save_dir,
                                           '--logging-file', os.path.join(save_dir, 'r.log')])
    resumed = open(os.path.join(save_dir, 'r.log')).read()
    assert 'resuming: the weights come from the resumed checkpoint' in resumed
    assert 'Epoch[0]' not in resumed and '[Epoch 1] validation' in resumed
    params = second.net._collect_params_with_prefix()
    assert all(params[k].lr_mult == 0 for k in frozen)
    assert params['output.weight'].lr_mult == 1
    assert all(np.array_equal(params[k].data().asnumpy(), pretrained[k]) for k in frozen)
    assert not np.array_equal(params['output.weight'].data().asnumpy(), trained['output.weight'])


def test_train_cifar_takes_the_same_flags(tmp_path, train_cifar):
    script = train_cifar
    base = ['--save-dir', str(tmp_path), '--limit-train', '32', '--limit-val', '16']
    run = script.start(base + ['--use-pretrained', 'digits'])
    assert run.pretrained.kind == 'model' and run.pretrained.reset == []
    assert set(run.pretrained.kept) == set(_pretrained_digits())
    with pytest.raises(ValueError, match='--lr-mult-backbone 0.1 needs --use-pretrained'):
        script.start(base + ['--lr-mult-backbone', '0.1'])
    with pytest.raises(ValueError, match='--lr-mult-backbone must be >= 0'):
        script.start(base + ['--use-pretrained', 'digits', '--lr-mult-backbone', '-1'])


def _zeros_state(net, size):
    return {k: mx.nd.zeros(s) for k, s in param_shapes(net, (1, 3, size, size)).items()}


# one model per family (and per kind of classifier: Dense, 1x1 convolution, Swin's head)
FAMILY_MODELS = ['cifar_resnet20_v2_atac', 'resnet50_v1b_atac', 'san10_pairwise',
                 'acmix_resnet26', 'acmix_swin_tiny', 'karesnet50_l', 'kamobilenetv2_0.5_l',
                 'atkernel_resnet26_tiny']


@pytest.mark.parametrize('name', FAMILY_MODELS)
def test_every_family_resets_exactly_its_classifier(name):
    size = max(get_model_info(name).min_size, 32)
    source = get_model(name, classes=10)
    target = get_model(name, classes=3)
    before, after = (param_shapes(n, (1, 3, size, size)) for n in (source, target))
    match = match_pretrained(target, _zeros_state(source, size), 3, (1, 3, size, size))
    classifier = [k for k in after if before[k] != after[k]]
    assert match.kind == 'model' and 1 <= len(classifier) <= 2
    assert match.reset == classifier and set(match.kept) == set(after) - set(classifier)


def test_a_classification_checkpoint_fits_a_features_only_network():
    source = get_model('resnet50_v1b_atac', classes=10)
    backbone = get_model('resnet50_v1b_atac', features_only=True)
    match = match_pretrained(backbone, _zeros_state(source, 32), 1000, (1, 3, 32, 32))
    assert match.kind == 'backbone' and match.reset == []
    assert match.unused == ['fc.weight', 'fc.bias']
    assert set(match.kept) == set(param_shapes(backbone, (1, 3, 32, 32)))


class _Detector(HybridBlock):
    """A detector-shaped network: a backbone block and a head."""

    def __init__(self, classes):
        super(_Detector, self).__init__()
        with self.name_scope():
            self.backbone = ToyNet().features
            self.head = nn.Conv2D(classes, 1, in_channels=16)

    def hybrid_forward(self, F, x):
        return self.head(self.backbone(x))


def test_a_classification_checkpoint_fits_a_detectors_backbone(tmp_path):
    classifier = ToyNet(classes=10)
    classifier.initialize(mx.init.Xavier())
    classifier(mx.nd.zeros((1, 3, 32, 32)))
    detector = _Detector(classes=4)
    state = {k: p.data() for k, p in classifier._collect_params_with_prefix().items()}
    match = match_pretrained(detector, state, 4, (1, 3, 32, 32))
    assert match.kind == 'backbone'
    assert match.kept == {'backbone.' + k[len('features.'):]: k for k in state
                          if k.startswith('features.')}
    assert match.reset == ['head.weight', 'head.bias'] and match.unused == CLASSIFIER
    nested = nn.HybridSequential()
    nested.add(_Detector(classes=4))                  # the backbone one level deeper: 0.backbone.
    deeper = match_pretrained(nested, state, 4, (1, 3, 32, 32))
    assert deeper.kept == {'0.' + k: v for k, v in match.kept.items()}
    assert deeper.reset == ['0.head.weight', '0.head.bias']
    detector.initialize()
    apply_pretrained(detector, match, lr_mult=0.1)
    params = detector._collect_params_with_prefix()
    np.testing.assert_array_equal(params['backbone.0.weight'].data().asnumpy(),
                                  state['features.0.weight'].asnumpy())
    assert params['backbone.0.weight'].lr_mult == 0.1 and params['head.weight'].lr_mult == 1


def test_a_checkpoint_of_another_model_is_refused_naming_the_parameter():
    toy = ToyNet(classes=10)
    with pytest.raises(ParamsMismatchError,
                       match=r"matches neither CIFARResNetV2ATAC nor its backbone: parameter "
                             r"'features.0.gamma' of the network is not in the checkpoint"):
        match_pretrained(get_model(DIGITS_MODEL, classes=3), _zeros_state(toy, 32), 3,
                         (1, 3, 32, 32))
    # resnet56's parameters include every one of resnet20's: still another model
    deeper = get_model('cifar_resnet56_v2_atac', classes=10)
    with pytest.raises(ParamsMismatchError, match=r"holds 'features.2.3.bn1.gamma', which the "
                                                  r"network has no place for"):
        match_pretrained(get_model(DIGITS_MODEL, classes=10), _zeros_state(deeper, 32), 10,
                         (1, 3, 32, 32))
    # the same model with another width: the first convolution does not fit
    wide = ToyNet(classes=3, width=16)
    with pytest.raises(ParamsMismatchError, match=r"parameter 'features.0.weight': the network "
                                                  r"needs shape \(8, 3, 3, 3\), the checkpoint "
                                                  r"holds \(16, 3, 3, 3\)"):
        match_pretrained(ToyNet(classes=3), _zeros_state(wide, 32), 3, (1, 3, 32, 32))


def test_missing_pretrained_weights_name_the_file_to_provide(records, tmp_path, train_imagenet,
                                                             toy):
    args = ['--model', toy, '--classes', '3', '--input-size', '32', '--batch-size', '2',
            '--use-rec', '--rec-train', records['rec_train'],
            '--rec-train-idx', records['rec_train_idx'], '--rec-val', records['rec_val'],
            '--rec-val-idx', records['rec_val_idx'],
            '--save-dir', str(tmp_path), '--logging-file', str(tmp_path / 'train.log')]
    with pytest.raises(FileNotFoundError, match='No pretrained imagenet weights for toy_convnet'):
        train_imagenet.main(args + ['--use-pretrained'])
    with pytest.raises(FileNotFoundError, match='missing.params does not exist'):
        train_imagenet.main(args + ['--use-pretrained', str(tmp_path / 'missing.params')])
    assert 'Epoch[' not in open(str(tmp_path / 'train.log')).read()


def test_float16_networks_take_the_weights_in_their_own_dtype():
    source = ToyNet(classes=3)
    state = {k: mx.nd.random.normal(shape=s) for k, s in
             param_shapes(source, (1, 3, 32, 32)).items()}
    net = ToyNet(classes=3)
    net.cast('float16')
    match = match_pretrained(net, state, 3, (1, 3, 32, 32))
    net.initialize()
    apply_pretrained(net, match)
    weight = net._collect_params_with_prefix()['features.0.weight'].data()
    assert weight.dtype == np.float16
    np.testing.assert_array_equal(weight.asnumpy(),
                                  state['features.0.weight'].asnumpy().astype(np.float16))


@pytest.mark.slow
@pytest.mark.parametrize('name', ['resnet50_v1b_atac', 'san10_pairwise', 'acmix_resnet26',
                                  'karesnet50_l', 'atkernel_resnet26_tiny'])
def test_every_family_finetunes_a_saved_checkpoint_onto_more_classes(name, records, tmp_path,
                                                                    train_imagenet):
    size = str(max(get_model_info(name).min_size, 32))
    common = ['--model', name, '--batch-size', '2', '-j', '1', '--input-size', size,
              '--num-epochs', '1', '--max-batches', '1', '--lr', '0.01', '--use-rec',
              '--rec-train', records['rec_train'], '--rec-train-idx', records['rec_train_idx'],
              '--rec-val', records['rec_val'], '--rec-val-idx', records['rec_val_idx']]
    first = str(tmp_path / 'first')
    train_imagenet.main(common + ['--classes', '3', '--save-dir', first,
                                  '--logging-file', str(tmp_path / 'first.log')])
    saved = os.path.join(first, 'imagenet-%s-0.params' % name)
    second = train_imagenet.main(common + ['--classes', '5', '--use-pretrained', saved,
                                           '--lr-mult-backbone', '0.5',
                                           '--save-dir', str(tmp_path / 'second'),
                                           '--logging-file', str(tmp_path / 'second.log')])
    match = second.pretrained
    assert match.kind == 'model' and 1 <= len(match.reset) <= 2
    params = second.net._collect_params_with_prefix()
    assert all(params[k].shape[0] == 5 for k in match.reset)
    assert all(params[k].lr_mult == 0.5 for k in match.kept)
