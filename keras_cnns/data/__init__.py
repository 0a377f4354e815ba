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

from keras_cnns._lazy import lazy_exports

_EXPORTS = {
    "DEFAULT_RECIPES": "augment",
    "DatasetArrays": "loader",
    "DatasetBundle": "loader",
    "DatasetUnavailableError": "sources",
    "FASHION_MNIST_CLASS_NAMES": "sources",
    "GENERIC_RECIPE": "augment",
    "RECIPE_KEYS": "augment",
    "ScanReport": "folders",
    "build_augmentation": "augment",
    "bundle_from_arrays": "loader",
    "check_finite": "preprocessing",
    "compute_normalization": "preprocessing",
    "denormalize": "preprocessing",
    "load_arrays": "loader",
    "load_dataset": "loader",
    "normalize": "preprocessing",
    "read_idx": "idx",
    "resize_arrays": "loader",
    "scan_image_folder": "folders",
    "write_idx": "idx",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
