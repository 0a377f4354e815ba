"""Reading the model card (`model_card.json`) that `export_model` writes beside its files.

The card is the contract between an export and whoever runs it: class names,
input shape and normalization, the dataset's look and the temperature, one
entry per exported format (file name, input/output dtypes and quantization,
verified accuracy) and the SHA-256 of every file. `keras_cnns.export.card`
writes it; this module reads it, so that inference does not depend on the
export machinery.

A card is checked when it is read, since it decides which file is run: its
structure (a wrong field is named), every file it names lies inside its
folder (no `..`, no absolute path) and has a SHA-256 in the card.
"""

import hashlib
import json
import os
import re

MODEL_CARD_FILE = "model_card.json"
EXPORT_REPORT_FILE = "export_report.json"
# The TFLite format `TFLiteClassifier` picks in an export folder, first found first.
PREFERRED_TFLITE_FORMATS = ("int8", "float32", "float16", "dynamic", "mobile_int8", "mobile_float32")
_HASH_CHUNK = 1 << 20
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ModelCardError(ValueError):
    """A model card that is not valid JSON, has the wrong structure, or names a file it must not."""


def read_model_card(folder):
    """The model card in `folder` as a dict, checked; None if the folder has none.

    Raises:
        ModelCardError: If the card is not valid JSON or not a card (the
            message names the field that is wrong).
    """
    path = os.path.join(os.fspath(folder), MODEL_CARD_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as file:
            card = json.load(file)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelCardError(
            f"{path} is not valid JSON ({error}). The export was damaged: export the model again."
        ) from error
    check_card(card, path)
    return card


def check_card(card, path=MODEL_CARD_FILE):
    """Raises `ModelCardError` naming the first field of `card` that is not as `export_model` writes it."""

    def fail(field, expected, value):
        raise ModelCardError(
            f"{path}: {field} must be {expected}; it holds {_short(value)}. The card was edited or "
            "damaged: export the model again."
        )

    if not isinstance(card, dict):
        fail("the card", "a JSON object", card)
    formats = card.get("formats")
    if not isinstance(formats, dict) or not formats:
        fail("'formats'", "an object with one entry per exported format", formats)
    for name, entry in formats.items():
        if not isinstance(entry, dict):
            fail(f"formats.{name}", "an object", entry)
        location = entry.get("file", entry.get("path"))
        if not isinstance(location, str) or not location:
            fail(f"formats.{name}.file", "a file name", location)
    digests = card.get("sha256")
    if not isinstance(digests, dict) or not all(
            isinstance(key, str) and isinstance(value, str) and _SHA256.match(value) for key, value in digests.items()):
        fail("'sha256'", "an object of file names and hex SHA-256 digests", digests)
    names = card.get("class_names")
    if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
        fail("'class_names'", "a list of strings", names)
    card_input = card.get("input", {})
    if not isinstance(card_input, dict):
        fail("'input'", "an object", card_input)
    normalization = card_input.get("normalization")
    if normalization is not None and not (isinstance(normalization, dict) and {"mean", "std"} <= set(normalization)):
        fail("input.normalization", "null or an object with 'mean' and 'std'", normalization)
    calibration = card.get("calibration")
    if calibration is not None and not (isinstance(calibration, dict) and _positive(calibration.get("temperature"))):
        fail("'calibration'", "null or an object with a positive 'temperature'", calibration)


def resolve_tflite_path(path, format=None):
    """Finds the `.tflite` file and model card for a file or an export folder.

    Args:
        path: A `.tflite` file, or a folder written by `export_model` (e.g.
            a model shipped in `saved_models/`).
        format: For a folder, which TFLite format to pick (`"int8"`,
            `"float32"`, `"mobile_int8"`, ...); default: the first of
            `PREFERRED_TFLITE_FORMATS` the card lists.

    Returns:
        `(tflite_path, card, format)`; `card` is None when the file's folder
        holds no model card, and `format` then None too.

    Raises:
        FileNotFoundError: If nothing is at `path`, or a folder has no card.
        ValueError: If the folder's card has no TFLite file of `format`.
        ModelCardError: If the card is malformed or names a file outside
            its folder.
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
        tflite_formats = [name for name, entry in card["formats"].items()
                          if str(entry.get("file", "")).endswith(".tflite")]
        if format is None:
            format = next((name for name in PREFERRED_TFLITE_FORMATS if name in tflite_formats), None)
        if format not in tflite_formats:
            raise ValueError(
                f"{path} holds no TFLite file of format {format!r}; its model card lists "
                f"{tflite_formats}. Pass one of those."
            )
        return card_file(path, card, card["formats"][format]["file"]), card, format
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No model at {path}. Pass a .tflite file or a folder written by `keras-cnns export`."
        )
    folder = os.path.dirname(os.path.abspath(path))
    card = read_model_card(folder)
    if card is None:
        return path, None, None
    name = os.path.basename(path)
    format = next((key for key, entry in card["formats"].items() if entry.get("file") == name), None)
    return path, card, format


def card_file(folder, card, name):
    """The path of a file the card names, which must lie inside `folder` and have a SHA-256 in the card.

    Raises:
        ModelCardError: For an absolute path, one that leaves the folder, or
            a file the card holds no SHA-256 for.
    """
    folder = os.path.realpath(os.fspath(folder))
    if os.path.isabs(name) or name.replace("\\", "/").startswith("/"):
        raise ModelCardError(
            f"The model card in {folder} names the file {name!r}, an absolute path: a card names files "
            "inside its own folder only. Export the model again."
        )
    resolved = os.path.realpath(os.path.join(folder, name))
    if os.path.commonpath([folder, resolved]) != folder:
        raise ModelCardError(
            f"The model card in {folder} names the file {name!r}, which lies outside its folder: a card "
            "names files inside its own folder only. Export the model again."
        )
    relative = os.path.relpath(resolved, folder).replace(os.sep, "/")
    if relative not in card.get("sha256", {}):
        raise ModelCardError(
            f"The model card in {folder} holds no SHA-256 for {relative}, so the file cannot be checked "
            "before it is run. Export the model again."
        )
    return resolved


def sha256_file(path):
    """Hex SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(_HASH_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def check_sha256(path, card):
    """Raises unless the file at `path` has the SHA-256 its card records for it.

    Raises:
        ModelCardError: If the card holds no digest for the file.
        ValueError: If the digests differ, naming both and what to do.
    """
    folder = os.path.dirname(os.path.realpath(path))
    relative = os.path.relpath(os.path.realpath(path), folder).replace(os.sep, "/")
    expected = card.get("sha256", {}).get(relative)
    if expected is None:
        raise ModelCardError(
            f"The model card beside {path} holds no SHA-256 for {relative}, so the file cannot be checked "
            "before it is run. Export the model again."
        )
    actual = sha256_file(path)
    if actual != expected:
        raise ValueError(
            f"{path} has SHA-256 {actual}, but its model card records {expected}: the file "
            "changed after it was exported and verified. Export it again or restore the "
            "original file."
        )


def _positive(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _short(value):
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
