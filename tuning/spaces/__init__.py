"""Search spaces: Keras Tuner hypermodels over the project's builders.

| name | hypermodel | builder |
| --- | --- | --- |
| `resnet` | `ResNetHyperModel` | `keras_cnns.models.build_resnet` |
| `vgg` | `VGGHyperModel` | `keras_cnns.models.build_vgg` |
| `inception` | `InceptionHyperModel` | `keras_cnns.models.build_googlenet` |

Example:

```python
from tuning.spaces import get_space, search_space

hypermodel = get_space("vgg", input_shape=(28, 28, 1), classes=10)
print([hp.name for hp in search_space(hypermodel).space])
```
"""

import difflib
import importlib

from tuning import config
from tuning.spaces.base import (
    CNNHyperModel,
    ParameterCount,
    sample_hyperparameters,
    scaled_recipe,
    search_space,
)
from tuning.spaces.inception import InceptionHyperModel
from tuning.spaces.resnet import ResNetHyperModel
from tuning.spaces.vgg import VGGHyperModel

# Name -> hypermodel class, from the one table of names in `tuning.config`.
SPACES = {name: getattr(importlib.import_module(module), class_name)
          for name, (module, class_name) in config.SPACES.items()}


def get_space(name, input_shape, classes, **kwargs):
    """Builds the hypermodel of a named search space.

    Args:
        name: A key of `SPACES`: `"resnet"`, `"vgg"` or `"inception"`.
        input_shape: `(height, width, channels)` of the images.
        classes: Number of classes.
        **kwargs: The hypermodel's arguments (`epochs`, `fixed`, ranges...).

    Returns:
        A `CNNHyperModel`.

    Raises:
        ValueError: If the name is unknown or an argument is invalid.
    """
    if name not in SPACES:
        close = difflib.get_close_matches(str(name), SPACES, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown search space {name!r}.{hint} The spaces are {sorted(SPACES)}.")
    try:
        return SPACES[name](input_shape, classes, **kwargs)
    except TypeError as error:
        raise ValueError(
            f"Search space {name!r} does not take these arguments: {error}. See "
            f"help(tuning.spaces.{SPACES[name].__name__})."
        ) from error


__all__ = [
    "SPACES",
    "CNNHyperModel",
    "InceptionHyperModel",
    "ParameterCount",
    "ResNetHyperModel",
    "VGGHyperModel",
    "get_space",
    "sample_hyperparameters",
    "scaled_recipe",
    "search_space",
]
