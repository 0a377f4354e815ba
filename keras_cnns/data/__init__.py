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
    "augment": ("DEFAULT_RECIPES", "GENERIC_RECIPE", "RECIPE_KEYS", "build_augmentation"),
    "folders": ("ScanReport", "scan_image_folder"),
    "idx": ("read_idx", "write_idx"),
    "loader": (
        "DatasetArrays", "DatasetBundle", "bundle_from_arrays", "load_arrays", "load_dataset", "resize_arrays",
    ),
    "preprocessing": ("check_finite", "compute_normalization", "denormalize", "normalize"),
    "sources": ("DatasetUnavailableError", "FASHION_MNIST_CLASS_NAMES"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
