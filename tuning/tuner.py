"""`SearchTuner`: Keras Tuner's `Tuner`, with what the results table needs.

On top of Keras Tuner's trial loop (build, fit, best-epoch checkpoint,
`keras.backend.clear_session()` before every build), each trial:

* runs under its own seed (`seed * 1000 + trial number`);
* reports, besides the best epoch's metrics, `trial_seconds` (build and
  training), `epochs` trained, `best_epoch`, `typical_epoch_seconds` and
  `train_images` (to size later training; see `epoch_timing`) and
  `memory_mb` (the resident memory of the process at the end of the trial,
  to watch for growth);
* when it fails (a combination the builder refuses, out of memory, a NaN
  loss), is recorded as failed with a one-line reason, and the search goes on;
* is logged in `workers/<tuner id>.json` of the project folder: which
  process ran it, when, how long, and how it ended (a trial cut short by a
  kill stays there as "INTERRUPTED").
"""

import os
import statistics
import time
import zlib

import keras
import keras_tuner

from keras_cnns.train import atomic
from tuning.memory import resident_memory_mb

WORKERS_FOLDER = "workers"
RUNNING = "RUNNING"
INTERRUPTED = "INTERRUPTED"


def epoch_timing(train_seconds, train_images):
    """The trial metrics that size later training from a trial's epoch times.

    The first epoch carries the tracing, so the typical epoch is the median
    of the others (the first alone when there is no other). Not the fastest:
    on a machine whose speed varies from one minute to the next, the fastest
    epoch is an optimistic guess.
    """
    later = list(train_seconds[1:]) or list(train_seconds)
    return {"typical_epoch_seconds": float(statistics.median(later)), "train_images": int(train_images)}


class SearchTuner(keras_tuner.Tuner):
    """A Keras Tuner `Tuner` for `CNNHyperModel`s in a search job.

    Args:
        oracle: A Keras Tuner oracle (a `tuning.oracles.JobOracle`).
        hypermodel: A `CNNHyperModel`.
        directory: The job folder; trials go to `directory/project_name`.
        project_name: Name of the project folder.
        seed: Seed of the trials.
        **kwargs: Keras Tuner `Tuner` arguments.
    """

    def __init__(self, oracle, hypermodel, *, directory, project_name="search", seed=0, **kwargs):
        # Tuner's own __init__, also for the Hyperband subclass (whose
        # __init__ would build a second oracle).
        keras_tuner.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, directory=directory,
                                   project_name=project_name, overwrite=False, **kwargs)
        self.seed = seed
        self.log = WorkerLog(os.path.join(self.project_dir, WORKERS_FOLDER, f"{self.tuner_id}.json"),
                             self.tuner_id)

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self._trial_start = time.perf_counter()
        self.log.begin(trial.trial_id)

    def run_trial(self, trial, *args, **kwargs):
        keras.utils.set_random_seed(self.seed * 1000 + _trial_number(trial.trial_id))
        try:
            results = super().run_trial(trial, *args, **kwargs)
        except keras_tuner.errors.FatalError:
            raise
        except Exception as error:
            # Recorded as FAILED (no retry) with this line as its reason.
            raise keras_tuner.errors.FailedTrialError(describe_error(error)) from error
        history = results[-1]
        metrics, best_epoch = best_epoch_metrics(history, self.oracle.objective)
        metrics.update(
            trial_seconds=time.perf_counter() - self._trial_start,
            epochs=len(history.epoch),
            best_epoch=best_epoch,
        )
        epoch_seconds = history.history.get("train_seconds")
        if epoch_seconds and args and hasattr(args[0], "__len__"):
            metrics.update(epoch_timing(epoch_seconds, len(args[0])))
        memory = resident_memory_mb()
        if memory is not None:
            metrics["memory_mb"] = memory
        return metrics

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        from tuning.oracles import failure_reason

        reason = failure_reason(trial) if trial.status != "COMPLETED" else None
        self.log.end(trial.trial_id, trial.status, time.perf_counter() - self._trial_start,
                     resident_memory_mb(), reason)


class HyperbandSearchTuner(SearchTuner, keras_tuner.Hyperband):
    """`SearchTuner` with Hyperband's trial handling: epochs from the oracle,
    and continued trials starting from their parent's checkpoint."""


def make_tuner(tuner, oracle, hypermodel, *, directory, seed=0):
    """The `SearchTuner` for a tuner name (`"hyperband"` gets Hyperband's trial handling)."""
    cls = HyperbandSearchTuner if tuner == "hyperband" else SearchTuner
    return cls(oracle, hypermodel, directory=directory, seed=seed)


def best_epoch_metrics(history, objective):
    """The logs of the epoch with the best objective value.

    Returns:
        `(metrics dict of floats, 0-based best epoch)`.
    """
    rows = [
        {key: float(values[epoch]) for key, values in history.history.items() if epoch < len(values)}
        for epoch in range(len(history.epoch))
    ]
    if not rows:
        raise ValueError("The trial trained no epoch; pass epochs >= 1.")
    best = 0
    for epoch, row in enumerate(rows):
        if objective.name not in row:
            raise ValueError(
                f"The objective {objective.name!r} is not among the logged metrics {sorted(row)}. "
                "Pass validation_data to the search (for val_accuracy)."
            )
        if objective.better_than(row[objective.name], rows[best][objective.name]):
            best = epoch
    return rows[best], best


def describe_error(error):
    """`ErrorType: message`, on one line."""
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


class WorkerLog:
    """The trials one tuner process (a worker, or the only process) ran.

    A JSON file `{"tuner_id": ..., "trials": [{"trial_id", "status", "pid",
    "started_at", "finished_at", "seconds", "memory_mb", "reason"}]}`,
    rewritten atomically after every change. Entries still "RUNNING" when
    the file is opened again belong to a killed process: they become
    "INTERRUPTED".

    Args:
        path: The JSON file.
        tuner_id: The tuner's id (`KERASTUNER_TUNER_ID`).
    """

    def __init__(self, path, tuner_id):
        self.path = path
        data = atomic.read_json(path) or {"tuner_id": tuner_id, "trials": []}
        for entry in data["trials"]:
            if entry["status"] == RUNNING:
                entry["status"] = INTERRUPTED
        self.data = data

    @property
    def trials(self):
        return self.data["trials"]

    def begin(self, trial_id):
        self.trials.append({"trial_id": trial_id, "status": RUNNING, "pid": os.getpid(),
                            "started_at": time.time()})
        atomic.write_json(self.path, self.data)

    def end(self, trial_id, status, seconds, memory_mb, reason=None):
        entry = next(e for e in reversed(self.trials) if e["trial_id"] == trial_id)
        entry.update(status=status, finished_at=time.time(), seconds=seconds, memory_mb=memory_mb,
                     reason=reason)
        atomic.write_json(self.path, self.data)


def read_worker_logs(project_dir):
    """Every worker log of a project folder: `{tuner_id: [entries]}`."""
    folder = os.path.join(project_dir, WORKERS_FOLDER)
    logs = {}
    if os.path.isdir(folder):
        for name in sorted(os.listdir(folder)):
            if name.endswith(".json") and not name.startswith("."):
                data = atomic.read_json(os.path.join(folder, name))
                logs[data["tuner_id"]] = data["trials"]
    return logs


def _trial_number(trial_id):
    return int(trial_id) if str(trial_id).isdigit() else zlib.crc32(str(trial_id).encode()) % 1000
