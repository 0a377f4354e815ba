"""Callbacks of the training loop: timing, divergence guard, checkpoints and backups.

They run in the order `EpochStats`, `DivergenceGuard`, `Lookahead` (with
`lookahead_steps`), `WeightAveraging` (with `ema_decay`), `RunCheckpoint`, so an epoch's timings reach the
history, a diverged epoch never reaches a checkpoint, and the checkpoint
holds the averaged weights.
"""

import math
import os
import time

import keras
import numpy as np

from keras_cnns.train import atomic, backup
from keras_cnns.train.distributed import process_local
from keras_cnns.train.errors import TrainingDiverged
from keras_cnns.train.run_dir import write_history


def current_learning_rate(optimizer):
    """The optimizer's learning rate at its current step, as a float."""
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


class EpochStats(keras.callbacks.Callback):
    """Adds `learning_rate`, `epoch_seconds` and `train_seconds` to the epoch logs.

    `train_seconds` stops when validation starts, so images per second
    measure training alone; `epoch_seconds` includes validation.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._train_end = None

    def on_test_begin(self, logs=None):
        if self._train_end is None:
            self._train_end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        logs["learning_rate"] = current_learning_rate(self.model.optimizer)
        logs["epoch_seconds"] = now - self._epoch_start
        logs["train_seconds"] = (self._train_end or now) - self._epoch_start


class DivergenceGuard(keras.callbacks.Callback):
    """Raises `TrainingDiverged` as soon as the loss is NaN or infinite.

    Checked after every batch (the running mean of the loss stays non-finite
    once one batch was) and on the epoch's logs (which add the validation
    loss). Raising, rather than stopping, keeps the epoch-end callbacks from
    saving a broken model, so the last good checkpoint stays untouched.

    Args:
        epochs: Total epochs, for the message.
        run_dir: Run directory, for the message (or None).
    """

    def __init__(self, epochs, run_dir=None):
        super().__init__()
        self.epochs = epochs
        self.run_dir = run_dir
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self._check(logs, ("loss",), batch)

    def on_epoch_end(self, epoch, logs=None):
        self._check(logs, ("loss", "val_loss"), None)

    def _check(self, logs, keys, batch):
        for key in keys:
            if logs is None or key not in logs:
                continue
            value = float(np.asarray(logs[key]))
            if not math.isfinite(value):
                raise TrainingDiverged(self._message(key, value, batch),
                                       epoch=self._epoch, batch=batch, value=value)

    def _message(self, key, value, batch):
        where = f"epoch {self._epoch + 1}/{self.epochs}"
        where += f", batch {batch + 1}" if batch is not None else " (end of epoch)"
        learning_rate = current_learning_rate(self.model.optimizer)
        kept = (f" The last good checkpoint and backup in {self.run_dir} are left untouched."
                if self.run_dir else "")
        return (
            f"Training diverged: {key} became {value} at {where}, with learning rate "
            f"{learning_rate:.3g}.{kept} Lower the learning rate (e.g. 10x), lengthen "
            "warm-up or add batch norm, and start again in a new out_dir (or with "
            "overwrite=True)."
        )


class WeightAveraging(keras.callbacks.SwapEMAWeights):
    """Puts the moving average of the weights, and of the batch-norm statistics, in the model between epochs.

    Keras' `SwapEMAWeights(swap_on_epoch=True)`: the model trains on its own
    weights, and between epochs (validation, `RunCheckpoint`, and after the
    last epoch) holds the average, with its own weights kept in the
    optimizer's average slots. A backup is therefore written swapped; a run
    that resumes from one passes `resumed=True`, so that the first epoch
    swaps back before training on.

    Keras' `use_ema` averages the trainable variables only. The batch-norm
    moving means and variances gathered with the trained weights do not fit
    their average while the weights still move fast: near the peak
    learning rate, a ResNet-20 x2's averaged weights scored 3.2-5.3 points
    lower with them than with statistics recomputed for the average
    (BENCHMARKS.md, "What the averaged weights score between epochs"). So
    this callback also averages those statistics, at the same `decay` a
    step, read every `statistics_every` steps (timm's `ModelEmaV3` likewise
    averages a model's buffers with its parameters), and swaps them in and
    out with the weights. A resumed run starts its trained statistics from
    the averaged ones in its backup (batch norm's momentum brings them back
    to the trained weights' within some tens of steps at 0.9, hundreds at
    Keras' 0.99).

    Args:
        decay: The optimizer's `ema_momentum` (the run's `ema_decay`).
        resumed: The model was restored from a backup written by a run with
            this callback.
    """

    # The statistics are read every this many steps (with the decay for that many): read after every step
    # they cost the main job's step about 6%, every fourth 1-2% (bench_averaged_statistics.py --overhead),
    # and batch norm's own momentum has already smoothed them.
    statistics_every = 4

    def __init__(self, decay, resumed=False):
        super().__init__(swap_on_epoch=True)
        self.decay = float(decay)
        self._ema_weights_in_model = bool(resumed)
        self._statistics = None  # The model's batch-norm moving means and variances.
        # All of them in one flat array: their average while training, the trained values while the average is
        # in the model.
        self._held = None
        self._steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1
        if self._held is not None and self._steps % self.statistics_every:
            return
        current = self._read_statistics(self.model)  # On JAX, `self.model` brings the variables up to date.
        if self._held is None:
            self._held = current
        else:
            decay = self.decay ** self.statistics_every
            self._held = decay * self._held + (1.0 - decay) * current

    def _swap_variables(self):
        # Every swap of Keras' callback (epoch, validation, prediction) passes here.
        super()._swap_variables()
        current = self._read_statistics(self.model)
        if self._held is not None:
            ends = np.cumsum([int(np.prod(variable.shape)) for variable in self._statistics])
            for variable, value in zip(self._statistics, np.split(self._held, ends[:-1])):
                variable.assign(value.reshape(variable.shape))
        self._held = current  # Before any step (a resumed run's first swap) both start from the model's.

    def _read_statistics(self, model):
        if self._statistics is None:
            self._statistics = [variable for layer in model._flatten_layers(include_self=False)
                                if isinstance(layer, keras.layers.BatchNormalization)
                                for variable in (layer.moving_mean, layer.moving_variance)]
        if not self._statistics:
            return np.zeros(0, dtype="float32")
        # One read of all of them: a read of each cost about 80 microseconds on the CPU, a reshape as much.
        parts = self._statistics
        if any(len(variable.shape) != 1 for variable in parts):  # Batch norm over more than the channel axis.
            parts = [keras.ops.reshape(variable, (-1,)) for variable in parts]
        flat = keras.ops.concatenate(parts)
        return np.array(keras.ops.convert_to_numpy(flat), dtype="float64")


class Lookahead(keras.callbacks.Callback):
    """Lookahead (Zhang, Lucas, Hinton and Ba, "Lookahead Optimizer: k steps forward, 1 step back", 2019).

    Keeps a slow copy of the trainable weights. Every `steps` optimizer
    steps, the slow weights move `alpha` of the way to the trained (fast)
    ones, and training goes on from there: `slow += alpha * (fast - slow)`,
    then `fast = slow`. The end of each epoch, and the start of validation,
    are such points too, so validation, checkpoints and backups hold weights
    just synchronized; a resumed run starts its slow weights from those it
    resumes with, as the uninterrupted run did at that epoch's end.

    Args:
        steps: Optimizer steps between two synchronizations (`k`, e.g. 5).
        alpha: How far the slow weights move each time, in `(0, 1]`.
    """

    def __init__(self, steps, alpha=0.5):
        super().__init__()
        self.steps, self.alpha = int(steps), float(alpha)
        self._slow, self._since_sync = None, 0

    def on_train_begin(self, logs=None):
        self._slow, self._since_sync = None, 0

    def on_train_batch_begin(self, batch, logs=None):
        if self._slow is None:
            # At the first step, not at the start of training: a run resumed with weight averaging holds the
            # average until `WeightAveraging` swaps its own weights back in at the epoch's start.
            self._slow = [keras.ops.convert_to_numpy(v).copy() for v in self.model.trainable_variables]

    def on_train_batch_end(self, batch, logs=None):
        self._since_sync += 1
        if self._since_sync >= self.steps:
            self.synchronize()

    def on_test_begin(self, logs=None):
        self.synchronize()

    def on_epoch_end(self, epoch, logs=None):
        self.synchronize()

    def synchronize(self):
        """Moves the slow weights toward the fast ones and puts them in the model (no-op right after one)."""
        if self._since_sync == 0 or self._slow is None:
            return
        for slow, variable in zip(self._slow, self.model.trainable_variables):
            slow += self.alpha * (keras.ops.convert_to_numpy(variable) - slow)
            variable.assign(slow)
        self._since_sync = 0


class RunCheckpoint(keras.callbacks.Callback):
    """Saves the best model, the history and a resumable backup after each epoch.

    At the end of epoch `e`, in this order:

    1. if `monitor` improved: the whole model to `backup/best_epoch_e.keras`;
    2. model and optimizer variables to `backup/epoch_<e+1>.variables.npz` (`keras_cnns.train.backup`);
    3. `history.csv` with this epoch's row;
    4. `backup/state.json`: the commit. It names the weights file, the
       epochs completed, the best value and epoch, and the history rows;
    5. the pending best model is renamed to `best.keras`, older backups deleted.

    Each write is atomic. A kill before step 4 leaves the previous commit in
    force (the epoch is trained again on resume); a kill after it leaves a
    pending best model that `RunLayout.finish_pending_best` moves into place.

    Args:
        layout: The run's `RunLayout`.
        monitor: Log key of the quantity to maximize (e.g. `"val_accuracy"`).
        history_rows: Rows of the epochs completed before (resume); extended.
        best_value: Best `monitor` value so far, or None.
        best_epoch: Its 0-based epoch, or None.
    """

    def __init__(self, layout, monitor, history_rows=(), best_value=None, best_epoch=None):
        super().__init__()
        self.layout = layout
        self.monitor = monitor
        self.history_rows = list(history_rows)
        self.best_value = best_value
        self.best_epoch = best_epoch

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if self.monitor not in logs:
            raise KeyError(
                f"RunCheckpoint monitors {self.monitor!r}, but the epoch logs hold only "
                f"{sorted(logs)}. Compile the model with an 'accuracy' metric."
            )
        value = float(logs[self.monitor])
        improved = self.best_value is None or value > self.best_value
        # In a multi-process run only the chief saves, while the others go on.
        with process_local():
            self._commit(epoch, logs, value, improved)

    def _commit(self, epoch, logs, value, improved):
        if improved:
            atomic.save_model(self.model, self.layout.pending_best(epoch))
        weights_path = self.layout.backup_weights(epoch + 1)
        backup.save(self.model, weights_path)
        rows = self.history_rows + [history_row(epoch, logs)]
        write_history(self.layout.history, rows)
        best_value, best_epoch = (value, epoch) if improved else (self.best_value, self.best_epoch)
        atomic.write_json(self.layout.state, {
            "epochs_completed": epoch + 1,
            "weights_file": os.path.basename(weights_path),
            "monitor": self.monitor,
            "best_value": best_value,
            "best_epoch": best_epoch,
            "history": rows,
        })
        self.history_rows, self.best_value, self.best_epoch = rows, best_value, best_epoch
        if improved:
            atomic.atomic_rename(self.layout.pending_best(epoch), self.layout.best_model)
        self.layout.prune_backups(keep=weights_path)


def history_row(epoch, logs):
    """One history.csv row: the 0-based epoch and every scalar in `logs`, as floats."""
    row = {"epoch": int(epoch)}
    for key, value in logs.items():
        array = np.asarray(value)
        if array.ndim == 0 and np.issubdtype(array.dtype, np.number):
            row[key] = float(array)
    return row
