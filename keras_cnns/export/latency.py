"""Latency: milliseconds per image of a `.tflite` file, a SavedModel or a Keras model.

Every measurement is the median over `runs` timed calls after `warmup`
untimed ones, divided by the batch size. Timings on a loaded machine mean
little: compare numbers taken in one run on an idle machine (see
`benchmarks/bench_export.py`).
"""

import statistics
import time

import numpy as np

from keras_cnns.inference.runner import TFLiteRunner
from keras_cnns.validation import check_positive_int

DEFAULT_RUNS = 100
DEFAULT_WARMUP = 10


def measure_tflite_latency(model_content_or_path, *, num_threads=None, runs=DEFAULT_RUNS, batch_size=1,
                           warmup=DEFAULT_WARMUP, xnnpack=True):
    """Median milliseconds per image of a `.tflite` model in the LiteRT interpreter.

    The interpreter is LiteRT's default CPU setup (XNNPACK delegate, with
    its int8 kernels for int8 files) with `num_threads` threads; inputs are
    random values of the input tensor's own dtype, so an int8 file is timed
    without any float conversion at its edges, as an app feeding int8 inputs
    runs it.

    Args:
        model_content_or_path: `.tflite` content (`bytes`) or file path.
        num_threads: Interpreter threads (default 1: at batch 1 on a small
            CNN, more threads cost more in synchronisation than they save).
        runs: Timed interpreter calls.
        batch_size: Images per call; the result is per image.
        warmup: Untimed calls first (XNNPACK packs weights on the first).
        xnnpack: False times LiteRT's built-in kernels without XNNPACK.

    Returns:
        Median latency in milliseconds per image (float).

    Raises:
        ValueError: If `runs` or `batch_size` is not a positive int.

    Example:

    ```python
    ms = measure_tflite_latency(convert_to_tflite(model, "int8", calibration), runs=50)
    ```
    """
    check_positive_int("runs", runs, 50)
    check_positive_int("batch_size", batch_size, 1)
    runner = TFLiteRunner(model_content_or_path, num_threads=num_threads, xnnpack=xnnpack)
    runner.resize(batch_size)
    batch = random_inputs((batch_size, *runner.input_shape), runner.input_dtype)
    return measure_latency(lambda: runner.invoke(batch), runs=runs, warmup=warmup) / batch_size


def measure_latency(call, *, runs=DEFAULT_RUNS, warmup=DEFAULT_WARMUP):
    """Median milliseconds of `call()` over `runs` calls after `warmup` calls.

    Example:

    ```python
    ms = measure_latency(lambda: model(x, training=False))
    ```
    """
    check_positive_int("runs", runs, 50)
    for _ in range(warmup):
        call()
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings) * 1000.0


def random_inputs(shape, dtype, seed=0):
    """Random inputs of a tensor's dtype: full-range integers, or standard-normal floats."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)

