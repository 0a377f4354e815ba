"""The model card (`model_card.json`) and the export report (`export_report.json`).

The card says everything needed to use and to trust the exported files:
architecture and dataset, class names, input shape and normalization, per
format the file, its dtypes and quantization parameters, verified accuracy
and agreement with Keras, the verification rule, the SHA-256 of every file,
the library versions and the command that produced it. `TFLiteClassifier`
reads class names and preprocessing from it (`keras_cnns.inference.model_card`).
"""

import datetime
import importlib.metadata
import os
import platform

from keras_cnns.inference.model_card import MODEL_CARD_FILE, sha256_file
from keras_cnns.train import atomic

CARD_VERSION = 2
PHOTO_PREPARATION = ("keras_cnns.inference.photos.prepare_photo with dataset_look: a background of the other "
                     "polarity is negated and its level matched, the object is cut out, centred as the dataset's "
                     "objects are and sharpened; an image that already looks like the dataset's is only resized")
_VERSIONED_PACKAGES = ("keras-cnns", "keras", "tensorflow", "ai-edge-litert", "numpy")


def library_versions():
    """Versions of the packages an export depends on, and of Python."""
    versions = {}
    for package in _VERSIONED_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    versions["python"] = platform.python_version()
    versions["platform"] = f"{platform.platform()}, {os.cpu_count()} CPU cores"
    return versions


def file_digests(folder, exclude=(MODEL_CARD_FILE,)):
    """SHA-256 of every file below `folder`, keyed by `/`-separated relative path."""
    digests = {}
    for root, _, files in os.walk(folder):
        for name in sorted(files):
            path = os.path.join(root, name)
            relative = os.path.relpath(path, folder).replace(os.sep, "/")
            if relative not in exclude:
                digests[relative] = sha256_file(path)
    return dict(sorted(digests.items()))


def folder_size(path):
    """Bytes of a file, or of every file below a folder."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, files in os.walk(path) for name in files)


def build_model_card(*, name, architecture, dataset, class_names, image_shape, normalization,
                     normalization_folded, output_activation, keras_summary, results, verification,
                     command, digests, look=None, calibration=None, test_time_augmentation=None):
    """Assembles the card dict (see the module docstring for its parts)."""
    if normalization is None:
        preprocessing = "pixels in [0, 255] as float32, no normalization"
    elif normalization_folded:
        preprocessing = ("pixels in [0, 255] as float32; the graph computes (pixels / 255 - mean) / std "
                         "itself (normalization folded in)")
    else:
        preprocessing = "x = (pixels / 255 - mean) / std, per channel, pixels in [0, 255]"
    return {
        "model_card_version": CARD_VERSION,
        "name": name,
        "architecture": architecture,
        "dataset": dataset,
        "class_names": list(class_names),
        "input": {
            "shape": list(image_shape),
            "batch": "any (the batch dimension is free in every format)",
            "layout": "channels last (height, width, channels)",
            "normalization": normalization,
            "normalization_folded": bool(normalization_folded),
            "preprocessing": preprocessing,
            "dataset_look": None if look is None else look.to_dict(),
            "photo_preparation": PHOTO_PREPARATION if look is not None else "none: the dataset's images are not "
                                 "one object on a plain background",
        },
        "output": {"classes": len(class_names), "activation": output_activation},
        "calibration": None if calibration is None else calibration.to_dict(),
        # The views every file averages over (keras_cnns.train.tta), or None.
        "test_time_augmentation": test_time_augmentation,
        "keras": keras_summary,
        "formats": {result.format: format_entry(result) for result in results},
        "verification": verification,
        "sha256": digests,
        "versions": library_versions(),
        "command": command,
        "created_utc": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
    }


def format_entry(result):
    """The card's entry for one format."""
    key = "path" if result.format == "saved_model" else "file"
    entry = {key: result.path, "size_bytes": result.size_bytes}
    entry.update(result.details)
    entry.update(
        accuracy=result.accuracy,
        top1_agreement_with_keras=result.agreement,
        max_abs_diff=result.max_abs_diff,
        compared_with=result.reference,
        rule=result.rule,
        verified=result.passed,
        latency_ms_per_image=result.latency_ms,
    )
    if result.accuracy_drop is not None:
        entry["accuracy_drop_vs_keras"] = result.accuracy_drop
    if result.max_abs_diff_to_keras is not None:
        entry["max_abs_diff_to_unrounded_keras"] = result.max_abs_diff_to_keras
    if result.note:
        entry["note"] = result.note
    return entry


def write_model_card(folder, card):
    """Writes `model_card.json` into `folder` atomically; returns its path."""
    path = os.path.join(folder, MODEL_CARD_FILE)
    atomic.write_json(path, card)
    return path
