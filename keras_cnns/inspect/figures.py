"""`visualize`: from a trained network and an image to PNG files (`keras-cnns visualize`).

Three kinds of picture:

* `"feature-maps"`: one PNG per layer with the channels of its activations.
* `"filters"`: the first convolution's kernels, and for deeper layers the
  input patterns that excite their filters most (gradient ascent).
* `"gradcam"`: the image, its Grad-CAM heat map and the overlay.
"""

import os
import re

import numpy as np

from keras_cnns.data.preprocessing import denormalize
from keras_cnns.inspect import KINDS, features, graph, plots
from keras_cnns.inspect.gradcam import grad_cam
from keras_cnns.inspect.images import prepare_image
from keras_cnns.inspect.source import TrainedModel, load_trained

TEST_IMAGE = re.compile(r"^test:(\d+)$")


def visualize(source, image=None, *, kind, out_dir=None, layers=None, class_index=None):
    """Writes the PNG files of one kind of picture and returns their paths.

    Args:
        source: A run directory, a `.keras` file, or a `TrainedModel`.
        image: An image file (PNG, JPEG, ...), `"test:N"` for the N-th image
            of the run's test split (run directories only), or a pixel array
            `(H, W[, C])` in `[0, 255]`. Not needed for `kind="filters"`.
        kind: `"feature-maps"`, `"filters"` or `"gradcam"`.
        out_dir: Where to write; default `visualize/` next to the model.
        layers: Layer names: for feature maps, the layers to show (default:
            up to four from the first convolution to the Grad-CAM layer);
            for filters, the layers whose patterns to find (default: a middle
            one and the Grad-CAM layer); for Grad-CAM, at most one layer to
            weight (default: found).
        class_index: For Grad-CAM, the class to explain (default: predicted).

    Returns:
        The list of PNG paths written.

    Raises:
        ValueError: On an unknown kind, a missing image, or bad layer names.
        FileNotFoundError: If the model or image file does not exist.

    Example:

    ```python
    visualize("runs/r20", "test:0", kind="gradcam")
    # ['runs/r20/visualize/gradcam_test_0.png']
    ```
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}; received {kind!r}.")
    trained = source if isinstance(source, TrainedModel) else load_trained(source)
    model = graph.as_functional(trained.model)
    if out_dir is None:
        out_dir = os.path.join(os.path.dirname(os.path.abspath(trained.model_path)), "visualize")
    if kind == "filters":
        return _filters(model, trained, out_dir, layers)
    if image is None:
        raise ValueError(
            f"kind={kind!r} needs an image: the path of an image file, or test:N for the N-th "
            "test image of the run's dataset."
        )
    display, x, label = load_image(trained, image)
    if kind == "feature-maps":
        maps = features.feature_maps(model, x, layers)
        return [
            plots.plot_feature_maps(array, os.path.join(out_dir, f"feature_maps_{_file_name(name)}.png"),
                                    title=name)
            for name, array in maps.items()
        ]
    if layers is not None and len(layers) > 1:
        raise ValueError(f"Grad-CAM weights one layer; received layers={list(layers)}.")
    result = grad_cam(model, x, class_index=class_index, layer_name=layers[0] if layers else None)
    names = trained.class_names or [str(i) for i in range(len(result.probabilities))]
    title = (f"{names[result.class_index]} (p={result.probabilities[result.class_index]:.3f}), "
             f"predicted {names[result.predicted_index]}"
             + (f", label {names[label]}" if label is not None else "")
             + f"; layer {result.layer_name}, {result.heatmap.shape[0]}x{result.heatmap.shape[1]}")
    stem = _file_name(image if isinstance(image, str) and TEST_IMAGE.match(image)
                      else os.path.splitext(os.path.basename(os.fspath(image)))[0]
                      if isinstance(image, (str, os.PathLike)) else "image")
    path = os.path.join(out_dir, f"gradcam_{stem}.png")
    return [plots.plot_grad_cam(display, result.upsampled, path, title)]


def load_image(trained, image):
    """`(display uint8 (H, W, C), x float32 (H, W, C), label or None)` for one image.

    Raises:
        ValueError: If `test:N` is asked of a model without a run directory,
            or N is out of range.
    """
    if isinstance(image, str) and TEST_IMAGE.match(image) and not os.path.exists(image):
        return _test_image(trained, int(TEST_IMAGE.match(image).group(1)))
    display, x = prepare_image(image, trained.model, trained.normalization)
    return display, x, None


def _test_image(trained, index):
    from keras_cnns.train.config import TrainConfig
    from keras_cnns.train.trainer import load_bundle

    if trained.config is None:
        raise ValueError(
            f"test:{index} needs the run's config.json to find its dataset, and none is next to "
            f"{trained.model_path}. Pass the path of an image file instead."
        )
    config = TrainConfig.from_dict(trained.config)
    shape = tuple(graph.as_functional(trained.model).inputs[0].shape[1:])
    bundle = load_bundle(config, verbose=0, image_shape=shape)
    if not 0 <= index < bundle.num_test:
        raise ValueError(
            f"test:{index} is out of range: the test split of {config.dataset!r} has "
            f"{bundle.num_test} images (test:0 to test:{bundle.num_test - 1})."
        )
    seen = 0
    for images, labels in bundle.test:
        if index < seen + len(labels):
            x = np.asarray(images[index - seen], dtype=np.float32)
            display = np.clip(np.rint(denormalize(x, bundle.normalization)), 0, 255).astype(np.uint8)
            return display, x, int(labels[index - seen])
        seen += len(labels)
    raise ValueError(f"test:{index} was not found in the test split.")


def _filters(model, trained, out_dir, layers):
    name, kernel = features.first_convolution(model)
    paths = [plots.plot_kernels(kernel, os.path.join(out_dir, f"kernels_{_file_name(name)}.png"), name)]
    if layers is None:
        candidates = features.default_feature_layers(model, count=3)
        layers = candidates[1:] if len(candidates) > 1 else candidates
    for layer in layers:
        patterns, activations = features.filter_patterns(model, layer, normalization=trained.normalization)
        filters = range(len(patterns))
        paths.append(plots.plot_patterns(patterns, filters, activations,
                                         os.path.join(out_dir, f"patterns_{_file_name(layer)}.png"), layer))
    return paths


def _file_name(text):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text))
