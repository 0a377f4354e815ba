"""Lazy package attributes (PEP 562): a name is imported from its module when first used.

`import keras_cnns` and its sub-packages stay cheap this way: importing
Keras means importing TensorFlow (seconds), and neither the command line's
`--help` nor the LiteRT inference path (`keras_cnns.inference`) needs it.
`from keras_cnns.data import load_dataset` and `keras_cnns.get_model(...)`
work as with eager imports; the module behind a name loads on first access.
"""

import importlib
import importlib.util


def lazy_exports(package, exports):
    """The `__getattr__` and `__dir__` of a package whose names load on first use.

    Args:
        package: The package's `__name__`.
        exports: `{module: names}`, each module relative to `package`
            (`"loader"` for `package + ".loader"`) with the public names it
            defines.

    Returns:
        `(__getattr__, __dir__)`, to assign at the package's top level.

    Example:

    ```python
    __getattr__, __dir__ = lazy_exports(__name__, {"loader": ("load_dataset",)})
    ```
    """

    modules = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name):
        if name not in modules:
            if not name.startswith("_") and importlib.util.find_spec(f"{package}.{name}") is not None:
                return importlib.import_module(f"{package}.{name}")  # A sub-module, e.g. keras_cnns.blocks.
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{modules[name]}"), name)
        setattr(importlib.import_module(package), name, value)  # The next access skips this function.
        return value

    def __dir__():
        return sorted(set(modules) | set(vars(importlib.import_module(package))))

    return __getattr__, __dir__
