"""`train`: one call from a `TrainConfig` to a finished, resumable run directory.

Steps of `train`, each a small function below:

1. check the run directory (config mismatch, finished run, `overwrite`);
2. load the dataset (resized up to the model's minimum input size) and
   refuse non-finite inputs;
3. build and compile the model (under the strategy's scope, with the mixed
   precision policy), then restore the last backup if there is one;
4. `fit` from the first uncommitted epoch, with the callbacks of
   `keras_cnns.train.callbacks`;
5. evaluate `best.keras` on the test split, plot, write `metrics.json`.
"""

import contextlib
import dataclasses
import functools
import json
import logging
import math
import os
import warnings

import keras

from keras_cnns.data import (
    bundle_from_arrays,
    check_finite,
    load_arrays,
    load_dataset,
    resize_arrays,
)
from keras_cnns.registry import get_model, model_info
from keras_cnns import saving
from keras_cnns.locking import folder_lock
from keras_cnns._onednn import onednn_advice
from keras_cnns.train import atomic, backup, distributed
from keras_cnns.interrupts import stop_on_request_callback
from keras_cnns.train.tta import with_test_time_augmentation
from keras_cnns.train.initialization import dirac_initialize, set_batch_norm_momentum
from keras_cnns.train.fused_batch_norm import fused_batch_norm, use_fused_batch_norm
from keras_cnns.train.whitening import whiten_first_convolution
from keras_cnns.train.callbacks import DivergenceGuard, EpochStats, Lookahead, RunCheckpoint, WeightAveraging
from keras_cnns.train.config import LOCATION_FIELDS, TTA_VIEWS, TrainConfig, config_differences, with_field_defaults
from keras_cnns.train.errors import RunConfigMismatchError
from keras_cnns.train.metrics import classification_metrics
from keras_cnns.train.optimization import (
    add_kernel_l2,
    build_loss,
    build_optimizer,
    describe_norm_bias_scale,
    uses_kernel_l2,
)
from keras_cnns.train.precision import (
    check_precision_available, explain_dtype_policy, float32_model, gpu_available, resolve_dtype_policy,
)
from keras_cnns.train.plots import plot_confusion_matrix, plot_learning_curves
from keras_cnns.train.run_dir import RunLayout, locate_run, read_history, write_history
from keras_cnns.console import say

logger = logging.getLogger(__name__)
# Training images whose patches set the first convolution with whiten_first_conv.
WHITENING_IMAGES = 5000


@dataclasses.dataclass(frozen=True)
class RunResult:
    """The outcome of `train`.

    Attributes:
        out_dir: The run directory.
        config: The `TrainConfig` of the run.
        metrics: The content of `metrics.json`.
        history: Rows of `history.csv` (dicts, `epoch` 0-based).
        resumed_from_epoch: Epochs completed before this call when it resumed
            a run, else None.
        already_finished: True when the run directory held a finished run and
            nothing was trained.
    """

    out_dir: str
    config: TrainConfig
    metrics: dict
    history: list
    resumed_from_epoch: object = None
    already_finished: bool = False

    @property
    def test_accuracy(self):
        """Test accuracy of `best.keras`; None on processes other than the chief (only it evaluates)."""
        return None if self.metrics is None else self.metrics["test_accuracy"]

    @property
    def model_path(self):
        """Path of `best.keras`."""
        return RunLayout(self.out_dir).best_model

    def load_model(self):
        """Loads `best.keras` (safe mode)."""
        return load_best_model(self.model_path)


def train(config, *, strategy=None, cluster=None, verbose=1, overwrite=False, bundle=None,
          callbacks=(), check_data=True, model_builder=None):
    """Trains a model as `config` says, writing a resumable run directory.

    Rerunning `train` with the same config after the process was killed
    resumes from the end of the last completed epoch (weights, optimizer state
    and step, epoch counter, best-so-far, history) and ends after the same
    `config.epochs` as an uninterrupted run. Data order and augmentation after
    a resume come from a reseeded random generator (`seed + epochs done`),
    so a resumed run is not bit-identical to an uninterrupted one. If the
    directory holds a finished run, it is returned without training.

    Args:
        config: A `TrainConfig`.
        strategy: Optional `tf.distribute.Strategy`, e.g. `MirroredStrategy`
            for several devices of one machine; the model is built and
            compiled under its scope (TensorFlow backend).
        cluster: Optional `ProcessCluster` (`keras_cnns.train.distributed`)
            for one run shared by several processes or machines, with
            `keras.distribution.DataParallel` (JAX backend). Every process
            calls `train` with the same config and its own `process_id`;
            process 0 writes the run directory and evaluates the result, so
            `out_dir` must be readable by every process. Training and
            validation batches drop their last partial batch, and a `bundle`
            passed in must do the same (`load_dataset(drop_remainder=True)`).
        verbose: 0 silent, 1 progress bar and log lines, 2 one line per epoch.
        overwrite: Delete the run's files in `config.out_dir` first and train
            from scratch.
        bundle: Optional `DatasetBundle` to train on instead of loading
            `config.dataset` (e.g. custom data). `evaluate` then needs it
            passed again.
        callbacks: Extra Keras callbacks, run after the built-in ones.
        check_data: Check every split of a `bundle` passed in for NaN / inf
            before training (one pass over the data). Datasets `train` loads
            itself hold uint8 pixels and need no check.
        model_builder: Optional generic builder to call instead of the
            registered builder of `config.model`, with `config.model_kwargs`
            (see `build_model`); a resumed run must pass the same one.

    Returns:
        A `RunResult`; on processes other than the chief its `metrics` are
        None (only the chief evaluates).

    Raises:
        RunConfigMismatchError: If `config.out_dir` holds a run with another
            configuration.
        ValueError: If a data split holds NaN or inf.
        TrainingDiverged: If the loss becomes NaN or infinite; the last good
            checkpoint and backup are left untouched.

    Example:

    ```python
    config = default_config("resnet20", "fashion_mnist", out_dir="runs/r20")
    result = train(config)
    print(result.test_accuracy)
    ```
    """
    _check_train_arguments(config, strategy, cluster)
    if cluster is not None:
        distributed.connect(cluster)
    chief = cluster is None or cluster.is_chief
    # Only the chief writes the run directory; the other processes of a cluster read it.
    with folder_lock(config.out_dir, what="run directory") if chief else contextlib.nullcontext():
        return _train(config, chief, strategy=strategy, cluster=cluster, verbose=verbose, overwrite=overwrite,
                      bundle=bundle, callbacks=callbacks, check_data=check_data, model_builder=model_builder)


def _train(config, chief, *, strategy, cluster, verbose, overwrite, bundle, callbacks, check_data, model_builder):
    """`train` once the run directory is held."""
    layout = RunLayout(config.out_dir)
    if overwrite and chief:
        layout.clear()
    check_saved_config(layout, config)
    finished = completed_run(layout, config)
    if finished is not None:
        say("train", f"{layout.root} holds a finished run of {config.epochs} epochs (test accuracy "
            f"{finished.test_accuracy:.4f}); returning it. Pass overwrite=True to train again.", verbose)
        return finished

    # Other processes ignore what overwrite=True makes the chief delete.
    state = None if overwrite else atomic.read_json(layout.state)
    start_epoch = state["epochs_completed"] if state else 0
    # Same seed for a fresh run; a resumed run draws new data orders instead of replaying those of epoch 0.
    keras.utils.set_random_seed(config.seed + start_epoch)
    if bundle is None:
        # Finite by construction: uint8 pixels, normalized with a std of at least 1e-6.
        bundle = load_bundle(config, verbose=verbose, drop_remainder=cluster is not None)
    elif check_data:
        check_bundle_finite(bundle)
    # Dropped partial batches make no optimizer step.
    batches = bundle.num_train / config.batch_size
    steps_per_epoch = math.floor(batches) if cluster is not None else math.ceil(batches)
    with _training_scope(cluster):
        model = build_compiled_model(config, bundle, steps_per_epoch, strategy=strategy, model_builder=model_builder)
        say("train", "Computing in {} ({}).".format(*explain_dtype_policy(config.mixed_precision)), verbose)
        if config.norm_bias_lr_scale != 1:
            message, changes_anything = describe_norm_bias_scale(model, config.norm_bias_lr_scale)
            if not changes_anything:
                warnings.warn(message, stacklevel=2)
            say("train", message, verbose)
        if keras.backend.backend() == "tensorflow" and (advice := onednn_advice()):
            say("train", advice, verbose)
        if config.whiten_first_conv and state is None:  # A resumed run restores its trained first layer.
            whiten_first_convolution(model, _sample_images(bundle.train, WHITENING_IMAGES))
        checkpoint = _start_or_resume(layout, config, model, state, chief, bundle, strategy=strategy,
                                      verbose=verbose)
        run_callbacks = [EpochStats(), DivergenceGuard(config.epochs, run_dir=layout.root)]
        if config.lookahead_steps is not None:  # Before the averaging and the checkpoint: they see synced weights.
            run_callbacks.append(Lookahead(config.lookahead_steps, config.lookahead_alpha))
        if config.ema_decay is not None:  # Before the checkpoint, which then saves the averaged weights.
            run_callbacks.append(WeightAveraging(config.ema_decay, resumed=state is not None))
        if chief:  # Only the chief writes; every process runs the same epochs.
            run_callbacks += [checkpoint, keras.callbacks.TensorBoard(log_dir=layout.tensorboard)]
        if start_epoch < config.epochs:
            # Passes numbered from the epochs done, for flips that alternate by epoch.
            train_batches = bundle.train if bundle.training_stream is None else bundle.training_stream(start_epoch)
            # The saved model keeps Keras's own batch norm; only the training steps use the fused kernel.
            with fused_batch_norm(model, enabled=use_fused_batch_norm(config.fused_batch_norm)) as fused:
                if fused:
                    say("train", f"{fused} batch norm layers train with TensorFlow's fused kernel "
                        "(fused_batch_norm='auto'; False for Keras's own).", verbose)
                fit_passes(model, train_batches, steps_per_epoch, validation_data=bundle.val, epochs=config.epochs,
                           initial_epoch=start_epoch, callbacks=[*run_callbacks, *callbacks], verbose=verbose)
    resumed = start_epoch if state else None
    if not chief:
        say("train", f"Process {cluster.process_id} of {cluster.num_processes} finished its share of "
            f"{layout.root}; process 0 writes and evaluates the run.", verbose)
        return RunResult(out_dir=layout.root, config=config, metrics=None, history=[], resumed_from_epoch=resumed)
    metrics = evaluate_run(layout, config, bundle, checkpoint, model,
                           num_replicas=_num_replicas(strategy, cluster), verbose=verbose)
    say("train", f"Finished {layout.root}: test accuracy {metrics['test_accuracy']:.4f} "
        f"(best.keras, epoch {checkpoint.best_epoch + 1}).", verbose)
    return RunResult(out_dir=layout.root, config=config, metrics=metrics, history=checkpoint.history_rows,
                     resumed_from_epoch=resumed)


def _sample_images(dataset, count):
    """Up to `count` images of a batched `(images, labels)` dataset, as a numpy array."""
    images, _ = next(iter(dataset.unbatch().take(count).batch(count)))
    return keras.ops.convert_to_numpy(images)


def fit_passes(model, train, steps_per_epoch, *, validation_data=None, epochs, initial_epoch=0, callbacks=(),
               verbose=1):
    """`model.fit` over `train` repeated (unless it is endless already), `steps_per_epoch` batches (one pass)
    an epoch.

    One endless iterator for the whole run, which Keras keeps from epoch to
    epoch: given a finite dataset, Keras deletes and re-creates the iterator
    every epoch, and on TensorFlow 2.21 deleting one waits for tf.data's
    autotuning thread (11-15 s with the CPU idle, in a third to a half of the
    epochs; BENCHMARKS.md, "Stalled epochs"). The pipeline shuffles itself.
    """
    # A Ctrl-C swallowed on its way still stops; last, so that a finished epoch is checkpointed first.
    callbacks = [*callbacks, stop_on_request_callback()]
    import tensorflow as tf  # tf.data: the pipelines are tf.data on every backend.

    endless = int(train.cardinality()) == int(tf.data.INFINITE_CARDINALITY)
    return model.fit(train if endless else train.repeat(), steps_per_epoch=steps_per_epoch, validation_data=validation_data,
                     epochs=epochs, initial_epoch=initial_epoch, shuffle=False, callbacks=callbacks,
                     verbose=verbose)


def _check_train_arguments(config, strategy, cluster):
    if not isinstance(config, TrainConfig):
        raise ValueError(
            f"config must be a TrainConfig; received {type(config).__name__}. Build one "
            "with TrainConfig(...) or default_config(model, dataset)."
        )
    check_precision_available(config.mixed_precision)
    if strategy is not None and cluster is not None:
        raise ValueError(
            "Pass either strategy= (several devices of one machine, TensorFlow) or cluster= "
            "(several processes, JAX), not both."
        )


def _start_or_resume(layout, config, model, state, chief, bundle, *, strategy, verbose):
    """Writes the run's config (chief), restores the last backup if there is one; returns the checkpoint callback."""
    if chief:
        # Only once the network has built: a config it cannot build (e.g. an image_size below its minimum)
        # leaves no run behind to refuse the corrected command.
        atomic.write_json(layout.config, config.to_dict())
        layout.remove_temporary_files()
        layout.finish_pending_best(state)
    if state:
        restore_backup(model, layout, state, strategy=strategy)
        say("train", f"Resuming {layout.root} after epoch {state['epochs_completed']} of {config.epochs} "
            f"(best {state['monitor']} {state['best_value']:.4f} at epoch {state['best_epoch'] + 1}).", verbose)
    history_rows = state["history"] if state else []
    if chief:
        write_history(layout.history, history_rows)  # Drops rows of uncommitted epochs.
    return RunCheckpoint(
        layout,
        monitor="val_accuracy" if bundle.val is not None else "accuracy",
        history_rows=history_rows,
        best_value=state["best_value"] if state else None,
        best_epoch=state["best_epoch"] if state else None,
    )


def evaluate(run_dir_or_model_path, dataset=None, verbose=0, tta="run"):
    """Reloads a run's `best.keras` and computes its test metrics again.

    Args:
        run_dir_or_model_path: A run directory, or the path of a `.keras`
            file (its directory's `config.json` is used if present).
        dataset: None (the test split of the run's dataset, loaded from its
            `config.json` exactly as in training), a `DatasetBundle` (its
            test split), a dataset name (its test split, resized to the
            model's input) or a `tf.data.Dataset` of `(images, labels)`
            prepared like the training data.
        verbose: 1 shows a progress bar over the test batches.
        tta: `"run"` (the run's own `TrainConfig.tta`, as its
            `metrics.json` reports it; none for a `.keras` file without a
            run), None (the bare network), or a name of
            `keras_cnns.train.tta.TTA_VIEWS` (`"flip"`, `"flip_shift"`):
            evaluate the model wrapped in test-time augmentation, as
            `export_model(..., tta=...)` would ship it.

    Returns:
        Dict as in `metrics.json`'s test part: `test_accuracy`, `test_loss`,
        `num_test`, `per_class_accuracy`, `confusion_matrix`, `class_names`,
        plus `model_path`.

    Raises:
        FileNotFoundError: If there is no `best.keras` at the path.
        ValueError: If `dataset` is None and no `config.json` is found.

    Example:

    ```python
    metrics = evaluate("runs/resnet20-fashion_mnist")
    ```
    """
    saved = locate_run(run_dir_or_model_path)
    model_path, saved_metrics = saved.model_path, saved.metrics
    config = TrainConfig.from_dict(saved.config) if saved.config else None
    model = load_best_model(model_path)
    tta = run_tta(tta, config)
    if tta is not None:
        model = with_test_time_augmentation(model, tta)
    test, class_names = _evaluation_split(dataset, config, saved_metrics, model)
    loss = build_loss(config.label_smoothing) if config is not None else None
    metrics = classification_metrics(model, test, class_names, loss=loss, verbose=verbose)
    metrics["model_path"] = model_path
    metrics["test_time_augmentation"] = tta
    return metrics


def run_tta(tta, config):
    """`tta` as `evaluate` and `export_model` take it, resolved: `"run"` becomes the run's `config.tta`."""
    check_tta_argument(tta)
    if tta == "run":
        return None if config is None else config.tta
    return tta


def check_tta_argument(tta):
    """Raises unless `tta` is `"run"`, None or a name of `TTA_VIEWS` (the `tta` of `evaluate` and `export_model`)."""
    if tta is not None and not (isinstance(tta, str) and tta in ("run", *TTA_VIEWS)):
        raise ValueError(
            f"tta must be 'run' (the run's own setting), None (the bare network) or one of {list(TTA_VIEWS)}; "
            f"received {tta!r}. Pass for example tta='flip'."
        )


def load_best_model(path):
    """Loads a `.keras` file written by `train` for inference, in Keras' default safe mode.

    Loaded with `compile=False`: evaluation needs no optimizer state (and
    Keras warns when it restores a mixed-precision run's loss-scale
    optimizer). `keras.saving.load_model(path)` restores the optimizer too
    (`keras_cnns.saving` registers the schedules and loss).

    A network trained in mixed precision comes back computing in float32
    (`precision.float32_model`), as its exported files do.
    """
    return float32_model(saving.load_model(path, compile=False))


def check_saved_config(layout, config):
    """Raises if `layout` holds a run whose config differs from `config`.

    Location fields (`out_dir`, `data_dir`) may differ.

    Raises:
        RunConfigMismatchError: Naming each differing field, saved and new.
    """
    saved = atomic.read_json(layout.config)
    if saved is None:
        return
    saved_identity = {key: value for key, value in with_field_defaults(saved).items()
                      if key not in LOCATION_FIELDS}
    differences = config_differences(saved_identity, _json_normalized(config.identity()))
    if differences:
        raise RunConfigMismatchError(
            f"{layout.root} holds a run with another configuration ("
            + "; ".join(differences)
            + "). Resuming would mix two runs. Pass another out_dir, or "
            "overwrite=True to delete the old run."
        )


def completed_run(layout, config):
    """The `RunResult` of a finished run in `layout`, or None if it is not finished."""
    metrics = atomic.read_json(layout.metrics)
    if metrics is None or metrics.get("epochs_run") != config.epochs:
        return None
    return RunResult(
        out_dir=layout.root,
        config=config,
        metrics=metrics,
        history=read_history(layout.history),
        already_finished=True,
    )


def load_bundle(config, *, verbose=1, image_shape=None, drop_remainder=False):
    """Loads the dataset of `config`, at least as large as the model needs.

    Args:
        config: A `TrainConfig`.
        verbose: Whether to print a line when images are resized (and
            progress bars while a large image folder is read).
        image_shape: Force this `(height, width, channels)` (e.g. a trained
            model's input); default: `config.image_size`, else the dataset's
            own shape, resized up to the model's `min_input_size` if smaller.
        drop_remainder: As for `load_dataset` (multi-process training).

    Returns:
        A `DatasetBundle`.
    """
    _, arrays = load_run_arrays(config, verbose=verbose, image_shape=image_shape)
    return bundle_from_arrays(arrays, batch_size=config.batch_size, augment=config.augment,
                              seed=config.seed, drop_remainder=drop_remainder)


def load_run_arrays(config, *, verbose=1, image_shape=None):
    """The splits of `config`'s dataset as arrays: as loaded, and as the model sees them.

    Loaded at the config's `image_size` (which varying-size datasets need),
    else at the dataset's own size; then resized to `image_shape` or up to
    the model's minimum. Training, evaluation and export take this path, so
    they see the same pixels.

    Returns:
        `(loaded, resized)`: two `DatasetArrays` (the same object when no
        resize was needed).
    """
    size = None if config.image_size is None else tuple(config.image_size)
    loaded = load_arrays(
        config.dataset,
        data_dir=config.data_dir,
        validation_split=config.validation_split,
        seed=config.seed,
        image_size=size,
        channels=None if image_shape is None else image_shape[2],
        limit=config.limit,
        skip_bad_files=config.skip_bad_files,
        classes=config.classes,
        verbose=verbose,
    )
    if image_shape is not None:
        size = tuple(image_shape[:2])
    elif size is None:
        size = required_image_size(config.model, loaded.image_shape)
        if size is not None:
            min_size = model_info(config.model).min_input_size
            height, width = loaded.image_shape[:2]
            say("train", f"{config.model} needs inputs of at least {min_size}x{min_size}; resizing "
                 f"{config.dataset} from {height}x{width} to {size[0]}x{size[1]}.", verbose)
    return loaded, (loaded if size is None else resize_arrays(loaded, size))


def required_image_size(model_name, image_shape):
    """The `(height, width)` to resize to for `model_name`, or None if none is needed."""
    min_size = model_info(model_name).min_input_size
    height, width = image_shape[:2]
    if height >= min_size and width >= min_size:
        return None
    return max(height, min_size), max(width, min_size)


def check_bundle_finite(bundle):
    """Raises if any split of a `DatasetBundle` holds NaN or inf.

    Raises:
        ValueError: Naming the split and where the first bad value is.
    """
    for split, dataset in (("training", bundle.train), ("validation", bundle.val),
                           ("test", bundle.test)):
        if dataset is None:
            continue
        try:
            check_finite(dataset)
        except ValueError as error:
            raise ValueError(
                f"The {split} split of dataset {bundle.name!r} holds non-finite inputs, "
                f"so training was not started. {error}"
            ) from error


def build_compiled_model(config, bundle, steps_per_epoch, *, strategy=None, model_builder=None):
    """Builds and compiles the model of `config` for the data of `bundle`.

    Args:
        config: A `TrainConfig`.
        bundle: The `DatasetBundle` (input shape, number of classes).
        steps_per_epoch: Optimizer steps per epoch, for the schedule.
        strategy: Optional `tf.distribute.Strategy` to build under.
        model_builder: Optional builder to call instead of the registered
            one of `config.model` (see `build_model`).

    Returns:
        A compiled `keras.Model` with an `accuracy` metric.
    """
    model = build_model(config, bundle.image_shape, len(bundle.class_names), strategy=strategy,
                        model_builder=model_builder)
    return compile_model(model, config, steps_per_epoch, strategy=strategy)


def build_model(config, image_shape, classes, *, strategy=None, model_builder=None):
    """Builds the (uncompiled) network of `config`, under its dtype policy.

    Args:
        config: A `TrainConfig`.
        image_shape: `(height, width, channels)` of the inputs.
        classes: Number of classes.
        strategy: Optional `tf.distribute.Strategy` to build under.
        model_builder: Optional function called as `model_builder(input_shape=...,
            classes=..., **config.model_kwargs)` instead of the registered
            builder of `config.model`: a generic builder such as
            `keras_cnns.models.build_resnet`, whose `model_kwargs` then hold
            the whole architecture (e.g. a network found by a search).

    Returns:
        A `keras.Model`.

    Example:

    ```python
    config = TrainConfig("resnet20", model_kwargs={"stackwise_num_blocks": [2, 2],
                         "stackwise_num_filters": [16, 32], "block_type": "basic",
                         "stem": "cifar"})
    model = build_model(config, (28, 28, 1), 10, model_builder=keras_cnns.models.build_resnet)
    ```
    """
    if model_builder is None:
        model_builder = functools.partial(get_model, config.model)
    with _strategy_scope(strategy), _global_dtype_policy(resolve_dtype_policy(config.mixed_precision)):
        model = model_builder(input_shape=tuple(image_shape), classes=classes, **config.model_kwargs)
    if config.batch_norm_momentum is not None and not set_batch_norm_momentum(model, config.batch_norm_momentum):
        warnings.warn(f"batch_norm_momentum={config.batch_norm_momentum:g} changes nothing: the network built for "
                      f"model {config.model!r} has no BatchNormalization layer. Pass batch_norm_momentum=None, or a "
                      f"network with batch norm (e.g. model_kwargs batch_norm=True for VGG).", stacklevel=2)
    if config.dirac_init and not dirac_initialize(model):
        warnings.warn(f"dirac_init=True changes nothing: the network built for model {config.model!r} has no "
                      f"convolution after its first with an odd kernel of at least 3x3 and one group. Pass "
                      f"dirac_init=False.", stacklevel=2)
    return model


def compile_model(model, config, steps_per_epoch, *, strategy=None):
    """Compiles `model` with the loss, optimizer, schedule and weight decay of `config`.

    Args:
        model: A built `keras.Model`.
        config: A `TrainConfig`.
        steps_per_epoch: Optimizer steps per epoch, for the schedule.
        strategy: Optional `tf.distribute.Strategy` the model was built under.

    Returns:
        `model`, compiled with an `accuracy` metric.
    """
    with _strategy_scope(strategy), _global_dtype_policy(resolve_dtype_policy(config.mixed_precision)):
        if uses_kernel_l2(config):
            add_kernel_l2(model, config.weight_decay)
        model.compile(
            optimizer=build_optimizer(config, steps_per_epoch),
            loss=build_loss(config.label_smoothing),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            jit_compile=config.jit_compile,
        )
    return model


def restore_backup(model, layout, state, *, strategy=None):
    """Loads the committed backup (model and optimizer variables) into `model`."""
    path = os.path.join(layout.backup, state["weights_file"])
    with _strategy_scope(strategy):
        if not model.optimizer.built:
            # The optimizer's variables must exist to receive the saved values.
            model.optimizer.build(model.trainable_variables)
        backup.restore(model, path)


def evaluate_run(layout, config, bundle, checkpoint, model, *, num_replicas=1, verbose=0):
    """Evaluates `best.keras`, draws the plots and writes `metrics.json` (last)."""
    best_model = load_best_model(layout.best_model)
    if config.tta is not None:
        best_model = with_test_time_augmentation(best_model, config.tta)
    say("train", f"Evaluating {layout.best_model} on {bundle.num_test} test images.", verbose)
    metrics = classification_metrics(best_model, bundle.test, bundle.class_names,
                                     loss=build_loss(config.label_smoothing),
                                     verbose=verbose == 1)
    rows = checkpoint.history_rows
    train_seconds = sum(row.get("train_seconds") or 0.0 for row in rows)
    metrics.update(
        epochs_run=len(rows),
        best_epoch=checkpoint.best_epoch,
        monitor=checkpoint.monitor,
        best_value=checkpoint.best_value,
        final_epoch=rows[-1] if rows else None,
        test_time_augmentation=config.tta,
        training_wall_time_s=sum(row.get("epoch_seconds") or 0.0 for row in rows),
        train_seconds=train_seconds,
        images_per_second=(bundle.num_train * len(rows) / train_seconds) if train_seconds else None,
        num_train=bundle.num_train,
        num_val=bundle.num_val,
        image_shape=list(bundle.image_shape),
        # What a deployed model needs to prepare its inputs: `normalize(pixels, normalization)`.
        normalization=bundle.normalization,
        num_params=int(model.count_params()),
        dtype_policy=model.dtype_policy.name,
        jit_compile=bool(model.jit_compile),
        num_replicas=num_replicas,
        device="gpu" if gpu_available() else "cpu",
        backend=keras.backend.backend(),
        keras_version=keras.__version__,
        model_path=os.path.basename(layout.best_model),
        config=config.to_dict(),
    )
    plot_learning_curves(rows, layout.learning_curves)
    plot_confusion_matrix(metrics["confusion_matrix"], bundle.class_names, layout.confusion_matrix)
    atomic.write_json(layout.metrics, metrics)
    return metrics


def _evaluation_split(dataset, config, saved_metrics, model):
    image_shape = tuple(model.input_shape[1:])
    if dataset is None:
        if config is None:
            raise ValueError(
                "No config.json was found next to the model, so its dataset is unknown. "
                "Pass dataset= (a DatasetBundle, a dataset name or a tf.data.Dataset)."
            )
        bundle = load_bundle(config, image_shape=image_shape)
        return bundle.test, bundle.class_names
    if isinstance(dataset, (str, os.PathLike)):
        options = {} if config is None else dict(
            validation_split=config.validation_split, seed=config.seed, limit=config.limit,
            batch_size=config.batch_size, classes=config.classes,
        )
        bundle = load_dataset(dataset, image_size=image_shape[:2], channels=image_shape[2],
                              augment=None, **options)
        return bundle.test, bundle.class_names
    if hasattr(dataset, "test") and hasattr(dataset, "class_names"):
        return dataset.test, dataset.class_names
    num_classes = int(model.output_shape[-1])
    class_names = saved_metrics.get("class_names") or [str(i) for i in range(num_classes)]
    return dataset, class_names


@contextlib.contextmanager
def _global_dtype_policy(policy):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _strategy_scope(strategy):
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def _training_scope(cluster):
    return distributed.data_parallel_scope() if cluster is not None else contextlib.nullcontext()


def _num_replicas(strategy, cluster):
    if cluster is not None:
        return len(keras.distribution.list_devices())
    return getattr(strategy, "num_replicas_in_sync", 1)


def _json_normalized(data):
    return json.loads(json.dumps(data))
