"""Reading the model card (`model_card.json`) that `export_model` writes beside its files.

The card is the contract between an export and whoever runs it: class names,
input shape and normalization, one entry per exported format (file name,
input/output dtypes and quantization, verified accuracy) and the SHA-256 of
every file. `keras_cnns.export.card` writes it; this module reads it, so that
inference does not depend on the export machinery.
"""

import hashlib
import json
import os

MODEL_CARD_FILE = "model_card.json"
EXPORT_REPORT_FILE = "export_report.json"
# The TFLite format `TFLiteClassifier` picks in an export folder, first found first.
PREFERRED_TFLITE_FORMATS = ("int8", "float32", "float16", "dynamic")
_HASH_CHUNK = 1 << 20


def read_model_card(folder):
    """The model card in `folder` as a dict, or None if the folder has none.

    Raises:
        ValueError: If the card is not valid JSON.
    """
    path = os.path.join(os.fspath(folder), MODEL_CARD_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path} is not valid JSON ({error}). The export was damaged: export the model again."
        ) from error


def resolve_tflite_path(path, format=None):
    """Finds the `.tflite` file and model card for a file or an export folder.

    Args:
        path: A `.tflite` file, or a folder written by `export_model` (e.g.
            a model shipped in `saved_models/`).
        format: For a folder, which TFLite format to pick (`"int8"`,
            `"float32"`, `"float16"`, `"dynamic"`); default: the first of
            `PREFERRED_TFLITE_FORMATS` the card lists.

    Returns:
        `(tflite_path, card, format)`; `card` is None when the file's folder
        holds no model card, and `format` then None too.

    Raises:
        FileNotFoundError: If nothing is at `path`, or a folder has no card.
        ValueError: If the folder's card has no TFLite file of `format`.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        card = read_model_card(path)
        if card is None:
            if os.path.isfile(os.path.join(path, "best.keras")):
                raise FileNotFoundError(
                    f"{path} is a training run (best.keras), not an export. Export it first "
                    f"(keras-cnns export {path} --out DIR) and pass DIR."
                )
            raise FileNotFoundError(
                f"{path} is a folder without {MODEL_CARD_FILE}. Pass a .tflite file, or a "
                "folder written by `keras-cnns export`."
            )
        tflite_formats = [name for name, entry in card.get("formats", {}).items() if entry.get("file", "").endswith(".tflite")]
        if format is None:
            format = next((name for name in PREFERRED_TFLITE_FORMATS if name in tflite_formats), None)
        if format not in tflite_formats:
            raise ValueError(
                f"{path} holds no TFLite file of format {format!r}; its model card lists "
                f"{tflite_formats}. Pass one of those."
            )
        return os.path.join(path, card["formats"][format]["file"]), card, format
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No model at {path}. Pass a .tflite file or a folder written by `keras-cnns export`."
        )
    folder = os.path.dirname(os.path.abspath(path))
    card = read_model_card(folder)
    if card is None:
        return path, None, None
    name = os.path.basename(path)
    format = next((key for key, entry in card.get("formats", {}).items() if entry.get("file") == name), None)
    return path, card, format


def sha256_file(path):
    """Hex SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(_HASH_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def check_sha256(path, card):
    """Raises if the file at `path` does not have the SHA-256 its card records.

    Files the card does not list are not checked.

    Raises:
        ValueError: Naming the file, both digests and what to do.
    """
    folder = os.path.dirname(os.path.abspath(path))
    relative = os.path.relpath(os.path.abspath(path), folder).replace(os.sep, "/")
    expected = card.get("sha256", {}).get(relative)
    if expected is None:
        return
    actual = sha256_file(path)
    if actual != expected:
        raise ValueError(
            f"{path} has SHA-256 {actual}, but its model card records {expected}: the file "
            "changed after it was exported and verified. Export it again or restore the "
            "original file."
        )
