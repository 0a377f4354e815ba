"""ONNX: Keras' own `model.export(path, format="onnx")`, run back with ONNX Runtime.

An optional format (`pip install 'keras-cnns[onnx]'`: `tf2onnx`, `onnx`,
`onnxruntime`); on the TensorFlow backend Keras converts through `tf2onnx`.
The file takes float32 `(N, H, W, C)` model inputs, like the SavedModel.
"""

import os
import shutil
import tempfile

import numpy as np

from keras_cnns.export.latency import measure_latency

_BATCH = 256


def export_onnx(model, path):
    """Writes `model` as an ONNX file at `path` (under a temporary name first)."""
    model(np.zeros((1, *model.input_shape[1:]), np.float32))  # Keras exports only a model that has been called.
    folder = tempfile.mkdtemp(prefix=".onnx-", dir=os.path.dirname(os.path.abspath(path)))
    try:
        temporary = os.path.join(folder, "model.onnx")
        model.export(temporary, format="onnx", verbose=False)
        os.replace(temporary, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return path


def _session(path):
    import onnxruntime

    return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])


def run_onnx(path, images):
    """Outputs of the ONNX file on float32 images, batch by batch, as float32 numpy."""
    session = _session(path)
    name = session.get_inputs()[0].name
    images = np.asarray(images, np.float32)
    return np.concatenate([session.run(None, {name: images[start:start + _BATCH]})[0]
                           for start in range(0, len(images), _BATCH)]).astype(np.float32)


def describe(path):
    """Card facts: opset, input and output."""
    import onnx

    model = onnx.load(path)
    session = _session(path)
    tensor = session.get_inputs()[0]
    output = session.get_outputs()[0]
    return {"opset": int(model.opset_import[0].version), "runs_with": "onnxruntime (CPUExecutionProvider)",
            "input": {"name": tensor.name, "dtype": "float32", "shape": [None, *tensor.shape[1:]]},
            "output": {"name": output.name, "shape": [None, *output.shape[1:]]}}


def latency(path, image_shape, runs=50):
    """Median milliseconds per image at batch 1 in ONNX Runtime."""
    session = _session(path)
    name = session.get_inputs()[0].name
    image = np.zeros((1, *image_shape), np.float32)
    return measure_latency(lambda: session.run(None, {name: image}), runs=runs)
