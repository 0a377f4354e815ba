"""Seeing inside a network: the layer table, feature maps, filters, Grad-CAM.

```python
import keras_cnns
from keras_cnns import inspect

print(inspect.layer_table(keras_cnns.get_model("vgg16")))   # shapes, params, MACs, RF, stride

trained = inspect.load_trained("runs/r20")                  # run directory or .keras file
display, x = inspect.prepare_image("shirt.png", trained.model, trained.normalization)
cam = inspect.grad_cam(trained.model, x)                     # finds the last conv layer
inspect.visualize("runs/r20", "shirt.png", kind="gradcam")   # writes PNGs, returns paths
```

Modules:

* `layer_table`: output shape, parameters, MACs, receptive field and
  effective stride per layer (`keras-cnns summary`).
* `graph`: the model's own layer calls; the last feature map (for Grad-CAM,
  and where `keras_cnns.transfer` cuts a backbone).
* `features`: feature maps, first-layer kernels, gradient-ascent patterns.
* `gradcam`: Grad-CAM heat maps.
* `gradients`: input gradients on the TensorFlow and JAX backends.
* `correlation`: `Conv2D` is a cross-correlation; a flipped kernel convolves.
* `images`, `source`: one image prepared for a network; a trained network
  with its normalization, from a run directory or a `.keras` file.
* `plots`, `visualize`: the PNG files (`keras-cnns visualize`).
"""

from keras_cnns.inspect.correlation import (
    CorrelationDemo,
    convolve2d,
    cross_correlate2d,
    demonstrate,
    keras_conv2d,
)
from keras_cnns.inspect.features import (
    default_feature_layers,
    feature_maps,
    filter_patterns,
    first_convolution,
)
from keras_cnns.inspect.gradcam import GradCAM, grad_cam
from keras_cnns.inspect.graph import feature_map_call, feature_map_calls, layer_calls
from keras_cnns.inspect.images import prepare_image
from keras_cnns.inspect.layer_table import LayerRow, LayerTable, format_layer_table, layer_table
from keras_cnns.inspect.plots import plot_feature_maps, plot_grad_cam, plot_kernels, plot_patterns
from keras_cnns.inspect.source import TrainedModel, load_trained
from keras_cnns.inspect.visualize import KINDS, visualize

__all__ = [
    "KINDS",
    "CorrelationDemo",
    "GradCAM",
    "LayerRow",
    "LayerTable",
    "TrainedModel",
    "convolve2d",
    "cross_correlate2d",
    "default_feature_layers",
    "demonstrate",
    "feature_map_call",
    "feature_map_calls",
    "feature_maps",
    "filter_patterns",
    "first_convolution",
    "format_layer_table",
    "grad_cam",
    "keras_conv2d",
    "layer_calls",
    "layer_table",
    "load_trained",
    "plot_feature_maps",
    "plot_grad_cam",
    "plot_kernels",
    "plot_patterns",
    "prepare_image",
    "visualize",
]
