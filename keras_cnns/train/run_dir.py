"""The run directory: where each file of a run lives, and its saved state.

Layout of `out_dir`:

    config.json                      the TrainConfig (checked on resume)
    history.csv                      one row per completed epoch
    best.keras                       the model of the best epoch (by validation accuracy)
    metrics.json                     test metrics; written last, it marks a finished run
    learning_curves.png              loss and accuracy per epoch
    confusion_matrix.png             test confusion matrix of best.keras
    tensorboard/                     TensorBoard logs
    backup/state.json                the commit record of the last completed epoch
    backup/epoch_NNNN.variables.npz  model and optimizer variables after NNNN epochs
    backup/best_epoch_NNNN.keras     a new best model waiting for its commit

Every file is written atomically (`keras_cnns.train.atomic`).
"""

import csv
import dataclasses
import glob
import io
import os
import re
import shutil

from keras_cnns.train import atomic, backup

# Preferred column order of history.csv; other logged values follow, sorted.
HISTORY_COLUMNS = (
    "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate",
    "epoch_seconds", "train_seconds",
)
_PENDING_BEST = re.compile(r"best_epoch_(\d+)\.keras$")


@dataclasses.dataclass(frozen=True)
class SavedRun:
    """A trained model's `.keras` file and what its run directory says about it.

    Attributes:
        model_path: The `.keras` file.
        run_dir: The folder holding it, when that folder has a `config.json`
            or a `metrics.json`; else None.
        config: The run's `config.json` as a dict, or None.
        metrics: Its `metrics.json` as a dict (empty when absent).
    """

    model_path: str
    run_dir: object
    config: object
    metrics: dict


def locate_run(path):
    """The model file and run files of a run directory or a `.keras` file.

    A run directory gives its `best.keras`; a `.keras` file gives itself,
    with the `config.json` and `metrics.json` of its folder when there are.
    Loading the model is left to the caller (`keras_cnns.saving.load_model`).

    Raises:
        FileNotFoundError: If nothing is at `path`, or a folder holds no `best.keras`.
        ValueError: If `path` is a file but not a `.keras` file, or a run file
            is not valid JSON.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        layout = RunLayout(path)
        if not os.path.isfile(layout.best_model):
            raise FileNotFoundError(
                f"{path} is a folder without best.keras: not a run directory written by `keras-cnns train` "
                "(or its first epoch has not finished). Pass a run directory or the path of a .keras file."
            )
        model_path = layout.best_model
    elif os.path.isfile(path):
        if not path.endswith(".keras"):
            raise ValueError(
                f"{path} is not a Keras 3 model file (a .keras file). Pass a run directory, or a model saved "
                "with model.save('model.keras')."
            )
        model_path = path
        layout = RunLayout(os.path.dirname(os.path.abspath(path)))
    else:
        raise FileNotFoundError(
            f"No run directory or .keras file at {path}. Train one with `keras-cnns train` or pass the path of "
            "a saved model."
        )
    config, metrics = atomic.read_json(layout.config), atomic.read_json(layout.metrics)
    run_dir = layout.root if config is not None or metrics is not None else None
    return SavedRun(model_path=model_path, run_dir=run_dir, config=config, metrics=metrics or {})


@dataclasses.dataclass(frozen=True)
class RunLayout:
    """Paths of the files of one run directory.

    Attributes:
        root: The run directory.
    """

    root: str

    @property
    def config(self):
        return os.path.join(self.root, "config.json")

    @property
    def history(self):
        return os.path.join(self.root, "history.csv")

    @property
    def best_model(self):
        return os.path.join(self.root, "best.keras")

    @property
    def metrics(self):
        return os.path.join(self.root, "metrics.json")

    @property
    def learning_curves(self):
        return os.path.join(self.root, "learning_curves.png")

    @property
    def confusion_matrix(self):
        return os.path.join(self.root, "confusion_matrix.png")

    @property
    def tensorboard(self):
        return os.path.join(self.root, "tensorboard")

    @property
    def backup(self):
        return os.path.join(self.root, "backup")

    @property
    def state(self):
        return os.path.join(self.backup, "state.json")

    def backup_weights(self, epochs_completed):
        """Backup of model and optimizer variables after `epochs_completed` epochs."""
        return os.path.join(self.backup, f"epoch_{epochs_completed:04d}{backup.SUFFIX}")

    def pending_best(self, epoch):
        """Where the best model of 0-based `epoch` waits until its epoch is committed."""
        return os.path.join(self.backup, f"best_epoch_{epoch:04d}.keras")

    def entries(self):
        """Every file and folder this layout owns."""
        return (self.config, self.history, self.best_model, self.metrics, self.learning_curves,
                self.confusion_matrix, self.tensorboard, self.backup)

    def clear(self):
        """Deletes the run's own files and folders; leaves anything else in `root`."""
        for path in self.entries():
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
        self.remove_temporary_files()

    def remove_temporary_files(self):
        """Deletes temporary files of saves that a killed process left behind."""
        removed = []
        for directory in (self.root, self.backup):
            if os.path.isdir(directory):
                removed += atomic.remove_temporary_files(directory)
        return removed

    def finish_pending_best(self, state):
        """Completes or discards a best model that waited for its commit.

        A pending best model whose epoch the state records as the best was
        committed but not yet moved to `best.keras` when the process died:
        it is moved now. Any other pending file belongs to an epoch that was
        never committed (it will be trained again) and is deleted.
        """
        best_epoch = None if state is None else state.get("best_epoch")
        for path in glob.glob(os.path.join(glob.escape(self.backup), "best_epoch_*.keras")):
            match = _PENDING_BEST.search(path)
            if match and best_epoch is not None and int(match.group(1)) == best_epoch:
                os.replace(path, self.best_model)
            else:
                os.remove(path)

    def prune_backups(self, keep):
        """Deletes backup weight files other than `keep`."""
        # `.weights.h5`: backups of runs written before `.npz` backups, once a resumed run has moved on.
        for path in glob.glob(os.path.join(glob.escape(self.backup), "epoch_*.*")):
            if os.path.abspath(path) != os.path.abspath(keep):
                os.remove(path)


def write_history(path, rows):
    """Writes history rows (dicts) to a CSV file atomically."""
    columns = [column for column in HISTORY_COLUMNS if any(column in row for row in rows)]
    columns += sorted({key for row in rows for key in row} - set(columns))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic.write_text(path, buffer.getvalue())


def read_history(path):
    """History rows from a CSV file: `epoch` as int, other values as float.

    Returns:
        A list of dicts, or an empty list if the file does not exist.
    """
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return [
        {key: int(value) if key == "epoch" else _to_float(value) for key, value in row.items()}
        for row in rows
    ]


def _to_float(value):
    return None if value in ("", None) else float(value)
