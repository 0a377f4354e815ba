"""Running exported models: `TFLiteClassifier` and the pieces it is made of.

```python
from keras_cnns.inference import TFLiteClassifier

classifier = TFLiteClassifier("saved_models/lenet5_fashion_mnist")
print(classifier.top_k("boot.jpg", k=3))
```

Modules:

* `runner`: `TFLiteRunner`, the one place a `.tflite` file is run (LiteRT
  interpreter, int8 quantization of inputs and outputs, any batch size).
* `images`: image files, PIL images and arrays of any size -> model-sized
  pixel batches, with clear errors for bad input.
* `model_card`: reading `model_card.json`, finding a format's file, SHA-256.
* `classifier`: `TFLiteClassifier`.
"""

from keras_cnns._lazy import lazy_exports

_EXPORTS = {
    "classifier": ("TFLiteClassifier",),
    "images": ("read_image_file", "to_pixel_batch"),
    "model_card": ("MODEL_CARD_FILE", "check_sha256", "read_model_card", "resolve_tflite_path", "sha256_file"),
    "runner": ("TFLiteRunner",),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
