"""Test-time augmentation: a classifier that averages its answers over a few views of each image.

A network trained with flips and small translations answers a little better
when it also sees the flipped and shifted image at test time and the class
probabilities are averaged (David Page's DAWNBench series found it the
largest single gain; airbench uses a flip and one-pixel translations). Here
it is a model wrapper, so that whatever holds the wrapped model, `evaluate`,
`export_model` and the files it writes, holds the views in one graph:

```python
from keras_cnns.train import evaluate, with_test_time_augmentation

tta_model = with_test_time_augmentation(model, "flip")     # 2 views
metrics = evaluate("runs/r20", tta="flip_shift")            # 6 views
```

The views (`TTA_VIEWS`):

* `"flip"`: the image and its mirror image.
* `"flip_shift"`: those two, each also moved one pixel up-left and one pixel
  down-right (reflection-padded): six views.

Only views the network was trained for help: use `"flip"` for a network
trained with random flips (every recipe here), not for digits or text.
"""

import keras
from keras import layers

from keras_cnns.layers import ImageView
from keras_cnns.train.config import TTA_VIEWS
from keras_cnns.validation import check_choice


def with_test_time_augmentation(model, views="flip"):
    """`model` wrapped so that it averages its class probabilities over `views` of each image.

    Args:
        model: A Keras classifier with one image input of a known rank
            (batch, height, width, channels) and one output of class
            probabilities (a softmax output: averaging logits would weigh
            the views differently).
        views: A name of `TTA_VIEWS`.

    Returns:
        A functional `keras.Model` named `<model.name>_tta`, with the same
        input and output shapes, that shares `model`'s weights and saves to
        `.keras` (its `ImageView` layers are registered).

    Raises:
        ValueError: If `views` is unknown, or `model` has more than one input
            or output or an input that is not a batch of images.
    """
    check_choice("views", views, tuple(TTA_VIEWS))
    if len(model.inputs) != 1 or len(model.outputs) != 1 or len(model.inputs[0].shape) != 4:
        raise ValueError(
            f"Test-time augmentation wraps a classifier with one image input (batch, height, width, channels) "
            f"and one output; {model.name!r} has inputs {[tuple(x.shape) for x in model.inputs]} and "
            f"{len(model.outputs)} output(s)."
        )
    inputs = keras.Input(batch_shape=model.inputs[0].shape, dtype=model.inputs[0].dtype, name="images")
    answers = []
    for index, (flip, shift) in enumerate(TTA_VIEWS[views]):
        view = inputs if not flip and shift == (0, 0) else ImageView(flip, shift, name=f"tta_view_{index}")(inputs)
        answers.append(model(view))
    averaged = layers.Average(name="tta_average")(answers)
    return keras.Model(inputs, averaged, name=f"{model.name}_tta")


def tta_views_of(model):
    """The `TTA_VIEWS` name a model built by `with_test_time_augmentation` uses, or None."""
    views = [(layer.flip, tuple(layer.shift)) for layer in model.layers if isinstance(layer, ImageView)]
    for name, table in TTA_VIEWS.items():
        if sorted(views) == sorted(view for view in table if view != (False, (0, 0))):
            return name
    return None


def wrapped_classifier(model):
    """The classifier inside a model built by `with_test_time_augmentation`."""
    inner = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if len(inner) != 1 or tta_views_of(model) is None:
        raise ValueError(f"{model.name!r} is not a model built by with_test_time_augmentation.")
    return inner[0]
