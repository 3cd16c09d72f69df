"""Parameter and multiply-add counts from the hybridized graph (utils/summary.py)."""
import os
import subprocess
import sys

import mxnet as mx
import pytest

from gluon_convattn import ops
from gluon_convattn.utils import count_params
from gluon_convattn.model_zoo import get_model
from gluon_convattn.utils.summary import count_macs, summarize

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                      'scripts', 'summary.py')


def _costs(sym, shape=(1, 8, 6, 6), **others):
    return count_macs(sym, shape, other_inputs=others)['(network)']


def test_convolution_dense_and_batch_dot_count_their_products():
    x = mx.sym.var('data')
    conv = mx.sym.Convolution(x, num_filter=4, kernel=(3, 3), pad=(1, 1), num_group=2,
                              name='conv')
    assert _costs(conv) == (4 * 6 * 6 * (8 // 2) * 9, 0)
    dense = mx.sym.FullyConnected(mx.sym.flatten(x), num_hidden=5, name='fc')
    assert _costs(dense) == (5 * 8 * 6 * 6, 0)
    rows = x.reshape((-3, 0, 0))                          # (8, 6, 6)
    assert _costs(mx.sym.batch_dot(rows, rows, transpose_a=True)) == (8 * 6 * 6 * 6, 0)


def test_pointwise_counts_as_the_1x1_convolution_it_computes():
    x, w, b = mx.sym.var('data'), mx.sym.var('w'), mx.sym.var('b')
    conv = mx.sym.Convolution(x, w, b, kernel=(1, 1), num_filter=5)
    expected = (5 * 6 * 6 * 8, 0)                         # biases are not counted
    assert _costs(conv, w=(5, 8, 1, 1), b=(5,)) == expected
    assert _costs(ops.pointwise(mx.sym, x, w, b), w=(5, 8, 1, 1), b=(5,)) == expected
    assert _costs(ops.pointwise(mx.sym, x, w), w=(5, 8, 1, 1)) == expected


def test_a_convolution_with_constant_filters_moves_data_and_counts_zero():
    x = mx.sym.var('data')
    shift = mx.sym.BlockGrad(mx.sym.one_hot(mx.sym.arange(0, 8) % 9, depth=9).reshape(
        (8, 1, 3, 3)))
    moved = mx.sym.Convolution(x, shift, kernel=(3, 3), pad=(1, 1), num_filter=8,
                               num_group=8, no_bias=True)
    assert _costs(moved) == (0, 0)
    learned = mx.sym.Convolution(x, mx.sym.var('w'), kernel=(3, 3), pad=(1, 1), num_filter=8,
                                 num_group=8, no_bias=True)
    assert _costs(learned, w=(8, 1, 3, 3)) == (8 * 6 * 6 * 9, 0)


def test_sliding_window_operators_count_what_they_compute():
    x, x2 = mx.sym.var('data'), mx.sym.var('x2')
    w = mx.sym.var('w')
    window = dict(kernel_size=3, padding=1, impl='kernel')
    agg = ops.aggregation(mx.sym, x, w, **window)
    assert _costs(agg, w=(1, 2, 9, 36)) == (8 * 9 * 36, 0)
    dot = ops.local_dot(mx.sym, x, x2, 2, **window)
    assert _costs(dot, x2=(1, 8, 6, 6)) == (8 * 9 * 36, 0)
    sub = ops.subtraction2(mx.sym, x, x2, stride=2, **window)
    assert _costs(sub, x2=(1, 8, 6, 6)) == (0, 8 * 9 * 3 * 3)
    assert _costs(ops.unfold(mx.sym, x, kernel_size=3, padding=1)) == (0, 0)


def test_stages_add_up_to_the_total_and_the_parameter_count():
    rows = summarize('cifar_resnet20_v2_atac')
    total = rows[-1]
    assert total.name == 'total'
    assert total.params == count_params(get_model('cifar_resnet20_v2_atac'), (1, 3, 32, 32))
    assert sum(r.params for r in rows[:-1]) == total.params
    assert sum(r.macs for r in rows[:-1]) == total.macs > 0


def test_san_counts_its_aggregation_and_subtractions():
    pairwise = summarize('san10_pairwise', input_size=128, base_channels=32)[-1]
    patchwise = summarize('san10_patchwise', input_size=128, base_channels=32)[-1]
    assert pairwise.subtractions > 0 and patchwise.subtractions == 0
    assert pairwise.macs > 0 and patchwise.macs > 0


def test_input_below_the_minimum_is_refused():
    with pytest.raises(ValueError, match='input_size must be an int >= 128'):
        summarize('san10_pairwise', input_size=64)


def test_script_prints_the_table():
    done = subprocess.run([sys.executable, SCRIPT, '--model', 'cifar_resnet20_v2_atac'],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1].split()
    assert last[0] == 'total' and last[1] == '306,858'
    bad = subprocess.run([sys.executable, SCRIPT, '--model', 'nope'], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    assert bad.returncode == 2 and 'not a registered model' in bad.stderr


def test_a_multi_output_network_is_counted_over_all_its_outputs():
    rows = {r.name: r for r in summarize('faster_rcnn_fpn_atkernel_resnet50_coco',
                                         input_size=64)}
    assert rows['total'].params == 39821920          # reference.md's learnable count
    # the box head runs on every test proposal: its first FC layer alone is 256*7*7 x 1024
    assert rows['box_features'].macs >= 256 * 7 * 7 * 1024
    assert rows['total'].macs == sum(r.macs for n, r in rows.items() if n != 'total')
