"""Atomic file writes: write to a temporary name, then `os.replace`.

A process killed during a save (SIGKILL, power loss, full disk) leaves the
previous file intact and at most a hidden temporary file, which
`remove_temporary_files` deletes. The temporary file lives in the same
directory as the target, since `os.replace` is only atomic within one file
system, and keeps the target's suffix (Keras checks `.keras` and
`.weights.h5`).
"""

import contextlib
import glob
import json
import os
import uuid

TEMPORARY_MARKER = ".tmp-"


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path; on success it replaces `path`, else is deleted.

    Args:
        path: The final file path.

    Yields:
        A path in the same directory, with the same suffix, to write to.

    Example:

    ```python
    with atomic_path("run/best.keras") as temporary:
        model.save(temporary)
    ```
    """
    directory, name = os.path.split(os.path.abspath(os.fspath(path)))
    os.makedirs(directory, exist_ok=True)
    stem, dot, suffix = name.partition(".")
    temporary = os.path.join(
        directory, f".{stem}{TEMPORARY_MARKER}{os.getpid()}-{uuid.uuid4().hex[:8]}{dot}{suffix}"
    )
    try:
        yield temporary
        _fsync(temporary)
        os.replace(temporary, os.path.join(directory, name))
        _fsync_directory(directory)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_text(path, text):
    """Writes `text` (UTF-8) to `path` atomically."""
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as file:
            file.write(text)


def write_json(path, data):
    """Writes `data` as indented JSON to `path` atomically."""
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path):
    """The JSON content of `path`, or None if the file does not exist.

    Raises:
        ValueError: If the file is not valid JSON, naming it.
    """
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(
            f"{path} is not valid JSON ({error}); it was edited or damaged. Restore it, or delete the folder "
            "and start again."
        ) from None


def save_model(model, path):
    """Saves a whole model (`.keras`, with its optimizer) to `path` atomically."""
    with atomic_path(path) as temporary:
        model.save(temporary)


def save_figure(figure, path):
    """Saves a matplotlib figure as PNG to `path` atomically."""
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=120, bbox_inches="tight")


def atomic_rename(source, target):
    """Moves a finished file over `target` in one step (same file system)."""
    os.replace(source, target)
    _fsync_directory(os.path.dirname(os.path.abspath(os.fspath(target))))


def remove_temporary_files(directory):
    """Deletes temporary files that killed saves left in `directory`.

    Returns:
        The paths removed.
    """
    pattern = os.path.join(glob.escape(os.fspath(directory)), f".*{TEMPORARY_MARKER}*")
    removed = [path for path in glob.glob(pattern) if os.path.isfile(path)]
    for path in removed:
        os.remove(path)
    return removed


def _fsync(path):
    with open(path, "rb") as file:
        os.fsync(file.fileno())


def _fsync_directory(directory):
    # Makes the rename itself durable; not every platform can open directories.
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
