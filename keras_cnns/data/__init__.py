"""Datasets as ready `tf.data` pipelines, augmentation, and pixel preprocessing.

Modules, from raw files to pipelines:

* `idx`: reader for the MNIST / Fashion-MNIST IDX format.
* `folders`: image folders: scan for broken files, read into arrays.
* `sources`: Fashion-MNIST, scikit-learn digits, TensorFlow Datasets and
  folders as in-memory uint8 arrays.
* `splits`: deterministic stratified test / validation / `limit` selection.
* `preprocessing`: the one normalization convention (`normalize`), its
  statistics, channel conversion, resizing and the NaN check.
* `augment`: augmentation recipes built from Keras preprocessing layers.
* `pipeline`: the `tf.data` pipeline over in-memory arrays.
* `loader`: `load_dataset`, tying it together into a `DatasetBundle`;
  `load_arrays` and `bundle_from_arrays`, its two halves (one load, many
  pipelines).

Example:

```python
from keras_cnns.data import load_dataset

bundle = load_dataset("fashion_mnist", batch_size=128)
model.fit(bundle.train, validation_data=bundle.val)
```
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_cnns.data.augment import (  # noqa: E402
    DEFAULT_RECIPES,
    GENERIC_RECIPE,
    RECIPE_KEYS,
    build_augmentation,
)
from keras_cnns.data.folders import ScanReport, scan_image_folder  # noqa: E402
from keras_cnns.data.idx import read_idx, write_idx  # noqa: E402
from keras_cnns.data.loader import (  # noqa: E402
    DatasetArrays,
    DatasetBundle,
    bundle_from_arrays,
    load_arrays,
    load_dataset,
    resize_arrays,
)
from keras_cnns.data.preprocessing import (  # noqa: E402
    check_finite,
    compute_normalization,
    denormalize,
    normalize,
)
from keras_cnns.data.sources import (  # noqa: E402
    FASHION_MNIST_CLASS_NAMES,
    DatasetUnavailableError,
)

__all__ = [
    "DEFAULT_RECIPES",
    "FASHION_MNIST_CLASS_NAMES",
    "GENERIC_RECIPE",
    "RECIPE_KEYS",
    "DatasetArrays",
    "DatasetBundle",
    "DatasetUnavailableError",
    "ScanReport",
    "build_augmentation",
    "bundle_from_arrays",
    "check_finite",
    "compute_normalization",
    "denormalize",
    "load_arrays",
    "load_dataset",
    "resize_arrays",
    "normalize",
    "read_idx",
    "scan_image_folder",
    "write_idx",
]
