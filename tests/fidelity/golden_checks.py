"""What the golden tests share: running a registered model on converted upstream weights."""
import mxnet as mx

from gluon_convattn.model_zoo import get_model


def run_converted(meta, path, x, hybridize=False, dtype='float32'):
    """``get_model(meta['model'], pretrained=path, **meta['kwargs'])`` on the numpy batch ``x``
    in ``dtype``, hybridized or not; returns numpy."""
    net = get_model(meta['model'], pretrained=path, **meta['kwargs'])
    if dtype != 'float32':
        net.cast(dtype)
    if hybridize:
        net.hybridize()
    return net(mx.nd.array(x, dtype=dtype)).asnumpy()
