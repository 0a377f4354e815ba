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

from keras_cnns.export.exporter import (
    DEFAULT_FORMATS,
    FORMATS,
    ExportReport,
    check_formats,
    export_model,
    file_name,
    fold_normalization_into,
)
from keras_cnns.export.latency import measure_latency, measure_tflite_latency
from keras_cnns.export.tflite import (
    DEFAULT_CALIBRATION_SIZE,
    QUANTIZATIONS,
    UnsupportedOpsError,
    convert_to_tflite,
    export_saved_model,
    flex_operators,
    tflite_operators,
)
from keras_cnns.export.verify import FLOAT_TOLERANCE, ExportVerificationError, FormatResult

__all__ = [
    "DEFAULT_CALIBRATION_SIZE",
    "DEFAULT_FORMATS",
    "FLOAT_TOLERANCE",
    "FORMATS",
    "QUANTIZATIONS",
    "ExportReport",
    "ExportVerificationError",
    "FormatResult",
    "UnsupportedOpsError",
    "check_formats",
    "convert_to_tflite",
    "export_model",
    "export_saved_model",
    "file_name",
    "flex_operators",
    "fold_normalization_into",
    "measure_latency",
    "measure_tflite_latency",
    "tflite_operators",
]
