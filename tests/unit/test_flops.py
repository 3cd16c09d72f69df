"""utils.flops.count_macs: multiply-adds of convolutions, dense layers and batch_dot."""
import mxnet as mx
from mxnet.gluon import nn
from mxnet.gluon.block import HybridBlock

from gluon_convattn.utils.flops import count_macs


class _Net(HybridBlock):
    def __init__(self, **kwargs):
        super(_Net, self).__init__(**kwargs)
        with self.name_scope():
            self.conv = nn.Conv2D(8, 3, padding=1, groups=2, in_channels=4)
            self.dense = nn.Dense(5, in_units=8 * 6 * 6)

    def hybrid_forward(self, F, x):
        y = F.relu(self.conv(x))                                 # (N, 8, 6, 6)
        tokens = y.reshape((0, 0, -1))                            # (N, 8, 36)
        gram = F.batch_dot(tokens, tokens, transpose_b=True)      # (N, 8, 8), 36 per entry
        return F.broadcast_add(self.dense(y), F.sum(gram, axis=(1, 2)).expand_dims(1))


def test_count_macs_counts_conv_dense_and_batch_dot():
    n = 3
    conv = n * 8 * 6 * 6 * (4 // 2) * 3 * 3
    dense = n * 5 * 8 * 6 * 6
    gram = n * 8 * 8 * 36
    assert count_macs(_Net(), (n, 4, 6, 6)) == conv + dense + gram


def test_count_macs_takes_a_network_returning_a_list():
    class Two(HybridBlock):
        def __init__(self):
            super(Two, self).__init__()
            with self.name_scope():
                self.conv = nn.Conv2D(2, 1, in_channels=3)

        def hybrid_forward(self, F, x):
            return [self.conv(x), x]

    assert count_macs(Two(), (1, 3, 4, 4)) == 2 * 4 * 4 * 3
    net = Two()
    net.initialize()
    assert [o.shape for o in net(mx.nd.zeros((1, 3, 4, 4)))] == [(1, 2, 4, 4), (1, 3, 4, 4)]
