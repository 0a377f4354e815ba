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

import dataclasses
import json
import os
import re
import shutil

import numpy as np

from keras_cnns.data import bundle_from_arrays, load_arrays, normalize
from keras_cnns.data.splits import stratified_sample
from keras_cnns.train import atomic, build_loss, classification_metrics, load_best_model, train
from keras_cnns.train.config import with_field_defaults
from tuning import results as results_lib
from tuning.objectives import ResourceConstraint, ResourceScore, search_objective
from tuning.oracles import TUNERS, make_oracle
from tuning.spaces import SPACES, get_space, search_space
from tuning.tuner import make_tuner, read_worker_logs

PROJECT_NAME = "search"
RUNS_ROOT = "runs"
# Fields that may change when a job is run again: how long and how far to
# go, and what to do at the end; the others define the search.
RESUMABLE_FIELDS = ("max_trials", "budget_minutes", "keep_checkpoints", "max_consecutive_failures",
                    "retrain_epochs", "retrain_minutes", "export_formats", "data_dir", "out_dir")
# Images of the training split used to calibrate an int8 export or constraint.
CALIBRATION_IMAGES = 256
ROLES = ("local", "chief", "worker")


@dataclasses.dataclass
class SearchConfig:
    """A search job.

    Attributes:
        space: Search space, a key of `tuning.spaces.SPACES` (`"resnet"`,
            `"vgg"`, `"inception"`).
        dataset: Dataset name or image folder, as for `load_dataset`.
        tuner: `"random"`, `"hyperband"` or `"bayesian"`.
        max_trials: Most trials (Hyperband: a cap on its brackets).
        budget_minutes: Search time after which no trial starts, summed over
            resumed sessions; None for no limit.
        epochs: Epochs per trial (Hyperband: the most a trial trains).
        trial_images: Train each trial on this many training images (a
            stratified subset, the same for every trial); None for all.
        validation_split: Share of the training pool that scores the trials.
        limit: Cap on the training pool, as for `load_dataset` (quick runs).
        seed: Seed of the splits, the oracle and the trials.
        constraint: `ResourceConstraint` fields (e.g. `{"resource":
            "latency_ms", "target": 2.0}`) to search for MnasNet's
            accuracy-cost trade-off instead of accuracy alone.
        hyperband_factor: Hyperband's reduction factor.
        keep_checkpoints: Trials whose checkpoints are kept (the best ones).
        max_consecutive_failures: Failed trials in a row that stop the search.
        fixed: Hyperparameters pinned to a value, `{name: value}`.
        space_kwargs: Arguments of the space's hypermodel (its ranges).
        retrain_epochs: Retrain the best network on train+validation for
            this many epochs (0: keep its trial checkpoint).
        retrain_minutes: Instead of `retrain_epochs`: retrain for as many
            epochs as fit in this many minutes, from the best trial's
            measured training time per image (its fastest epoch, so the
            estimate errs long, never short, when an epoch included tracing).
        export_formats: Formats to export the final model to (see
            `keras_cnns.export.export_model`); empty for none.
        data_dir: Where the dataset lives, as for `load_dataset`.
        out_dir: The job folder; default `runs/tune-<space>-<dataset>`.
    """

    space: str
    dataset: str = "fashion_mnist"
    tuner: str = "random"
    max_trials: object = 10
    budget_minutes: object = None
    epochs: int = 3
    trial_images: object = None
    validation_split: float = 0.1
    limit: object = None
    seed: int = 0
    constraint: object = None
    hyperband_factor: int = 3
    keep_checkpoints: int = 3
    max_consecutive_failures: int = 3
    fixed: dict = dataclasses.field(default_factory=dict)
    space_kwargs: dict = dataclasses.field(default_factory=dict)
    retrain_epochs: int = 0
    retrain_minutes: object = None
    export_formats: list = dataclasses.field(default_factory=list)
    data_dir: object = None
    out_dir: object = None

    def __post_init__(self):
        if self.space not in SPACES:
            get_space(self.space, (1, 1, 1), 2)  # Raises with close matches.
        if self.tuner not in TUNERS:
            raise ValueError(f"tuner must be one of {list(TUNERS)}; received {self.tuner!r}.")
        _check_int("epochs", self.epochs, 1)
        _check_int("max_trials", self.max_trials, 1, optional=True)
        _check_int("trial_images", self.trial_images, 1, optional=True)
        _check_int("limit", self.limit, 1, optional=True)
        _check_int("seed", self.seed, 0)
        _check_int("hyperband_factor", self.hyperband_factor, 2)
        _check_int("keep_checkpoints", self.keep_checkpoints, 1)
        _check_int("max_consecutive_failures", self.max_consecutive_failures, 1)
        _check_int("retrain_epochs", self.retrain_epochs, 0)
        if self.retrain_minutes is not None:
            if (isinstance(self.retrain_minutes, bool) or not isinstance(self.retrain_minutes, (int, float))
                    or self.retrain_minutes <= 0):
                raise ValueError(
                    f"retrain_minutes must be a positive number or None; received {self.retrain_minutes!r}."
                )
            if self.retrain_epochs:
                raise ValueError(
                    f"Pass retrain_epochs or retrain_minutes, not both; received retrain_epochs="
                    f"{self.retrain_epochs} and retrain_minutes={self.retrain_minutes}."
                )
        if self.budget_minutes is not None and (
                isinstance(self.budget_minutes, bool) or not isinstance(self.budget_minutes, (int, float))
                or self.budget_minutes <= 0):
            raise ValueError(
                f"budget_minutes must be a positive number or None; received {self.budget_minutes!r}."
            )
        if self.max_trials is None and self.budget_minutes is None and self.tuner != "hyperband":
            raise ValueError(
                f"A {self.tuner} search needs an end: pass max_trials, budget_minutes or both."
            )
        if isinstance(self.validation_split, bool) or not (
                isinstance(self.validation_split, (int, float)) and 0 < self.validation_split < 1):
            raise ValueError(
                f"validation_split must be in (0, 1): the trials are scored on the validation split, "
                f"never on the test set; received {self.validation_split!r}. Pass for example 0.1."
            )
        if self.constraint is not None:
            ResourceConstraint(**self.constraint)  # Raises on bad fields.
        for name in ("fixed", "space_kwargs"):
            if not isinstance(getattr(self, name), dict):
                raise ValueError(f"{name} must be a dict; received {getattr(self, name)!r}.")
        self.export_formats = list(self.export_formats or [])
        if self.out_dir is None:
            slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", os.path.basename(os.path.normpath(str(self.dataset))))
            self.out_dir = os.path.join(RUNS_ROOT, f"tune-{self.space}-{slug}")
        self.out_dir = os.fspath(self.out_dir)

    def to_dict(self):
        return dataclasses.asdict(self)

    def identity(self):
        """The fields that define the search (`to_dict()` without `RESUMABLE_FIELDS`)."""
        data = json.loads(json.dumps(self.to_dict()))
        for name in RESUMABLE_FIELDS:
            data.pop(name)
        return data


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
    layout = JobLayout(config.out_dir)
    if role != "worker":
        if overwrite:
            layout.clear()
        check_saved_search(layout, config)
        atomic.write_json(layout.config, config.to_dict())
    else:
        check_saved_search(layout, config)

    arrays = load_arrays(config.dataset, data_dir=config.data_dir, validation_split=config.validation_split,
                         seed=config.seed, limit=config.limit)
    x, y = trial_subset(arrays.train, config.trial_images, config.seed)
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
    tuner.search(x, y, validation_data=arrays.val, epochs=config.epochs, callbacks=callbacks,
                 verbose=verbose)
    if role == "worker":
        _say(f"Worker {tuner.tuner_id} finished: no trial left.", verbose)
        return SearchResult(role=role, out_dir=config.out_dir)

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
    final_metrics, model = finish_best(config, layout, hypermodel, tuner, best, arrays, verbose)
    report = None
    if config.export_formats:
        report = export_final(config, layout, model, arrays, final_metrics, best, verbose)
    summary.update(
        best_hyperparameters=best.hyperparameters.values,
        test_accuracy=final_metrics["test_accuracy"],
        final_model=os.path.relpath(layout.final_model, config.out_dir),
        retrained_epochs=retrain_epochs(config, best, arrays),
        export=os.path.relpath(layout.export, config.out_dir) if config.export_formats else None,
    )
    atomic.write_json(layout.summary, summary)
    _say(f"Best trial {best.trial_id}: validation {summary['best_val_accuracy']:.4f}, test accuracy "
         f"{final_metrics['test_accuracy']:.4f} ({summary['completed']} trials completed, "
         f"{summary['trials_per_hour'] or 0:.1f} per hour).", verbose)
    return SearchResult(role=role, out_dir=config.out_dir, rows=rows, summary=summary,
                        best_hyperparameters=best.hyperparameters.values,
                        final_metrics=final_metrics, export_report=report)


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
    identity = config.identity()
    differences = [f"{key}: saved {saved_identity.get(key)!r}, new {identity.get(key)!r}"
                   for key in sorted(set(saved_identity) | set(identity))
                   if saved_identity.get(key) != identity.get(key)]
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


def finish_best(config, layout, hypermodel, tuner, best, arrays, verbose):
    """The final model: retrained on train+validation or the trial's checkpoint, tested once.

    Returns:
        `(test metrics dict, keras.Model)`.
    """
    hp = best.hyperparameters
    epochs = retrain_epochs(config, best, arrays)
    train_config = hypermodel.train_config(hp, epochs=epochs or None)
    record = json.loads(json.dumps({
        "trial_id": best.trial_id,
        "score": best.score,
        "hyperparameters": hp.values,
        "builder": f"keras_cnns.models.{type(hypermodel).builder.__name__}",
        "model_kwargs": train_config.model_kwargs,
        "retrain_epochs": epochs,
        "train_config": train_config.to_dict(),
    }))
    saved = atomic.read_json(layout.final_hyperparameters)
    if saved is not None and "train_config" in saved:
        # Written before TrainConfig gained a field: it trained with the default.
        saved["train_config"] = with_field_defaults(saved["train_config"])
    if saved not in (None, record):
        # The final model on disk is another network's (the search went on) or
        # was trained otherwise: replace it.
        shutil.rmtree(layout.final)
    atomic.write_json(layout.final_hyperparameters, record)
    if epochs:
        final_config = dataclasses.replace(train_config, validation_split=0.0, out_dir=layout.final,
                                           data_dir=config.data_dir)
        merged = merge_validation(arrays)
        bundle = bundle_from_arrays(merged, batch_size=final_config.batch_size,
                                    augment=final_config.augment, seed=config.seed)
        result = train(final_config, bundle=bundle, model_builder=type(hypermodel).builder,
                       verbose=verbose)
        return result.metrics, result.load_model()

    saved = atomic.read_json(layout.final_metrics)
    if saved is not None and os.path.exists(layout.final_model):
        return saved, load_best_model(layout.final_model)
    model = tuner.load_model(best)
    test = bundle_from_arrays(arrays, batch_size=train_config.batch_size, augment=None).test
    metrics = classification_metrics(model, test, arrays.class_names,
                                     loss=build_loss(train_config.label_smoothing))
    metrics.update(
        trial_id=best.trial_id,
        num_params=int(model.count_params()),
        image_shape=list(arrays.image_shape),
        normalization=arrays.normalization,
        model_path=os.path.basename(layout.final_model),
        hyperparameters=hp.values,
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
    same number. Job folders written before 2026-11-30 recorded the fastest
    epoch instead, which is read when the typical one is missing. (Sized by
    the fastest epoch, the Hyperband benchmark planned 30 minutes of
    retraining and spent 44.6 on loading, retraining, testing and
    exporting: BENCHMARKS.md.)
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
        verify=True, verbose=1 if verbose else 0,
    )
    atomic.write_json(layout.export_record, source)
    return report


def _check_int(name, value, low, optional=False):
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an int >= {low}{' or None' if optional else ''}; received {value!r}.")


def _say(message, verbose):
    if verbose:
        print(f"keras-cnns tune: {message}", flush=True)
