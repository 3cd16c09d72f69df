"""Export a network to ONNX (opset 13, dynamic batch) with MXNet's exporter.

MXNet 1.9's ``mx.onnx.export_model`` converts the hybridized graph; the operators it lacks are
translated by :mod:`gluon_convattn.export.onnx_ops`, which also turns the kernel CustomOps into
their composite subgraphs. The file declares opset 13, the opset the translations are written
for, and its batch dimension is the symbolic ``batch``.
"""
import os
import tempfile

import mxnet as mx

from ..model_zoo import get_model, get_model_info
from . import onnx_ops

__all__ = ['export_onnx', 'INPUT_NAME', 'BATCH_DIM']

INPUT_NAME = 'data'
BATCH_DIM = 'batch'


def _network(net_or_name, params, classes, input_size, model_kwargs):
    """(network, input size) from a name and a .params file, or from a network."""
    if isinstance(net_or_name, mx.gluon.HybridBlock):
        if params is not None or classes is not None or model_kwargs:
            raise ValueError('params, classes and model arguments apply to a model name; a '
                             'network object is exported with the weights it holds')
        if input_size is None:
            raise ValueError('input_size is needed to export a network object (the image '
                             'height and width, e.g. input_size=224)')
        return net_or_name, input_size
    if not isinstance(net_or_name, str):
        raise ValueError('net_or_name must be a registered model name or a HybridBlock, got '
                         '%r' % (type(net_or_name).__name__,))
    info = get_model_info(net_or_name)
    if params is None:
        raise ValueError('params is needed to export %s by name: the .params file of its '
                         'trained weights (an uninitialized network has none)' % info.name)
    if not os.path.isfile(params):
        raise FileNotFoundError('params file %s does not exist' % params)
    net = get_model(info.name, pretrained=params, classes=classes, **model_kwargs)
    return net, info.input_size if input_size is None else input_size


def _check_output(output, overwrite):
    if not str(output).endswith('.onnx'):
        raise ValueError('output must be a .onnx file name, got %r' % (output,))
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise FileNotFoundError('the folder of output %s does not exist; create it first'
                                % output)
    if os.path.exists(output) and not overwrite:
        raise ValueError('output %s exists; pass overwrite=True to replace it'
                         % output)


def _finish_graph(model):
    """Weights only as initializers (MXNet also lists them as inputs); a named batch dim."""
    weights = {w.name for w in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if len(dims):
            dims[0].Clear()
            dims[0].dim_param = BATCH_DIM


def export_onnx(net_or_name, output, params=None, classes=None, input_size=None,
                overwrite=False, **model_kwargs):
    """Export a network to an ONNX file.

    Parameters
    ----------
    net_or_name : str or HybridBlock
        A registered model name (built with ``get_model`` and loaded from ``params``), or an
        initialized network.
    output : str
        The ``.onnx`` file to write; its folder must exist. Written whole or not at all.
    params : str, optional
        The ``.params`` file to load (a model name needs one).
    classes : int, optional
        Number of classes the ``params`` file was trained for (the model's default if None).
    input_size : int, optional
        Image height and width; the model's registered input size if None. The ONNX graph
        takes (batch, 3, input_size, input_size) with a dynamic batch.
    overwrite : bool, default False
        Replace an existing ``output``; otherwise an existing file is an error.
    **model_kwargs
        Passed to ``get_model`` (e.g. ``impl``, ``img_size``).

    Returns
    -------
    str
        ``output``.
    """
    import onnx

    _check_output(output, overwrite)
    net, size = _network(net_or_name, params, classes, input_size, model_kwargs)
    if not isinstance(size, int) or size < 1:
        raise ValueError('input_size must be a positive int, got %r' % (size,))
    shape = (1, 3, size, size)
    net.hybridize()
    net(mx.nd.zeros(shape))   # the network's own input checks, and the cached graph
    folder = os.path.dirname(os.path.abspath(output))
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        prefix = os.path.join(scratch, 'net')
        net.export(prefix)
        raw = os.path.join(scratch, 'raw.onnx')
        with onnx_ops.installed():
            mx.onnx.export_model(prefix + '-symbol.json', prefix + '-0000.params', [shape],
                                 onnx_file_path=raw, dynamic=True,
                                 dynamic_input_shapes=[(None, 3, size, size)])
        model = onnx.load(raw)
        del model.opset_import[:]
        model.opset_import.append(onnx.helper.make_opsetid('', onnx_ops.OPSET))
        _finish_graph(model)
        onnx.checker.check_model(model)
        staged = os.path.join(scratch, 'model.onnx')
        onnx.save(model, staged)
        os.replace(staged, output)
    return output
