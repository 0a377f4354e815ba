"""`fine_tune`: from a network trained on a large dataset to a small one, in two phases.

1. Head (`phase1_head/`): the backbone is frozen and only the new head
   trains, at `learning_rate`. The randomly initialized head would otherwise
   send large gradients into the pretrained features and wreck them.
2. Top blocks (`phase2_top_blocks/`): the top `unfreeze_blocks` blocks of the
   backbone train as well, at the lower `fine_tune_learning_rate` (default a
   tenth), starting from phase 1's best model.

Batch-norm layers stay frozen, and so in inference mode, throughout (see
`keras_cnns.transfer.backbone`). This is the recipe of Keras' transfer
learning guide (https://keras.io/guides/transfer_learning/) and of Yosinski
et al., "How transferable are features in deep neural networks?", NeurIPS
2014 (arXiv:1411.1792), for a small target dataset.

Each phase is a run of the training core (`keras_cnns.train.train`, with a
`model_builder`): its own run directory, resumable, with its `config.json`
(a `TrainConfig` whose `model_kwargs` say how the model was built). The
fine-tuning directory holds both, its own `finetune.json`, and the better of
the two phases (by validation accuracy) as `best.keras`, `config.json` and
`metrics.json`, so `evaluate`, `export` and `visualize` take it like any run
directory.
"""

import dataclasses
import os
import shutil

import numpy as np

from keras_cnns.data import load_dataset
from keras_cnns import saving
from keras_cnns.locking import folder_lock
from keras_cnns.train import atomic
from keras_cnns.transfer.config import PHASES, FineTuneConfig
from keras_cnns.train.errors import RunConfigMismatchError
from keras_cnns.train.run_dir import RunLayout
from keras_cnns.train.trainer import load_best_model, train
from keras_cnns.transfer.backbone import (
    build_transfer_model,
    check_imagenet_name,
    find_blocks,
    load_source,
    set_trainable,
)

FINETUNE_CONFIG = "finetune.json"


@dataclasses.dataclass(frozen=True)
class FineTuneResult:
    """The outcome of `fine_tune`.

    Attributes:
        out_dir: The fine-tuning directory.
        config: The `FineTuneConfig`.
        metrics: The content of its `metrics.json` (test metrics of the
            chosen phase, and `fine_tune`: a summary per phase).
        phases: The `RunResult` of each phase run.
    """

    out_dir: str
    config: FineTuneConfig
    metrics: dict
    phases: tuple

    @property
    def test_accuracy(self):
        """Test accuracy of the fine-tuned `best.keras`."""
        return self.metrics["test_accuracy"]

    @property
    def model_path(self):
        """Path of the fine-tuned `best.keras`."""
        return RunLayout(self.out_dir).best_model


def build_phase_model(*, input_shape, classes, source, phase, target_normalization, dropout=0.2,
                      feature_layer=None, unfreeze_blocks=0, start_from=None, image_shape=None):
    """Builds a phase's model; the training core calls it as its `model_builder`.

    Phase 1 cuts the source and adds the new head, with only the head
    trainable. Phase 2 loads phase 1's best model (`start_from`) and opens
    the top `unfreeze_blocks` blocks. Its keyword arguments are the phase's
    `TrainConfig.model_kwargs`, so they are saved in its `config.json`, and a
    resumed run builds the same model.

    Raises:
        ValueError: If the data's shape does not match the network's input.
    """
    if phase == PHASES[0]:
        loaded = load_source(source, image_shape=image_shape)
        model = build_transfer_model(loaded, classes, target_normalization=target_normalization,
                                     dropout=dropout, feature_layer=feature_layer)
        set_trainable(model, 0)
    else:
        # As trained (in its dtype policy), not load_best_model's float32 copy for inference.
        model = saving.load_model(start_from, compile=False)
        set_trainable(model, unfreeze_blocks)
    expected = tuple(model.inputs[0].shape[1:])
    if any(want is not None and got != want for got, want in zip(input_shape, expected)):
        raise ValueError(
            f"The data has shape {tuple(input_shape)} but the network takes {expected}. Load the "
            "data at the network's input size and channel count."
        )
    return model


def fine_tune(config=None, *, bundle=None, overwrite=False, verbose=1, **fields):
    """Fine-tunes a pretrained network on a new, small dataset (two phases).

    Rerunning with the same config resumes (each phase is a resumable run of
    the training core); a finished run is returned as it is.

    Args:
        config: A `FineTuneConfig`, or None to build one from `fields`.
        bundle: Optional `DatasetBundle` to train on instead of loading
            `config.dataset` (its images must have the network's input shape).
        overwrite: Delete the fine-tuning directory's runs first.
        verbose: As for `train`.
        **fields: `FineTuneConfig` fields, when `config` is None.

    Returns:
        A `FineTuneResult`.

    Raises:
        ValueError: On a bad config, or data that does not fit the network.
        RunConfigMismatchError: If `out_dir` holds a fine-tuning run with
            another config.
        FileNotFoundError: If `source` does not exist.

    Example:

    ```python
    result = fine_tune(source="runs/r20-five-classes", dataset="fashion_mnist",
                       classes=[5, 6, 7, 8, 9], limit=500, out_dir="runs/ft")
    print(result.test_accuracy, result.metrics["fine_tune"]["phases"])
    ```
    """
    if config is None:
        config = FineTuneConfig(**fields)
    elif fields:
        raise ValueError(f"Pass either a FineTuneConfig or its fields, not both; received {sorted(fields)}.")
    if not isinstance(config, FineTuneConfig):
        raise ValueError(f"config must be a FineTuneConfig; received {type(config).__name__}.")
    with folder_lock(config.out_dir, what="fine-tuning directory"):
        return _fine_tune(config, bundle, overwrite, verbose)


def _fine_tune(config, bundle, overwrite, verbose):
    """`fine_tune` once its directory is held."""
    layout = RunLayout(config.out_dir)
    record = os.path.join(config.out_dir, FINETUNE_CONFIG)
    if overwrite:
        for phase in PHASES:
            RunLayout(os.path.join(config.out_dir, phase)).clear()
        layout.clear()
        if os.path.exists(record):
            os.remove(record)
    _check_record(record, config)

    from_imagenet = not os.path.exists(config.source)
    if from_imagenet:
        check_imagenet_name(config.source)
        # The data first: the network is built at the data's size.
        bundle = bundle or _load_data(config, (*(config.image_size or (None, None)), 3), min_size=32)
        source = load_source(config.source, image_shape=bundle.image_shape)
    else:
        source = load_source(config.source)
    architecture = _architecture(source)
    shared = dict(source=config.source, dropout=config.dropout, feature_layer=config.feature_layer,
                  image_shape=list(source.model.inputs[0].shape[1:]) if from_imagenet else None)
    phases = PHASES if config.fine_tune_epochs else PHASES[:1]
    # Every setting is checked (as TrainConfig checks it) before any data is loaded.
    for phase in phases:
        config.phase_config(phase, architecture, {})
    if bundle is None:
        bundle = _load_data(config, tuple(source.model.inputs[0].shape[1:]))
    # Only now that the data loaded: a failed load leaves no record to refuse the corrected command.
    atomic.write_json(record, config.to_dict())
    results = []
    for phase in phases:
        kwargs = dict(shared, phase=phase, target_normalization=bundle.normalization)
        if phase == PHASES[1]:
            kwargs.update(unfreeze_blocks=config.unfreeze_blocks,
                          start_from=RunLayout(os.path.join(config.out_dir, PHASES[0])).best_model)
        phase_config = config.phase_config(phase, architecture, kwargs,
                                           image_size=list(bundle.image_shape[:2]))
        results.append(train(phase_config, bundle=bundle, model_builder=build_phase_model,
                             verbose=verbose))
    metrics = _finish(config, layout, results)
    return FineTuneResult(out_dir=config.out_dir, config=config, metrics=metrics, phases=tuple(results))


def _check_record(record, config):
    saved = atomic.read_json(record)
    if saved is None:
        return
    new = config.to_dict()
    differences = [f"{key}: saved {saved.get(key)!r}, new {new.get(key)!r}"
                   for key in sorted(set(saved) | set(new)) if key != "out_dir" and saved.get(key) != new.get(key)]
    if differences:
        raise RunConfigMismatchError(
            f"{config.out_dir} holds a fine-tuning run with another configuration ("
            + "; ".join(differences) + "). Pass another out_dir, or overwrite=True."
        )


def _architecture(source):
    if source.architecture is not None:
        return source.architecture
    raise ValueError(
        f"{source.description} holds a network named {source.model.name!r}, which is not a "
        "registered architecture, and no config.json beside it says which one it is. Fine-tuning "
        "records each phase as a run of a registered network: register its builder with "
        "keras_cnns.register_model, or fine-tune from the run directory that trained it."
    )


def _load_data(config, image_shape, min_size=1):
    """The new dataset at the network's input size and channels (open sizes: the data's own)."""
    height, width, channels = image_shape
    size = None if height is None or width is None else (height, width)
    options = dict(data_dir=config.data_dir, batch_size=config.batch_size,
                   validation_split=config.validation_split, seed=config.seed, channels=channels,
                   augment=config.augment, limit=config.limit, classes=config.classes,
                   skip_bad_files=config.skip_bad_files)
    bundle = load_dataset(config.dataset, image_size=size, **options)
    own = bundle.image_shape[:2]
    if size is None and min(own) < min_size:
        bundle = load_dataset(config.dataset, image_size=(max(own[0], min_size), max(own[1], min_size)),
                              **options)
    return bundle


def _finish(config, layout, results):
    """Copies the better phase's model, config and metrics to the fine-tuning directory."""
    summaries = []
    for result in results:
        model = load_best_model(result.model_path)
        kwargs = result.config.model_kwargs
        summaries.append({
            "phase": kwargs["phase"],
            "run_dir": result.out_dir,
            "epochs": result.config.epochs,
            "learning_rate": result.config.learning_rate,
            "unfrozen_blocks": [name for name, layers in find_blocks(model)
                                if any(layer.trainable_weights for layer in layers)],
            "trainable_weights": len(model.trainable_weights),
            "trainable_params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
            "best_" + result.metrics["monitor"]: result.metrics["best_value"],
            "test_accuracy": result.metrics["test_accuracy"],
        })
    chosen = max(range(len(results)), key=lambda i: (results[i].metrics["best_value"], i))
    best = results[chosen]
    best_layout = RunLayout(best.out_dir)
    for source_path, target_path in ((best_layout.best_model, layout.best_model),
                                     (best_layout.config, layout.config)):
        with atomic.atomic_path(target_path) as temporary:
            shutil.copyfile(source_path, temporary)
    metrics = dict(best.metrics)
    metrics["fine_tune"] = {
        "source": config.source,
        "chosen_phase": best.config.model_kwargs["phase"],
        "phases": summaries,
    }
    atomic.write_json(layout.metrics, metrics)
    return metrics

