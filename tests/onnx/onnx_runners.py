"""Running an exported model in ``onnx.reference`` (main venv) and onnxruntime (second venv).

onnx.reference 1.15 implements BatchNormalization of opsets 9 to 13 as training mode (the
batch's statistics) whenever ``momentum`` is set, and the schema always sets it; inference, as
the operator's spec defines it for a single output, uses the running statistics, so the
evaluator gets that implementation here.
"""
import os
import subprocess

import numpy as np
from onnx.reference import ReferenceEvaluator
from onnx.reference.op_run import OpRun

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ONNX_PYTHON = os.path.join(ROOT, '.venv-onnx', 'bin', 'python')
RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'run_onnxruntime.py')


class BatchNormalization(OpRun):
    """Inference BatchNormalization: (x - mean) / sqrt(var + eps) * scale + bias."""

    op_domain = ''

    def _run(self, x, scale, bias, mean, var, epsilon=None, momentum=None,
             training_mode=None):
        shape = (-1,) + (1,) * (x.ndim - 2)
        eps = 1e-5 if epsilon is None else epsilon
        y = ((x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * scale.reshape(shape)
             + bias.reshape(shape))
        return (y.astype(x.dtype),)


def run_reference(path, data):
    """The first output of ``path`` on input ``data`` in onnx.reference."""
    return ReferenceEvaluator(path, new_ops=[BatchNormalization]).run(None, {'data': data})[0]


def onnxruntime_available():
    return os.path.exists(ONNX_PYTHON)


def run_onnxruntime(path, data, scratch):
    """The first output of ``path`` on ``data`` in onnxruntime, run by the second venv."""
    inputs, outputs = os.path.join(scratch, 'inputs.npz'), os.path.join(scratch, 'outputs.npz')
    np.savez(inputs, data=data)
    subprocess.run([ONNX_PYTHON, RUNNER, path, inputs, outputs], check=True,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with np.load(outputs) as result:
        return result[result.files[0]]


def seed_weights(net, seed=0):
    """Xavier weights, then BatchNorm statistics and affine terms away from their defaults, so
    an export that dropped or misread them would show."""
    import mxnet as mx
    net.initialize(mx.init.Xavier(), force_reinit=True)
    rs = np.random.RandomState(seed)
    for key, param in sorted(net._collect_params_with_prefix().items()):
        if param.shape is None or 0 in param.shape:
            continue
        if key.endswith('running_var'):
            param.set_data(mx.nd.array(rs.uniform(0.5, 1.5, param.shape)))
        elif key.endswith(('running_mean', 'beta')):
            param.set_data(mx.nd.array(rs.normal(0, 0.1, param.shape)))
        elif key.endswith('gamma'):
            param.set_data(mx.nd.array(rs.uniform(0.5, 1.5, param.shape)))
