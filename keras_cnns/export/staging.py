"""Writing an export folder so that a failure never leaves a half-written model.

An export is built in a hidden sibling folder (`.NAME.tmp-PID-XXXXXXXX`),
verified there, and only then moved into place with renames:

* `out_dir` does not exist: one rename makes it appear, complete.
* `out_dir` holds an earlier export: it is renamed to `.NAME.old-...`, the
  new one is renamed in, and the old one deleted. A process killed between
  the two renames leaves `out_dir` absent and the old export intact under the
  hidden name; the next export of `out_dir` puts it back before starting.

Folders left by killed exports are removed by the next export to the same
place. A folder that holds anything but an earlier export (no
`model_card.json`, or a run directory) is never replaced.
"""

import contextlib
import os
import shutil
import tempfile
import uuid

from keras_cnns.inference.model_card import MODEL_CARD_FILE
from keras_cnns.train.atomic import TEMPORARY_MARKER, atomic_rename

OLD_MARKER = ".old-"


@contextlib.contextmanager
def staged_export_folder(out_dir):
    """Yields a fresh hidden folder to write the export into; installs it as `out_dir` on success.

    Args:
        out_dir: The export folder. It must not exist, be empty, or hold an
            earlier export (a `model_card.json`).

    Yields:
        The path of the staging folder.

    Raises:
        ValueError: If `out_dir` holds files that are not an export.
    """
    out_dir = os.path.abspath(os.fspath(out_dir))
    parent, name = os.path.split(out_dir)
    os.makedirs(parent, exist_ok=True)
    recover_interrupted_export(out_dir)
    check_replaceable(out_dir)
    staging = os.path.join(parent, f".{name}{TEMPORARY_MARKER}{os.getpid()}-{uuid.uuid4().hex[:8]}")
    os.makedirs(staging)
    try:
        yield staging
        install(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def install(staging, out_dir):
    """Moves a finished staging folder to `out_dir`, replacing an earlier export."""
    if os.path.isdir(out_dir) and not os.listdir(out_dir):
        os.rmdir(out_dir)
    if not os.path.exists(out_dir):
        atomic_rename(staging, out_dir)
        return
    parent, name = os.path.split(out_dir)
    old = os.path.join(parent, f".{name}{OLD_MARKER}{os.getpid()}-{uuid.uuid4().hex[:8]}")
    atomic_rename(out_dir, old)
    atomic_rename(staging, out_dir)
    shutil.rmtree(old, ignore_errors=True)


def recover_interrupted_export(out_dir):
    """Restores or removes what killed exports of `out_dir` left behind.

    Returns:
        The hidden folders removed (and the one restored, if any).
    """
    parent, name = os.path.split(os.path.abspath(os.fspath(out_dir)))
    if not os.path.isdir(parent):
        return []
    touched = []
    leftovers = sorted(entry for entry in os.listdir(parent) if entry.startswith(f".{name}{OLD_MARKER}"))
    for entry in leftovers:
        path = os.path.join(parent, entry)
        if not os.path.exists(out_dir) and _pid_of(entry) is not None and not _alive(_pid_of(entry)):
            atomic_rename(path, out_dir)  # Killed between the two renames of `install`.
        else:
            shutil.rmtree(path, ignore_errors=True)
        touched.append(path)
    for entry in os.listdir(parent):
        if entry.startswith(f".{name}{TEMPORARY_MARKER}"):
            pid = _pid_of(entry)
            if pid is not None and not _alive(pid):
                shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)
                touched.append(os.path.join(parent, entry))
    return touched


def check_writable(out_dir):
    """Raises unless the export folder's parent can be created and written into (probed with a temporary folder).

    Raises:
        ValueError: Naming the folder and what the file system said.
    """
    parent = os.path.dirname(os.path.abspath(os.fspath(out_dir)))
    try:
        os.makedirs(parent, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(prefix=".keras_cnns-write-test-", dir=parent))
    except OSError as error:
        raise ValueError(
            f"Cannot write the export {out_dir}: {parent} cannot be written into ({error.strerror or error}). "
            "Pass an --out in a folder you can write."
        ) from None


def check_replaceable(out_dir):
    """Raises unless `out_dir` is absent, empty, or an earlier export.

    Raises:
        ValueError: Listing some of the foreign files.
    """
    if not os.path.exists(out_dir):
        return
    if not os.path.isdir(out_dir):
        raise ValueError(f"{out_dir} is a file; pass a folder for the export (--out).")
    entries = sorted(os.listdir(out_dir))
    if not entries or MODEL_CARD_FILE in entries:
        return
    raise ValueError(
        f"{out_dir} already holds files that are not an export ({', '.join(entries[:5])}"
        f"{', ...' if len(entries) > 5 else ''}); an export replaces its whole folder, so it "
        "refuses to write there. Pass a new or empty folder as out_dir."
    )


def _pid_of(entry):
    # ".NAME.tmp-PID-HEX" / ".NAME.old-PID-HEX"
    try:
        return int(entry.rsplit("-", 2)[-2])
    except (ValueError, IndexError):
        return None


def _alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
