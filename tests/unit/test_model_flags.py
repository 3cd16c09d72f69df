"""One front end for model arguments: every script that builds a network takes the same
constructor flags (ATAC's and ``--model-kwargs "key=value,..."``), reads them into the same
keyword arguments and refuses a malformed ``--model-kwargs`` with the same message; library
errors about an argument given as a flag name the flag."""
import argparse

import pytest

from gluon_convattn.train import cli

MODEL = 'cifar_resnet20_v2_atac'
# each script with model arguments, and the other arguments its parser requires
SCRIPTS = {
    'train_imagenet': ['--model', MODEL],
    'eval_imagenet': ['--model', MODEL, '--params', 'x.params'],
    'train_cifar': [],
    'visualize_attention': ['--model', MODEL],
    'train_faster_rcnn': [],
    'eval_faster_rcnn': ['--pretrained', 'x.params'],
    'convert_weights': ['--model', MODEL, '--src', 'x.pth', '--dst', 'x.params'],
    'export_onnx': ['--model', MODEL, '--params', 'x.params', '--output', 'x.onnx'],
    'summary': ['--model', MODEL],
    'profile_model': ['--model', MODEL],
}
# the scripts whose parsing is a function of its own (the others parse inside main)
PARSERS = ('train_imagenet', 'eval_imagenet', 'train_cifar', 'visualize_attention',
           'train_faster_rcnn', 'eval_faster_rcnn', 'convert_weights')


def _parse(module, argv):
    args = getattr(module, 'parse_args', module.main)(argv)
    return args[1] if isinstance(args, tuple) else args     # convert_weights: (parser, args, ..)


@pytest.mark.parametrize('script', sorted(SCRIPTS))
def test_every_script_refuses_malformed_model_kwargs_alike(load_script, capsys, script):
    module = load_script(script)
    for value, item in (('{"r": 2}', '\'{"r": 2}\''), ('r=2,oops', "'oops'")):
        with pytest.raises(SystemExit) as info:
            _parse(module, SCRIPTS[script] + ['--model-kwargs', value])
        assert info.value.code == 2
        assert ('error: argument --model-kwargs: give key=value pairs separated by commas, e.g. '
                '"r=2,layers=[1,2,4,1]"; cannot read %s' % item) in capsys.readouterr().err


@pytest.mark.parametrize('script', PARSERS)
def test_every_script_reads_the_same_constructor_arguments(load_script, script):
    args = _parse(load_script(script), SCRIPTS[script] + [
        '--model-kwargs', "impl=composite,layers=[1, 2],name='a,b'", '--r', '4', '--no-useReLU',
        '--act-order', 'pre'])
    assert cli.constructor_kwargs(args) == {'impl': 'composite', 'layers': [1, 2],
                                            'name': 'a,b', 'r': 4, 'useReLU': False,
                                            'act_order': 'pre'}
    none_given = _parse(load_script(script), SCRIPTS[script])
    assert cli.constructor_kwargs(none_given) == {}


def _args(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument('--input-size', type=int)
    cli.add_constructor_args(parser)
    return parser.parse_args(argv)


@pytest.mark.parametrize('argv,message,spelled', [
    (['--act-layers', '7'], 'act_layers must be an int in 0..4, got 7',
     '--act-layers must be an int in 0..4, got 7'),
    (['--r', '3'], 'ChaATAC: r=3 must divide channels=16',
     'ChaATAC: --r 3 must divide channels=16'),
    ([], 'input_size 8 does not fit X', '--input-size 8 does not fit X'),
    (['--model-kwargs', 'r=3'], 'ChaATAC: r=3 must divide channels=16',
     'ChaATAC: r=3 must divide channels=16 (from --model-kwargs)'),
    ([], 'act_layers must be an int', 'act_layers must be an int'),      # not given as a flag
    ([], 'dtype float16 needs a GPU', 'dtype float16 needs a GPU'),      # no such flag here
])
def test_library_errors_name_the_flag_that_gave_the_argument(argv, message, spelled):
    with pytest.raises(ValueError) as info:
        with cli.flag_errors(_args(argv)):
            raise ValueError(message)
    assert str(info.value) == spelled


def test_a_family_flag_and_model_kwargs_may_not_both_set_an_argument():
    with pytest.raises(ValueError, match='--act-layers and --model-kwargs both set act_layers'):
        cli.constructor_kwargs(_args(['--act-layers', '2', '--model-kwargs', 'act_layers=3']))


def test_underscore_names_and_assignments_in_the_message_are_spelled_as_flags_too():
    parser = argparse.ArgumentParser()
    for name in ('--warmup-epochs', '--num-epochs', '--classes'):
        parser.add_argument(name, type=int)
    parser.add_argument('--skip-invalid-boxes', action='store_true')
    args = parser.parse_args([])
    for message, spelled in (
            ('warmup_epochs must be between 0 and num_epochs (3), got 5',
             '--warmup-epochs must be between 0 and --num-epochs (3), got 5'),
            ('classes=80, but a.json has 3 categories (a, b, c); pass classes=3',
             '--classes 80, but a.json has 3 categories (a, b, c); pass --classes 3'),
            ('box 3 lies outside; fix the json or pass skip_invalid_boxes=True',
             'box 3 lies outside; fix the json or pass --skip-invalid-boxes'),
            ('a network with 10 classes', 'a network with 10 classes'),     # prose stays
            ('/runs/num_epochs/x.params: no such file, nor num_epochs.json',   # paths stay
             '/runs/num_epochs/x.params: no such file, nor num_epochs.json')):
        assert cli.spell_as_flags(message, args) == spelled


def test_a_script_names_its_flag_for_a_library_error(load_script, tmp_path):
    params, image = tmp_path / 'x.params', tmp_path / 'x.jpg'
    params.write_bytes(b'')
    image.write_bytes(b'')
    with pytest.raises(ValueError, match=r"^--gpus 99: MXNet sees \d+ GPU\(s\); pass --gpus '' "
                                         "to run on the CPU"):
        load_script('demo_faster_rcnn').main(['--pretrained', str(params), '--images',
                                              str(image), '--gpus', '99'])
