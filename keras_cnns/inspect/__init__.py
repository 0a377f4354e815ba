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
* `gradients`: input gradients on the TensorFlow, JAX and PyTorch backends.
* `correlation`: `Conv2D` is a cross-correlation; a flipped kernel convolves.
* `images`, `source`: one image prepared for a network; a trained network
  with its normalization, from a run directory or a `.keras` file.
* `plots`, `figures`: the PNG files (`visualize`, behind `keras-cnns visualize`).
"""

from keras_cnns._lazy import lazy_exports

_EXPORTS = {
    "correlation": ("CorrelationDemo", "convolve2d", "cross_correlate2d", "demonstrate", "keras_conv2d"),
    "features": ("default_feature_layers", "feature_maps", "filter_patterns", "first_convolution"),
    "gradcam": ("GradCAM", "grad_cam"),
    "graph": ("feature_map_call", "feature_map_calls", "layer_calls"),
    "images": ("prepare_image",),
    "layer_table": ("LayerRow", "LayerTable", "format_layer_table", "layer_table"),
    "plots": ("plot_feature_maps", "plot_grad_cam", "plot_kernels", "plot_patterns"),
    "source": ("TrainedModel", "load_trained"),
    "figures": ("visualize",),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
# What `visualize` draws (here, not in the plotting module, so the command line lists it at once).
KINDS = ("feature-maps", "filters", "gradcam")
__all__ = sorted(["KINDS", *(name for names in _EXPORTS.values() for name in names)])
