"""The search job: `run_search(SearchConfig)`, what `keras-cnns tune` runs.

One job, in its folder `out_dir`:

    search.json           the SearchConfig (checked when the job is run again)
    search/               Keras Tuner's project: oracle, one folder per trial
                          (trial.json, the best epoch's checkpoint while it is
                          among the best), workers/<tuner id>.json
    results.csv           every trial: hyperparameters, accuracy, parameters, time
    accuracy_vs_params.png, accuracy_vs_time.png
    summary.json          counts, trials per hour, the best trial, the final model
    final/                the best network: retrained on train+validation
                          (a `train` run directory) or its trial checkpoint,
                          evaluated once on the test set; final/export/ when
                          exported

Steps:

1. Load the dataset once (`load_arrays`); the trials train on in-memory
   arrays (a stratified `trial_images` subset of the training split if
   asked) and are scored on the validation split; only the pipelines
   (batch size, augmentation) are made per trial.
2. Search with Keras Tuner (`random`, `hyperband` or `bayesian`), under the
   time budget; a trial that fails is recorded with its reason.
3. Write the results table and plots.
4. Retrain the best network on train+validation if asked, evaluate it once
   on the test set, and export it if asked (`keras_cnns.export.export_model`).

Running the same job again resumes it: finished trials are not run again,
a trial cut short is run again, and finished final steps are skipped.

Distributed: with Keras Tuner's environment variables
(`KERASTUNER_TUNER_ID`, `KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`)
the same call runs as the chief (`KERASTUNER_TUNER_ID=chief`: serves the
oracle, then writes the results and the final model) or as a worker
(`tuner0`, `tuner1`, ...: runs trials). Every process needs the same
`out_dir` on a shared file system. A worker that was killed is replaced by
starting it again with the same `KERASTUNER_TUNER_ID`: it takes over the
trial it was running.
"""

import contextlib
import dataclasses
import json
import os
import shutil

import numpy as np

from keras_cnns.data import bundle_from_arrays, load_arrays, normalize
from keras_cnns.data.splits import stratified_sample
from keras_cnns.train import atomic, build_loss, classification_metrics, load_best_model, train
from keras_cnns.train.config import config_differences, with_field_defaults
from keras_cnns.console import say
from keras_cnns.locking import folder_lock
from tuning import results as results_lib
from tuning.objectives import ResourceConstraint, ResourceScore, search_objective
from tuning.config import RESUMABLE_FIELDS, SearchConfig
from tuning.oracles import make_oracle
from tuning.spaces import get_space, search_space
from tuning.tuner import make_tuner, read_worker_logs

PROJECT_NAME = "search"
# Images of the training split used to calibrate an int8 export or constraint.
CALIBRATION_IMAGES = 256


@dataclasses.dataclass
class SearchResult:
    """What a search job left.

    Attributes:
        role: `"local"`, `"chief"` or `"worker"`.
        out_dir: The job folder.
        rows: The results table (a list of dicts); None on a worker.
        summary: The content of `summary.json`; None on a worker.
        best_hyperparameters: The best trial's hyperparameter values.
        final_metrics: Test metrics of the final model.
        export_report: The `ExportReport` when this run exported (None when
            an earlier run of the job did).
    """

    role: str
    out_dir: str
    rows: object = None
    summary: object = None
    best_hyperparameters: object = None
    final_metrics: object = None
    export_report: object = None

    @property
    def test_accuracy(self):
        return None if self.final_metrics is None else self.final_metrics["test_accuracy"]


def run_search(config, *, overwrite=False, verbose=1):
    """Runs (or resumes) a search job.

    Args:
        config: A `SearchConfig`.
        overwrite: Delete the job's files in `out_dir` first.
        verbose: 0 silent, 1 Keras Tuner's trial display and progress bars,
            2 one line per epoch.

    Returns:
        A `SearchResult`.

    Raises:
        ValueError: On a bad config, or an `out_dir` holding another search.
        RuntimeError: If too many trials failed in a row (the results so far
            are written first), or no trial completed.

    Example:

    ```python
    config = SearchConfig("vgg", dataset="digits", max_trials=4, epochs=2, out_dir="runs/tune")
    result = run_search(config)
    print(result.summary["best_val_accuracy"], result.test_accuracy)
    ```
    """
    if not isinstance(config, SearchConfig):
        raise ValueError(
            f"config must be a SearchConfig; received {type(config).__name__}. Build one with "
            "SearchConfig(space, dataset=..., ...)."
        )
    role = distributed_role()
    # The chief (or a single process) writes the job folder; workers share it.
    with folder_lock(config.out_dir, what="search job folder") if role != "worker" else contextlib.nullcontext():
        return _run_search(config, role, overwrite, verbose)


def _run_search(config, role, overwrite, verbose):
    """`run_search` once the job folder is held."""
    layout = JobLayout(config.out_dir)
    if role != "worker" and overwrite:
        layout.clear()
    check_saved_search(layout, config)
    if role != "worker":
        atomic.write_json(layout.config, config.to_dict())
    arrays = load_arrays(config.dataset, data_dir=config.data_dir, validation_split=config.validation_split,
                         seed=config.seed, limit=config.limit)
    hypermodel, oracle, tuner, callbacks = _search_parts(config, arrays)
    x, y = trial_subset(arrays.train, config.trial_images, config.seed)
    tuner.search(x, y, validation_data=arrays.val, epochs=config.epochs, callbacks=callbacks, verbose=verbose)
    if role == "worker":
        say("tune", f"Worker {tuner.tuner_id} finished: no trial left.", verbose)
        return SearchResult(role=role, out_dir=config.out_dir)
    rows, summary = _write_results(layout, oracle, tuner, hypermodel, verbose)
    best = _best_or_raise(config, layout, oracle, summary)
    final_metrics, model = final_model(config, layout, hypermodel, tuner, best, arrays, verbose)
    summary.update(
        best_hyperparameters=best.hyperparameters.values,
        test_accuracy=final_metrics["test_accuracy"],
        final_model=os.path.relpath(layout.final_model, config.out_dir),
        retrained_epochs=retrain_epochs(config, best, arrays),
        export=os.path.relpath(layout.export, config.out_dir) if config.export_formats else None,
    )
    atomic.write_json(layout.summary, summary)  # Before the export, which may fail on its own.
    report = export_final(config, layout, model, arrays, final_metrics, best, verbose) if config.export_formats else None
    say("tune", f"Best trial {best.trial_id}: validation {summary['best_val_accuracy']:.4f}, test accuracy "
        f"{final_metrics['test_accuracy']:.4f} ({summary['completed']} trials completed, "
        f"{summary['trials_per_hour'] or 0:.1f} per hour).", verbose)
    return SearchResult(role=role, out_dir=config.out_dir, rows=rows, summary=summary,
                        best_hyperparameters=best.hyperparameters.values,
                        final_metrics=final_metrics, export_report=report)


def _search_parts(config, arrays):
    """The hypermodel, oracle, tuner and extra callbacks of a job."""
    hypermodel = get_space(config.space, arrays.image_shape, len(arrays.class_names), dataset=arrays.name,
                           epochs=config.epochs, normalization=arrays.normalization, fixed=config.fixed,
                           seed=config.seed, **config.space_kwargs)
    check_fixed(hypermodel, config.fixed)
    constraint = ResourceConstraint(**config.constraint) if config.constraint else None
    oracle = make_oracle(
        config.tuner, search_objective(constraint), max_trials=config.max_trials, epochs=config.epochs,
        hyperband_factor=config.hyperband_factor, seed=config.seed,
        budget_seconds=None if config.budget_minutes is None else 60 * config.budget_minutes,
        keep_checkpoints=config.keep_checkpoints,
        max_consecutive_failed_trials=config.max_consecutive_failures,
    )
    tuner = make_tuner(config.tuner, oracle, hypermodel, directory=config.out_dir, seed=config.seed)
    callbacks = []
    if constraint is not None:
        calibration = calibration_images(arrays) if constraint.quantization == "int8" else None
        callbacks.append(ResourceScore(constraint, representative_data=calibration))
    return hypermodel, oracle, tuner, callbacks


def _write_results(layout, oracle, tuner, hypermodel, verbose):
    """`results.csv`, the two plots and the printed table; returns the rows and the summary."""
    rows = results_lib.trial_rows(oracle, read_worker_logs(tuner.project_dir))
    names = [hp.name for hp in search_space(hypermodel).space]
    results_lib.write_csv(rows, layout.results, names)
    results_lib.plot_accuracy_vs_params(rows, layout.accuracy_vs_params)
    results_lib.plot_accuracy_vs_time(rows, layout.accuracy_vs_time)
    summary = results_lib.summarize(rows, oracle.elapsed_seconds())
    summary.update(stop_reason=oracle.stop_reason, objective=oracle.objective.name)
    if verbose:
        print(f"\nResults of {len(rows)} trials ({layout.results}):")
        print(results_lib.format_table(rows, oracle.objective.name))
    return rows, summary


def _best_or_raise(config, layout, oracle, summary):
    """The best trial; with the summary written and a RuntimeError when the search failed or none completed."""
    if oracle.stopped_on_failures:
        atomic.write_json(layout.summary, summary)
        raise RuntimeError(
            f"The search stopped: {oracle.stop_reason}. The results so far are in {layout.results}. "
            "Fix the cause (narrow the space with fixed values or lower the learning rates), or raise "
            "max_consecutive_failures (--max-consecutive-failures) and run the same job again to go on."
        )
    best = best_trial(oracle)
    if best is None:
        atomic.write_json(layout.summary, summary)
        raise RuntimeError(
            f"No trial of {config.out_dir} completed, so there is no best network. See "
            f"{layout.results} for why the trials failed."
        )
    return best


@dataclasses.dataclass(frozen=True)
class JobLayout:
    """Paths of a search job's folder (see the module docstring)."""

    root: str

    def _path(self, name):
        return os.path.join(self.root, name)

    @property
    def config(self):
        return self._path("search.json")

    @property
    def project(self):
        return self._path(PROJECT_NAME)

    @property
    def results(self):
        return self._path("results.csv")

    @property
    def accuracy_vs_params(self):
        return self._path("accuracy_vs_params.png")

    @property
    def accuracy_vs_time(self):
        return self._path("accuracy_vs_time.png")

    @property
    def summary(self):
        return self._path("summary.json")

    @property
    def final(self):
        return self._path("final")

    @property
    def final_model(self):
        return os.path.join(self.final, "best.keras")

    @property
    def final_metrics(self):
        return os.path.join(self.final, "metrics.json")

    @property
    def final_hyperparameters(self):
        return os.path.join(self.final, "hyperparameters.json")

    @property
    def export(self):
        return os.path.join(self.final, "export")

    @property
    def export_record(self):
        return os.path.join(self.final, "exported.json")

    def clear(self):
        """Deletes the job's own files and folders; leaves anything else in `root`."""
        for path in (self.config, self.project, self.results, self.accuracy_vs_params,
                     self.accuracy_vs_time, self.summary, self.final):
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)


def distributed_role():
    """`"local"`, or Keras Tuner's `"chief"` / `"worker"` from its environment variables.

    Raises:
        ValueError: If the variables are set only in part.
    """
    ip = os.environ.get("KERASTUNER_ORACLE_IP")
    port = os.environ.get("KERASTUNER_ORACLE_PORT")
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID")
    if ip is None and port is None:
        return "local"
    if not (ip and port and tuner_id):
        raise ValueError(
            "A distributed search needs KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT and "
            f"KERASTUNER_TUNER_ID together; received KERASTUNER_ORACLE_IP={ip!r}, "
            f"KERASTUNER_ORACLE_PORT={port!r}, KERASTUNER_TUNER_ID={tuner_id!r}. Set all three "
            "(KERASTUNER_TUNER_ID=chief for the oracle, tuner0, tuner1, ... for the workers), "
            "or none for a single-process search."
        )
    return "chief" if "chief" in tuner_id else "worker"


def check_saved_search(layout, config):
    """Raises if `layout` holds a search whose defining fields differ from `config`'s."""
    saved = atomic.read_json(layout.config)
    if saved is None:
        return
    saved_identity = {k: v for k, v in saved.items() if k not in RESUMABLE_FIELDS}
    differences = config_differences(saved_identity, config.identity())
    if differences:
        raise ValueError(
            f"{layout.root} holds another search (" + "; ".join(differences) + "). Running it would "
            "mix two searches. Pass another out_dir (--out), or overwrite=True (--overwrite) to "
            "delete the old one. Only " + ", ".join(RESUMABLE_FIELDS) + " may change between runs."
        )


def check_fixed(hypermodel, fixed):
    """Raises if `fixed` names a hyperparameter the space does not have."""
    names = [hp.name for hp in search_space(hypermodel).space]
    unknown = sorted(set(fixed) - set(names))
    if unknown:
        raise ValueError(
            f"fixed names hyperparameters that the {type(hypermodel).__name__} space does not have: "
            f"{unknown}. Its hyperparameters are {names}."
        )


def trial_subset(split, count, seed):
    """The images and labels the trials train on: all, or a stratified `count` of them."""
    images, labels = split
    if count is None or count >= len(labels):
        return images, labels
    keep = stratified_sample(labels, count, seed, stream=TRIAL_SUBSET_STREAM)
    return images[keep], labels[keep]


TRIAL_SUBSET_STREAM = 11  # A random stream of its own (see keras_cnns.data.splits).


def best_trial(oracle):
    """The completed trial with the best objective, or None."""
    trials = [t for t in oracle.get_best_trials(len(oracle.trials) or 1) if t.status == "COMPLETED"]
    return trials[0] if trials else None


def final_model(config, layout, hypermodel, tuner, best, arrays, verbose):
    """The best network, retrained on train+validation (`retrain_best`) or as its trial left it
    (`test_trial_checkpoint`), and its test metrics.

    Returns:
        `(test metrics dict, keras.Model)`.
    """
    epochs = retrain_epochs(config, best, arrays)
    train_config = hypermodel.train_config(best.hyperparameters, epochs=epochs or None)
    _record_final_choice(layout, hypermodel, best, train_config, epochs)
    if epochs:
        return retrain_best(config, layout, hypermodel, train_config, arrays, verbose)
    return test_trial_checkpoint(layout, tuner, best, train_config, arrays)


def _record_final_choice(layout, hypermodel, best, train_config, epochs):
    """Writes which network and training make the final model; clears a final model made otherwise."""
    record = json.loads(json.dumps({
        "trial_id": best.trial_id,
        "score": best.score,
        "hyperparameters": best.hyperparameters.values,
        "builder": f"keras_cnns.models.{type(hypermodel).builder.__name__}",
        "model_kwargs": train_config.model_kwargs,
        "retrain_epochs": epochs,
        "train_config": train_config.to_dict(),
    }))
    saved = atomic.read_json(layout.final_hyperparameters)
    if saved is not None and "train_config" in saved:
        saved["train_config"] = with_field_defaults(saved["train_config"])  # Fields added since default.
    if saved not in (None, record):
        # The final model on disk is another network's (the search went on) or was trained otherwise.
        shutil.rmtree(layout.final)
    atomic.write_json(layout.final_hyperparameters, record)


def retrain_best(config, layout, hypermodel, train_config, arrays, verbose):
    """Trains the best network again on train+validation, in `final/` (a resumable run directory)."""
    final_config = dataclasses.replace(train_config, validation_split=0.0, out_dir=layout.final,
                                       data_dir=config.data_dir)
    bundle = bundle_from_arrays(merge_validation(arrays), batch_size=final_config.batch_size,
                                augment=final_config.augment, seed=config.seed)
    result = train(final_config, bundle=bundle, model_builder=type(hypermodel).builder, verbose=verbose)
    return result.metrics, result.load_model()


def test_trial_checkpoint(layout, tuner, best, train_config, arrays):
    """The best trial's own checkpoint, tested once and saved as the final model."""
    saved = atomic.read_json(layout.final_metrics)
    if saved is not None and os.path.exists(layout.final_model):
        return saved, load_best_model(layout.final_model)
    model = tuner.load_model(best)
    test = bundle_from_arrays(arrays, batch_size=train_config.batch_size, augment=None).test
    metrics = classification_metrics(model, test, arrays.class_names, loss=build_loss(train_config.label_smoothing))
    metrics.update(
        trial_id=best.trial_id,
        num_params=int(model.count_params()),
        image_shape=list(arrays.image_shape),
        normalization=arrays.normalization,
        model_path=os.path.basename(layout.final_model),
        hyperparameters=best.hyperparameters.values,
    )
    atomic.save_model(model, layout.final_model)
    atomic.write_json(layout.final_metrics, metrics)  # Last: marks the step done.
    return metrics, model


def retrain_epochs(config, best, arrays):
    """Epochs to retrain the best trial's network for: `retrain_epochs`, or
    what fits in `retrain_minutes` (0: no retraining).

    The estimate scales the trial's typical epoch (`tuning.tuner.epoch_timing`)
    in seconds per training image to the train+validation images; it
    depends only on what the trial recorded, so a resumed job computes the
    same number. (Older job folders recorded only the fastest epoch, which is
    read when the typical one is missing.)
    """
    if not config.retrain_minutes:
        return config.retrain_epochs
    seconds = _metric(best, "typical_epoch_seconds") or _metric(best, "fastest_epoch_seconds")
    images = _metric(best, "train_images")
    if not seconds or not images:
        raise RuntimeError(
            f"Trial {best.trial_id} recorded no epoch time, so retrain_minutes cannot be turned into "
            "epochs. Pass retrain_epochs instead."
        )
    epoch_seconds = seconds / images * (len(arrays.train[1]) + len(arrays.val[1]))
    return max(1, int(60 * config.retrain_minutes // epoch_seconds))


def _metric(trial, name):
    return trial.metrics.get_last_value(name) if trial.metrics.exists(name) else None


def merge_validation(arrays):
    """`arrays` with the validation split folded into the training split (for the final model)."""
    images = np.concatenate([arrays.train[0], arrays.val[0]])
    labels = np.concatenate([arrays.train[1], arrays.val[1]])
    return dataclasses.replace(arrays, train=(images, labels), val=None)


def calibration_images(arrays, count=CALIBRATION_IMAGES):
    """Normalized training images, for int8 conversion."""
    images = arrays.train[0][:count]
    return normalize(images, arrays.normalization)


def export_final(config, layout, model, arrays, final_metrics, best, verbose=0):
    """Exports the final model with `keras_cnns.export.export_model`, once.

    Returns:
        The `ExportReport`, or None when an earlier run already exported this
        final model to these formats (`final/exported.json` says so).
    """
    from keras_cnns.export import export_model

    source = {"trial_id": best.trial_id, "retrained_epochs": retrain_epochs(config, best, arrays),
              "formats": list(config.export_formats)}
    if atomic.read_json(layout.export_record) == source and os.path.isdir(layout.export):
        return None
    test = bundle_from_arrays(arrays, batch_size=128, augment=None).test
    report = export_model(
        model, layout.export, formats=config.export_formats,
        representative_data=calibration_images(arrays), labels=arrays.class_names,
        normalization=final_metrics.get("normalization", arrays.normalization), test_data=test,
        verify=True, verbose=1 if verbose else 0, **config.export_options,
    )
    atomic.write_json(layout.export_record, source)
    return report

