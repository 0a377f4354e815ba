"""A search job's configuration: `SearchConfig`, and the names and defaults the command line offers.

Only the standard library is imported here, so that `keras-cnns tune --help`
reads its choices and defaults from this module without loading Keras Tuner.
"""

import dataclasses
import difflib
import json
import os
import re

from keras_cnns.validation import check_choice, check_int

# The search spaces: name -> (module, hypermodel class) of `tuning.spaces`.
SPACES = {
    "resnet": ("tuning.spaces.resnet", "ResNetHyperModel"),
    "vgg": ("tuning.spaces.vgg", "VGGHyperModel"),
    "inception": ("tuning.spaces.inception", "InceptionHyperModel"),
}
TUNERS = ("random", "hyperband", "bayesian")
# The exponent of MnasNet's soft accuracy-cost trade-off (Tan et al. 2019, section 3).
MNASNET_WEIGHT = -0.07
RUNS_ROOT = "runs"
# The arguments of export_model a job passes on (export_options).
EXPORT_OPTIONS = ("min_quantized_agreement", "max_quantized_accuracy_drop")
# Fields that may change when a job is run again: how long and how far to
# go, and what to do at the end; the others define the search.
RESUMABLE_FIELDS = ("max_trials", "budget_minutes", "keep_checkpoints", "max_consecutive_failures",
                    "retrain_epochs", "retrain_minutes", "export_formats", "export_options", "data_dir", "out_dir")


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
        export_options: Other arguments of `export_model`: its verification's
            `min_quantized_agreement` and `max_quantized_accuracy_drop`.
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
    export_options: dict = dataclasses.field(default_factory=dict)
    data_dir: object = None
    out_dir: object = None

    def __post_init__(self):
        if self.space not in SPACES:
            close = difflib.get_close_matches(str(self.space), SPACES, n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"Unknown search space {self.space!r}.{hint} The spaces are {sorted(SPACES)}.")
        check_choice("tuner", self.tuner, TUNERS)
        check_int("epochs", self.epochs, low=1)
        check_int("max_trials", self.max_trials, low=1, optional=True)
        check_int("trial_images", self.trial_images, low=1, optional=True)
        check_int("limit", self.limit, low=1, optional=True)
        check_int("seed", self.seed, low=0)
        check_int("hyperband_factor", self.hyperband_factor, low=2)
        check_int("keep_checkpoints", self.keep_checkpoints, low=1)
        check_int("max_consecutive_failures", self.max_consecutive_failures, low=1)
        check_int("retrain_epochs", self.retrain_epochs, low=0)
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
            from tuning.objectives import ResourceConstraint

            ResourceConstraint(**self.constraint)  # Raises on bad fields.
        unknown = sorted(set(self.export_options or {}) - set(EXPORT_OPTIONS))
        if unknown:
            raise ValueError(f"export_options takes {list(EXPORT_OPTIONS)}; received {unknown}.")
        for name in ("fixed", "space_kwargs", "export_options"):
            if not isinstance(getattr(self, name), dict):
                raise ValueError(f"{name} must be a dict; received {getattr(self, name)!r}.")
        self.export_formats = list(self.export_formats or [])
        if self.export_formats:  # Checked now, not after the whole search.
            from keras_cnns.export.formats import check_formats

            check_formats(self.export_formats)
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
