"""Run an ONNX file in onnxruntime: ``run_onnxruntime.py MODEL.onnx INPUTS.npz OUTPUTS.npz``.

Runs in the second virtualenv (``make .venv-onnx``: onnxruntime needs numpy >= 1.24, MXNet 1.9
numpy < 1.24). The inputs file maps graph input names to arrays; the outputs file gets the
graph's outputs under their names.
"""
import sys

import numpy as np
import onnxruntime


def main(model, inputs, outputs):
    session = onnxruntime.InferenceSession(model, providers=['CPUExecutionProvider'])
    with np.load(inputs) as feed:
        results = session.run(None, {name: feed[name] for name in feed.files})
    names = [o.name for o in session.get_outputs()]
    np.savez(outputs, **dict(zip(names, results)))


if __name__ == '__main__':
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
