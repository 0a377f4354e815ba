"""Hyperparameter search over depth, width and training with Keras Tuner.

* `tuning.spaces`: the search spaces, Keras Tuner hypermodels that call the
  project's builders (`ResNetHyperModel`, `VGGHyperModel`,
  `InceptionHyperModel`), with the training hyperparameters (learning rate,
  weight decay, batch size, augmentation strength) and conditional ones.
* `tuning.objectives`: MnasNet's accuracy-latency (or size) trade-off,
  measured on the exported TFLite model.
* `tuning.oracles`, `tuning.tuner`: Keras Tuner's oracles and tuner with a
  time budget, failure handling, checkpoint pruning and per-trial records.
* `tuning.results`: the results table and plots.
* `tuning.job`: `run_search(SearchConfig)`, the resumable search job
  behind `keras-cnns tune` (single process, or Keras Tuner's chief and
  workers).

The hypermodels also work on their own with any Keras Tuner tuner:

```python
import keras_tuner
from keras_cnns.data import load_arrays
from tuning import VGGHyperModel

data = load_arrays("digits")
hypermodel = VGGHyperModel(data.image_shape, len(data.class_names), dataset="digits")
tuner = keras_tuner.RandomSearch(hypermodel, objective="val_accuracy", max_trials=5,
                                 directory="runs", project_name="vgg-digits")
tuner.search(*data.train, validation_data=data.val, epochs=3)
```
"""

from keras_cnns._lazy import lazy_exports

_EXPORTS = {
    "config": ("SearchConfig",),
    "job": ("SearchResult", "run_search"),
    "objectives": ("ResourceConstraint", "ResourceScore"),
    "spaces": (
        "CNNHyperModel", "InceptionHyperModel", "ResNetHyperModel", "SPACES", "VGGHyperModel", "get_space",
        "sample_hyperparameters", "search_space",
    ),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
