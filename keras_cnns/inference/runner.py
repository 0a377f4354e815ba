"""`TFLiteRunner`: one way to run a `.tflite` classifier on a batch of arrays.

It wraps the LiteRT interpreter (`ai_edge_litert.interpreter.Interpreter`;
the deprecated `tf.lite.Interpreter` is not used) and hides what differs
between the float and the quantized files: an int8 file takes int8 inputs and
returns int8 outputs, so inputs are quantized with the input tensor's
`(scale, zero_point)` and outputs dequantized with the output tensor's. The
batch dimension is resized to the number of images, so one file serves any
batch size. Export verification, `TFLiteClassifier` and the latency benchmark
all run models through this class.
"""

import os

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from keras_cnns._quiet import filtered_stderr

# Images per interpreter call when running a large array.
DEFAULT_BATCH_SIZE = 64
# LiteRT's Python interpreter runs on one thread unless told otherwise, and so
# do we: it leaves the other cores to the application. On an idle 2-core CPU,
# 2 threads ran ResNet-20 at batch 1 1.3x (int8) to 1.6x (float32) faster
# (BENCHMARKS.md, benchmarks/bench_export.py): pass num_threads to use them.
DEFAULT_NUM_THREADS = 1
_QUANTIZED_DTYPES = (np.int8, np.uint8, np.int16)


class TFLiteRunner:
    """Runs a single-input, single-output `.tflite` model on numpy batches.

    Args:
        model: Path of a `.tflite` file, or its content as `bytes`.
        num_threads: Interpreter threads; default `DEFAULT_NUM_THREADS` (1).
        xnnpack: Let LiteRT apply its default XNNPACK delegate (default).
            False runs LiteRT's own built-in kernels, for comparisons.

    Raises:
        FileNotFoundError: If `model` is a path that does not exist.
        ValueError: If the file is not a TFLite model, or does not have
            exactly one input and one output.

    Example:

    ```python
    runner = TFLiteRunner("saved_models/lenet5_fashion_mnist/model_int8.tflite")
    probabilities = runner.run(normalized_images)  # float32 in, float32 out
    ```
    """

    def __init__(self, model, *, num_threads=None, xnnpack=True):
        self.source = "<bytes>" if isinstance(model, (bytes, bytearray)) else os.fspath(model)
        num_threads = DEFAULT_NUM_THREADS if num_threads is None else num_threads
        if not isinstance(num_threads, int) or isinstance(num_threads, bool) or num_threads < 1:
            raise ValueError(f"num_threads must be a positive int; received {num_threads!r}.")
        if isinstance(model, (bytes, bytearray)):
            kwargs = dict(model_content=bytes(model))
        else:
            if not os.path.isfile(self.source):
                raise FileNotFoundError(
                    f"No TFLite file at {self.source}. Pass the path of a .tflite file "
                    "written by keras_cnns.export.export_model."
                )
            kwargs = dict(model_path=self.source)
        try:
            resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
            self.interpreter = Interpreter(num_threads=num_threads, experimental_op_resolver_type=resolver, **kwargs)
        except ValueError as error:
            raise ValueError(
                f"{self.source} could not be loaded as a TFLite model ({error}). Check that "
                "the file is a complete .tflite file (its SHA-256 is in model_card.json)."
            ) from error
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(
                f"{self.source} has {len(inputs)} input(s) and {len(outputs)} output(s); "
                "TFLiteRunner runs classifiers with exactly one of each."
            )
        self._input = inputs[0]
        self._output = outputs[0]
        self._batch = None

    @property
    def input_shape(self):
        """`(height, width, channels)` of one input image (batch left out)."""
        signature = self._input.get("shape_signature", self._input["shape"])
        return tuple(int(dim) for dim in signature[1:])

    @property
    def output_shape(self):
        """Shape of one output (batch left out), e.g. `(num_classes,)`."""
        return tuple(int(dim) for dim in self._output["shape"][1:])

    @property
    def input_dtype(self):
        """numpy dtype of the input tensor (float32, or int8 for int8 files)."""
        return np.dtype(self._input["dtype"])

    @property
    def output_dtype(self):
        """numpy dtype of the output tensor."""
        return np.dtype(self._output["dtype"])

    @property
    def input_quantization(self):
        """`(scale, zero_point)` of the input; `(0.0, 0)` for float inputs."""
        scale, zero_point = self._input["quantization"]
        return float(scale), int(zero_point)

    @property
    def output_quantization(self):
        """`(scale, zero_point)` of the output; `(0.0, 0)` for float outputs."""
        scale, zero_point = self._output["quantization"]
        return float(scale), int(zero_point)

    @property
    def is_quantized(self):
        """Whether the file takes quantized (integer) inputs."""
        return self.input_dtype.type in _QUANTIZED_DTYPES

    def quantize_input(self, images):
        """Float images in the model's input scale -> the input tensor's dtype.

        Integer inputs get `round(x / scale + zero_point)`, clipped to the
        dtype's range; an integer input without quantization parameters
        (a mobile file's uint8 pixels) takes the values themselves, rounded
        and clipped; float inputs are cast to float32.
        """
        images = np.asarray(images, dtype=np.float32)
        if not self.is_quantized:
            return images
        scale, zero_point = self.input_quantization
        info = np.iinfo(self.input_dtype)
        quantized = np.rint(images / scale + zero_point) if scale else np.rint(images)
        return np.clip(quantized, info.min, info.max).astype(self.input_dtype)

    def dequantize_output(self, outputs):
        """The output tensor's values as float32 (`(q - zero_point) * scale`)."""
        if self.output_dtype.type not in _QUANTIZED_DTYPES:
            return np.asarray(outputs, dtype=np.float32)
        scale, zero_point = self.output_quantization
        return (outputs.astype(np.float32) - zero_point) * np.float32(scale)

    def run(self, images, *, batch_size=DEFAULT_BATCH_SIZE):
        """Runs the model on float images given in its input scale.

        Args:
            images: Array `(N, height, width, channels)` of float inputs, as
                the Keras model would take them (normalized).
            batch_size: Images per interpreter call.

        Returns:
            float32 array `(N, ...)` of (dequantized) outputs.

        Raises:
            ValueError: If the images do not have the model's input shape.
        """
        images = np.asarray(images)
        self._check_shape(images.shape)
        quantized = self.quantize_input(images)
        return self.dequantize_output(self.run_raw(quantized, batch_size=batch_size))

    def run_raw(self, inputs, *, batch_size=DEFAULT_BATCH_SIZE):
        """Runs already-typed inputs (e.g. int8) and returns raw outputs."""
        self._check_shape(inputs.shape)
        chunks = []
        for start in range(0, len(inputs), batch_size):
            chunks.append(self.invoke(inputs[start : start + batch_size]))
        if not chunks:
            return np.zeros((0, *self._output["shape"][1:]), dtype=self.output_dtype)
        return np.concatenate(chunks)

    def invoke(self, batch):
        """One interpreter call on one batch of typed inputs; returns a copy of the output."""
        self.resize(len(batch))
        self.interpreter.set_tensor(self._input["index"], np.ascontiguousarray(batch, self.input_dtype))
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._output["index"]).copy()

    def resize(self, batch_size):
        """Resizes the input tensor to `batch_size` images (only when it changes)."""
        if self._batch == batch_size:
            return
        self.interpreter.resize_tensor_input(self._input["index"], [batch_size, *self.input_shape])
        with filtered_stderr():  # LiteRT applies its XNNPACK delegate here, and says so on stderr.
            self.interpreter.allocate_tensors()
        self._batch = batch_size

    def operators(self):
        """Names of the interpreter's nodes: the model's operators, plus one `DELEGATE` per XNNPACK partition."""
        self.resize(self._batch or 1)
        return [op["op_name"] for op in self.interpreter._get_ops_details()]

    def _check_shape(self, shape):
        if len(shape) != 4 or tuple(shape[1:]) != self.input_shape:
            raise ValueError(
                f"{self.source} takes images of shape (N, {', '.join(map(str, self.input_shape))}); "
                f"received an array of shape {tuple(shape)}. Resize and convert the images "
                "first (TFLiteClassifier does it for image files and arrays of any size)."
            )
