"""keras_cnns: classic convolutional networks for Keras 3.

    import keras_cnns
    keras_cnns.list_models("resnet*")
    model = keras_cnns.get_model("resnet20", input_shape=(28, 28, 1), classes=10)

Importing the package is cheap: names load on first use (`keras_cnns._lazy`),
so the command line starts at once and `keras_cnns.inference` runs exported
files without Keras or TensorFlow. The Keras classes this package saves into
`.keras` files are registered by `keras_cnns.saving`, which is imported as
soon as Keras is: after `import keras_cnns`, `keras.saving.load_model` reads
every file the package writes.

Importing it before Keras also asks TensorFlow for its oneDNN CPU kernels
on x86 CPUs where TensorFlow would leave them off (`keras_cnns._onednn`;
`TF_ENABLE_ONEDNN_OPTS=0` keeps them off).
"""

import importlib.abc
import importlib.util
import sys

from keras_cnns._lazy import lazy_exports
from keras_cnns._onednn import request_onednn

request_onednn()

__version__ = "0.1.0"

_EXPORTS = {"registry": ("ModelInfo", "get_model", "list_models", "min_input_size", "model_info", "register_model")}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted([*_EXPORTS["registry"], "blocks", "models"])


class _RegisterWithKeras(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports `keras_cnns.saving` right after Keras itself finishes importing.

    A one-shot import hook: it finds `keras` with the normal finders, lets
    its loader run, then registers this package's classes. Keras stays
    unimported until someone asks for it.
    """

    def __init__(self):
        self._loader = None

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("keras")
        if spec is None or spec.loader is None:
            return spec
        self._loader, spec.loader = spec.loader, self
        return spec

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        module.__spec__.loader = module.__loader__ = self._loader
        self._loader.exec_module(module)
        importlib.import_module("keras_cnns.saving")


if "keras" in sys.modules:
    importlib.import_module("keras_cnns.saving")
elif not any(isinstance(finder, _RegisterWithKeras) for finder in sys.meta_path):
    sys.meta_path.insert(0, _RegisterWithKeras())
