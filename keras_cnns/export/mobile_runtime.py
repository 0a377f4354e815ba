"""Running a mobile `.tflite` file as an app does: through MediaPipe's `ImageClassifier`, or LiteRT.

MediaPipe (`pip install 'keras-cnns[mobile]'`) is the real client: it reads
the file's metadata, resizes each image to the input size (bilinear, corners
aligned, no half-pixel offset) and returns the scores with the class names
of the packed label file. Without it, LiteRT runs the file on images resized
the same way (`keras_cnns.inference.photos.point_matrix`), and the class
names are read from the metadata with `keras_cnns.export.tflite_metadata`.
"""

import importlib.util
import statistics
import time

import numpy as np

from keras_cnns.inference.photos import point_matrix
from keras_cnns.inference.runner import TFLiteRunner


def mediapipe_available():
    """Whether MediaPipe's Python package is installed."""
    return importlib.util.find_spec("mediapipe") is not None


def runtime_name(run):
    """The runtime a `run_*` function uses, in words, with its version."""
    import importlib.metadata

    if run is run_mediapipe:
        return f"MediaPipe {importlib.metadata.version('mediapipe')} ImageClassifier (labels read from the file)"
    return (f"ai_edge_litert {importlib.metadata.version('ai-edge-litert')} Interpreter, images resized as MediaPipe "
            "resizes them (MediaPipe not installed)")


def run_mediapipe(content, pixels, *, num_threads=None):
    """Class probabilities of each image through MediaPipe's `ImageClassifier`, and its class names.

    Args:
        content: The mobile `.tflite` file's content.
        pixels: uint8 images `(N, H, W, C)`, or a list of `(H, W, C)` images of any sizes; C 1 or 3.
        num_threads: Unused (MediaPipe chooses).

    Returns:
        `(probabilities (N, classes) float32, class names by index)`.
    """
    import mediapipe as mp
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core.base_options import BaseOptions

    options = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_buffer=content), max_results=-1)
    names = {}
    rows = []
    with vision.ImageClassifier.create_from_options(options) as classifier:
        for image in pixels:
            result = classifier.classify(mp.Image(image_format=mp.ImageFormat.SRGB, data=_rgb(image)))
            row = np.zeros(len(result.classifications[0].categories), np.float32)
            for category in result.classifications[0].categories:
                row[category.index] = category.score
                names[category.index] = category.category_name
            rows.append(row)
    return np.stack(rows), [names[index] for index in range(len(names))]


def run_litert(content, pixels, *, num_threads=None):
    """As `run_mediapipe`, with LiteRT and MediaPipe's resizing."""
    from keras_cnns.export.tflite_metadata import read_metadata

    runner = TFLiteRunner(content, num_threads=num_threads)
    height, width, _ = runner.input_shape
    outputs = np.concatenate([runner.run_raw(resize_as_mediapipe(pixels[start:start + 256], (height, width)))
                              for start in range(0, len(pixels), 256)])
    return outputs.astype(np.float32), read_metadata(content).labels


def resize_as_mediapipe(pixels, size):
    """uint8 RGB images `(N, H, W, C)` at `size`, resized as MediaPipe's image preprocessing resizes."""
    pixels = np.asarray(pixels)
    rows, columns = point_matrix(pixels.shape[1], size[0]), point_matrix(pixels.shape[2], size[1])
    rgb = np.repeat(pixels, 3, axis=-1) if pixels.shape[-1] == 1 else pixels[..., :3]
    resized = np.einsum("hH,nHWc,wW->nhwc", rows, rgb.astype(np.float32), columns, optimize=True)
    return np.clip(np.rint(resized), 0, 255).astype(np.uint8)


def latency(content, num_threads=None, runs=50, warmup=5):
    """Median milliseconds to classify one image: through MediaPipe when installed, else LiteRT at batch 1."""
    runner = TFLiteRunner(content, num_threads=num_threads)
    image = np.random.default_rng(0).integers(0, 256, (1, *runner.input_shape), dtype=np.uint8)
    if not mediapipe_available():
        from keras_cnns.export.latency import measure_latency

        return measure_latency(lambda: runner.invoke(image), runs=runs, warmup=warmup)
    import mediapipe as mp
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core.base_options import BaseOptions

    options = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_buffer=content), max_results=-1)
    picture = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image[0]))
    timings = []
    with vision.ImageClassifier.create_from_options(options) as classifier:
        for index in range(warmup + runs):
            start = time.perf_counter()
            classifier.classify(picture)
            if index >= warmup:
                timings.append(time.perf_counter() - start)
    return statistics.median(timings) * 1000.0


def _rgb(image):
    image = np.asarray(image, np.uint8)
    if image.ndim == 2:
        image = image[..., None]
    return np.ascontiguousarray(np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image[..., :3])
