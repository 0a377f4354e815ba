"""Export: SavedModel and TFLite files that are proven to give the Keras model's answers.

```python
from keras_cnns.export import export_model

report = export_model("runs/resnet20-fashion_mnist", "exports/resnet20")  # SavedModel, float32, int8
print(report.table())     # size, accuracy, agreement with Keras, latency per format
```

Modules:

* `tflite`: `export_saved_model` (Keras 3 `model.export`), `convert_to_tflite`
  (float32, float16, dynamic-range, full-integer int8; built-in ops only
  unless flex ops are allowed).
* `verify`: the verification rules and the `FormatResult` of each format.
* `latency`: `measure_tflite_latency` and friends.
* `source`: a model, `.keras` file or run directory with its data.
* `card`: `model_card.json`: what the files are, how they were checked, SHA-256.
* `staging`: build in a hidden folder, install by rename.
* `exporter`: `export_model` and `ExportReport`.
"""

from keras_cnns._lazy import lazy_exports

_EXPORTS = {
    "exporter": (
        "DEFAULT_FORMATS", "ExportReport", "FORMATS", "check_formats", "export_model", "file_name",
        "fold_normalization_into",
    ),
    "latency": ("measure_latency", "measure_tflite_latency"),
    "tflite": (
        "DEFAULT_CALIBRATION_SIZE", "QUANTIZATIONS", "UnsupportedOpsError", "convert_to_tflite",
        "export_saved_model", "flex_operators", "tflite_operators",
    ),
    "verify": ("ExportVerificationError", "FLOAT_TOLERANCE", "FormatResult"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
