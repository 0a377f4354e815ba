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

from keras_cnns._lazy import lazy_exports

_EXPORTS = {
    "CorrelationDemo": "correlation",
    "GradCAM": "gradcam",
    "KINDS": "visualize",
    "LayerRow": "layer_table",
    "LayerTable": "layer_table",
    "TrainedModel": "source",
    "convolve2d": "correlation",
    "cross_correlate2d": "correlation",
    "default_feature_layers": "features",
    "demonstrate": "correlation",
    "feature_map_call": "graph",
    "feature_map_calls": "graph",
    "feature_maps": "features",
    "filter_patterns": "features",
    "first_convolution": "features",
    "format_layer_table": "layer_table",
    "grad_cam": "gradcam",
    "keras_conv2d": "correlation",
    "layer_calls": "graph",
    "layer_table": "layer_table",
    "load_trained": "source",
    "plot_feature_maps": "plots",
    "plot_grad_cam": "plots",
    "plot_kernels": "plots",
    "plot_patterns": "plots",
    "prepare_image": "images",
    "visualize": "visualize",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
