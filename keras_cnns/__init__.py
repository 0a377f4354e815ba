"""keras_cnns: classic convolutional networks for Keras 3.

    import keras_cnns
    keras_cnns.list_models("resnet*")
    model = keras_cnns.get_model("resnet20", input_shape=(28, 28, 1), classes=10)
"""

import os

# TensorFlow reads its log level once, when Keras first imports it: set here, before that,
# the default keeps TensorFlow's start-up and TFLite-converter INFO/WARNING lines (dozens per
# conversion) out of the output; TF_CPP_MIN_LOG_LEVEL set by the user wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

__all__ = ["ModelInfo", "blocks", "get_model", "list_models", "model_info", "models", "register_model"]

# The names above are loaded on first use (PEP 562), not here: importing Keras
# imports TensorFlow, which takes seconds, and `keras-cnns --help` or
# `keras-cnns train --help` need neither. `import keras_cnns` followed by
# `keras_cnns.get_model(...)` works as before; the registry imports
# `keras_cnns.models` (which registers every network) when it is first asked.
_SUBMODULES = ("blocks", "models")
_REGISTRY_NAMES = ("ModelInfo", "get_model", "list_models", "model_info", "register_model")


def __getattr__(name):
    import importlib

    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _REGISTRY_NAMES:
        return getattr(importlib.import_module(f"{__name__}.registry"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
