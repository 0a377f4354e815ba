"""One process per folder: a run directory, a search job or an export is worked on by one process at a time.

Two `keras-cnns train` commands on one `--out` would each pass the config
check before the other wrote, then overwrite each other's files. Each
command that writes a folder holds an exclusive lock on it
(`filelock.FileLock`, an OS file lock: it dies with its process, so a killed
run leaves nothing that blocks the next one) and records who holds it, so
that a second process is refused at once with a message naming the first.
"""

import contextlib
import datetime
import json
import os
import sys

import filelock

LOCK_FILE = ".lock"
OWNER_FILE = ".lock-owner.json"


class FolderInUseError(RuntimeError):
    """Another process holds the folder; the message names it and what to do."""


def folder_lock(folder, *, what):
    """Holds `folder` (created if missing) for this process while a block runs; the lock lives inside it.

    Args:
        folder: The folder to hold.
        what: What the folder is, for the message ("run directory", ...).

    Raises:
        FolderInUseError: If another process holds it.
    """
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    return _held(os.path.join(folder, LOCK_FILE), os.path.join(folder, OWNER_FILE), f"{what} {folder}")


def sibling_lock(path, *, what):
    """As `folder_lock`, for a folder replaced as a whole (an export): the lock lives beside it, `.NAME.lock`."""
    parent, name = os.path.split(os.path.abspath(os.fspath(path)))
    os.makedirs(parent, exist_ok=True)
    base = os.path.join(parent, f".{name}")
    return _held(base + LOCK_FILE, base + OWNER_FILE, f"{what} {path}")


@contextlib.contextmanager
def _held(lock_path, owner_path, label):
    lock = filelock.FileLock(lock_path, timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise FolderInUseError(_busy_message(owner_path, label)) from None
    try:
        _write_owner(owner_path)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.remove(owner_path)
        lock.release()


def _write_owner(path):
    owner = {"pid": os.getpid(), "command": " ".join(sys.argv) or sys.executable,
             "since_utc": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()}
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as file:
        json.dump(owner, file)
    os.replace(temporary, path)


def _busy_message(owner_path, label):
    try:
        with open(owner_path, encoding="utf-8") as file:
            owner = json.load(file)
        holder = f"process {owner['pid']} (`{owner['command']}`, since {owner['since_utc']})"
    except (OSError, ValueError, KeyError):
        holder = "another process"
    return (f"The {label} is in use by {holder}. Two processes writing one folder would mix their files: "
            "wait for it to finish, stop it, or pass another folder.")
