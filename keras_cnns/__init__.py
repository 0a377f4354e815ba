"""keras_cnns: classic convolutional networks for Keras 3.

    import keras_cnns
    keras_cnns.list_models("resnet*")
    model = keras_cnns.get_model("resnet20", input_shape=(28, 28, 1), classes=10)
"""

import os

# TensorFlow reads its log level once, when Keras first imports it (just below): set here, before that,
# the default keeps TensorFlow's start-up and TFLite-converter INFO/WARNING lines (dozens per
# conversion) out of the output; TF_CPP_MIN_LOG_LEVEL set by the user wins. (The same default in
# keras_cnns.data and keras_cnns.cli comes too late to take effect.)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

from keras_cnns import blocks  # noqa: E402
from keras_cnns import models  # noqa: E402  (registers every network)
from keras_cnns.registry import ModelInfo, get_model, list_models, model_info, register_model  # noqa: E402

__all__ = ["ModelInfo", "blocks", "get_model", "list_models", "model_info", "models", "register_model"]
