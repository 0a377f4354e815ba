"""`FineTuneConfig`: what a fine-tuning run does, checked when it is made.

Only light imports, so that the command line reads its defaults from here.
"""

import dataclasses
import os
import re

from keras_cnns.train.config import RUNS_ROOT, TrainConfig

PHASES = ("phase1_head", "phase2_top_blocks")
# The lower learning rate of phase 2, relative to phase 1's.
FINE_TUNE_LEARNING_RATE_FACTOR = 0.1


@dataclasses.dataclass
class FineTuneConfig:
    """Everything that defines a fine-tuning run.

    Attributes:
        source: A run directory, a `.keras` file, or a registered network
            with published ImageNet weights (`vgg16`, `resnet50`, ...).
        dataset: The new dataset, as for `load_dataset`.
        classes: Optional classes of `dataset` to keep (`load_dataset(classes=...)`).
        limit: Optional number of labelled images (training plus validation).
        head_epochs: Epochs of phase 1 (backbone frozen).
        fine_tune_epochs: Epochs of phase 2 (top blocks trained too); 0
            skips phase 2.
        unfreeze_blocks: Blocks trained in phase 2, counted from the top, or
            a list of block names (`keras_cnns.transfer.find_blocks`).
        learning_rate: Phase 1's learning rate.
        fine_tune_learning_rate: Phase 2's; default `learning_rate / 10`.
        optimizer, weight_decay, label_smoothing, schedule, batch_size,
        augment, validation_split, seed, mixed_precision, jit_compile,
        data_dir: As in `TrainConfig`, for both phases.
        dropout: Dropout rate of the new head.
        image_size: For ImageNet sources: `(height, width)` to resize to
            (default: the dataset's size, at least 32x32). Trained sources
            take their own input size.
        feature_layer: Layer to cut the source after; default its last
            feature map (`keras_cnns.inspect.feature_map_call`).
        out_dir: Fine-tuning directory; default
            `runs/finetune-<source>-<dataset>`.
    """

    source: str
    dataset: str = "fashion_mnist"
    classes: object = None
    limit: object = None
    head_epochs: int = 20
    fine_tune_epochs: int = 20
    unfreeze_blocks: object = 1
    learning_rate: float = 1e-2
    fine_tune_learning_rate: object = None
    optimizer: str = "adam"
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    schedule: str = "cosine"
    batch_size: int = 32
    dropout: float = 0.2
    augment: object = "default"
    validation_split: float = 0.1
    seed: int = 0
    image_size: object = None
    feature_layer: object = None
    mixed_precision: str = "auto"
    jit_compile: object = "auto"
    skip_bad_files: bool = False
    data_dir: object = None
    out_dir: object = None

    def __post_init__(self):
        if not isinstance(self.source, (str, os.PathLike)) or not os.fspath(self.source):
            raise ValueError(
                f"source must be a run directory, a .keras file or a network name; received "
                f"{self.source!r}."
            )
        self.source = os.fspath(self.source)
        for field in ("head_epochs", "fine_tune_epochs"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value < (1 if field == "head_epochs" else 0):
                raise ValueError(
                    f"{field} must be an int of at least {1 if field == 'head_epochs' else 0}; "
                    f"received {value!r}."
                )
        if isinstance(self.unfreeze_blocks, tuple):
            self.unfreeze_blocks = list(self.unfreeze_blocks)
        if not (isinstance(self.unfreeze_blocks, list) and all(isinstance(b, str) for b in self.unfreeze_blocks)) \
                and not (isinstance(self.unfreeze_blocks, int) and not isinstance(self.unfreeze_blocks, bool)
                         and self.unfreeze_blocks >= 0):
            raise ValueError(
                f"unfreeze_blocks must be an int >= 0 or a list of block names; received "
                f"{self.unfreeze_blocks!r}."
            )
        if not isinstance(self.dropout, (int, float)) or isinstance(self.dropout, bool) \
                or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1); received {self.dropout!r}.")
        if self.fine_tune_learning_rate is None:
            self.fine_tune_learning_rate = self.learning_rate * FINE_TUNE_LEARNING_RATE_FACTOR
        if self.image_size is not None:
            size = self.image_size
            size = (size, size) if isinstance(size, int) and not isinstance(size, bool) else size
            if not (isinstance(size, (list, tuple)) and len(size) == 2
                    and all(isinstance(s, int) and s > 0 for s in size)):
                raise ValueError(f"image_size must be an int or (height, width); received {self.image_size!r}.")
            self.image_size = list(size)
        if self.classes is not None:
            self.classes = list(self.classes)
        if self.out_dir is None:
            self.out_dir = os.path.join(RUNS_ROOT, f"finetune-{slug(self.source)}-{slug(self.dataset)}")
        self.out_dir = os.fspath(self.out_dir)

    def to_dict(self):
        """The config as a JSON-serializable dict."""
        return dataclasses.asdict(self)

    def phase_config(self, phase, architecture, model_kwargs, image_size=None):
        """The `TrainConfig` of one phase; `image_size`: the size its data was loaded at."""
        first = phase == PHASES[0]
        epochs = self.head_epochs if first else self.fine_tune_epochs
        return TrainConfig(
            model=architecture,
            dataset=self.dataset,
            epochs=max(epochs, 1),
            batch_size=self.batch_size,
            optimizer=self.optimizer,
            learning_rate=self.learning_rate if first else self.fine_tune_learning_rate,
            weight_decay=self.weight_decay,
            schedule=self.schedule,
            # The head starts from scratch on frozen features: no warm-up. The
            # opened blocks get a short one, so that their first steps are small.
            warmup_epochs=0 if first else min(1, epochs / 5),
            label_smoothing=self.label_smoothing,
            mixed_precision=self.mixed_precision,
            jit_compile=self.jit_compile,
            seed=self.seed,
            validation_split=self.validation_split,
            augment=self.augment,
            limit=self.limit,
            classes=self.classes,
            model_kwargs=model_kwargs,
            data_dir=self.data_dir,
            out_dir=os.path.join(self.out_dir, phase),
            # Recorded so that evaluating or exporting the phase's run loads
            # its data the same way (datasets whose images vary in size need it).
            image_size=image_size,
            skip_bad_files=self.skip_bad_files,
        )


def slug(text):
    """A folder-name-safe form of a path or name."""
    name = os.path.basename(os.path.normpath(os.fspath(text)))
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "source"
