"""The training core: config validation and recipes, schedules, a run that
learns and the files it writes, evaluate, resume after SIGKILL, atomic saves,
NaN / divergence handling and MirroredStrategy. Uses the scikit-learn digits
and tiny models; runs in well under two minutes on two CPU cores."""

import dataclasses
import glob
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_cnns.data import load_dataset
from keras_cnns.locking import LOCK_FILE
from keras_cnns.train import (
    OneCycle,
    RunConfigMismatchError,
    RunLayout,
    TrainConfig,
    TrainingDiverged,
    WarmupCosineDecay,
    WarmupStepDecay,
    build_compiled_model,
    default_config,
    evaluate,
    read_history,
    save_model,
    train,
)
from keras_cnns.train import precision
from keras_cnns.train.run_dir import write_history
from keras_cnns.train.trainer import required_image_size

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
METRICS_KEYS = {
    "test_accuracy", "test_loss", "per_class_accuracy", "confusion_matrix", "class_names",
    "training_wall_time_s", "images_per_second", "epochs_run", "config", "best_epoch",
}


def tiny_config(out_dir, **overrides):
    """A seconds-fast digits run of a narrow LeNet-5."""
    options = dict(
        model="lenet5", dataset="digits", epochs=3, batch_size=64, optimizer="adam",
        learning_rate=3e-3, weight_decay=0.0, label_smoothing=0.1, limit=500,
        model_kwargs={"width_multiplier": 0.5}, out_dir=str(out_dir),
    )
    options.update(overrides)
    return TrainConfig(**options)


def run_python(code, *args, timeout=240):
    """Runs Python code in a fresh interpreter on the TensorFlow backend."""
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def temporary_files(directory):
    return glob.glob(os.path.join(directory, "**", ".*.tmp-*"), recursive=True)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A full run: LeNet-5 on all of digits for 4 epochs."""
    config = tiny_config(tmp_path_factory.mktemp("runs") / "lenet5-digits", epochs=4, limit=None,
                         model_kwargs={})
    return train(config, verbose=0)


# ----------------------------------------------------------------- config


@pytest.mark.parametrize("overrides, message", [
    ({"optimizer": "rmsprop"}, "optimizer must be one of"),
    ({"schedule": "linear"}, "schedule must be one of"),
    ({"epochs": 0}, "epochs must be a positive int"),
    ({"epochs": 2.5}, "epochs must be a positive int"),
    ({"batch_size": -8}, "batch_size must be a positive int"),
    ({"learning_rate": 0.0}, "learning_rate must be a finite number"),
    ({"learning_rate": float("nan")}, "learning_rate must be a finite number"),
    ({"weight_decay": -1e-4}, "weight_decay must be a finite number"),
    ({"label_smoothing": 1.0}, "label_smoothing must be a finite number"),
    ({"validation_split": 1.0}, "validation_split"),
    ({"warmup_epochs": 5}, "warmup_epochs .* must be smaller than epochs"),
    ({"mixed_precision": "fp16"}, "mixed_precision must be one of"),
    ({"jit_compile": 1}, "jit_compile must be one of"),
    ({"seed": "0"}, "seed must be an int"),
    ({"limit": 0}, "limit must be a positive int"),
    ({"model": "resnet21"}, "Unknown model 'resnet21'"),
    ({"model_kwargs": {"classes": 5}}, "model_kwargs may not set"),
    ({"augment": {"spin": 1}}, "Unknown augmentation recipe key"),
    ({"image_size": 0}, "image_size must be None, a positive int or \\[height, width\\]"),
    ({"image_size": [32, 32, 1]}, "image_size must be None, a positive int or \\[height, width\\]"),
    ({"skip_bad_files": "yes"}, "skip_bad_files must be True or False"),
])
def test_invalid_config_is_refused_with_a_clear_message(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(tmp_path, **overrides)


def test_config_round_trips_through_json(tmp_path):
    config = tiny_config(tmp_path, augment={"translation": 0.1}, model_kwargs={"batch_norm": True})
    again = TrainConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    with pytest.raises(ValueError, match="Unknown TrainConfig field"):
        TrainConfig.from_dict({**config.to_dict(), "momentum": 0.9})


def test_default_recipes():
    resnet = default_config("resnet20", "fashion_mnist")
    assert (resnet.optimizer, resnet.learning_rate, resnet.weight_decay) == ("sgd", 0.1, 5e-4)
    assert (resnet.schedule, resnet.label_smoothing, resnet.warmup_epochs) == ("cosine", 0.1, 2)
    assert resnet.out_dir == os.path.join("runs", "resnet20-fashion_mnist")
    lenet = default_config("lenet5", "digits", epochs=3)
    assert (lenet.optimizer, lenet.learning_rate, lenet.epochs) == ("adam", 1e-3, 3)
    assert lenet.warmup_epochs < lenet.epochs
    assert TrainConfig(model="lenet5", epochs=1).warmup_epochs < 1


def test_named_recipes_apply_their_settings_and_take_overrides():
    from keras_cnns.train import list_recipes, recipe_config

    assert "fashion_mnist_quick" in list_recipes()
    quick = recipe_config("fashion_mnist_quick")
    assert (quick.model, quick.dataset, quick.optimizer, quick.learning_rate) == (
        "vgg11_bn", "fashion_mnist", "sgd", 0.1)
    assert quick.augment == {"flip": True} and quick.warmup_epochs == 1
    assert quick.image_size == [28, 28] and quick.model_kwargs["pool_padding"] == "same"
    changed = recipe_config("fashion_mnist_quick", epochs=3, dataset="digits", out_dir="runs/x")
    assert (changed.epochs, changed.dataset, changed.out_dir) == (3, "digits", "runs/x")
    assert changed.image_size is None  # Fashion-MNIST's 28x28 is not imposed on another dataset.
    assert recipe_config("fashion_mnist_quick", dataset="digits", image_size=40).image_size == [40, 40]
    assert changed.warmup_epochs == pytest.approx(0.6)  # A fifth of 3 epochs, not the recipe's 1.
    assert changed.model_kwargs == quick.model_kwargs
    # The long recipe is the ResNet family's default recipe, on every training
    # image, at batch 256 with the learning rate scaled to match, for longer.
    long = recipe_config("fashion_mnist_resnet20")
    family_default = default_config("resnet20", "fashion_mnist", image_size=[28, 28], validation_split=0.0,
                                    batch_size=256, learning_rate=0.2, lr_batch_size=256)
    assert dataclasses.replace(long, epochs=family_default.epochs) == family_default
    with pytest.raises(ValueError, match="No training recipe named 'fast'.*fashion_mnist_quick"):
        recipe_config("fast")


def test_image_size_is_stored_as_height_and_width(tmp_path):
    assert tiny_config(tmp_path, image_size=40).image_size == [40, 40]
    config = tiny_config(tmp_path, image_size=(48, 36))
    assert config.image_size == [48, 36]
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_small_images_are_resized_up_to_the_model_minimum():
    assert required_image_size("lenet5", (28, 28, 1)) == (32, 32)
    assert required_image_size("lenet5", (32, 32, 1)) is None
    assert required_image_size("resnet20", (28, 28, 1)) is None


# -------------------------------------------------------------- schedules


def values(schedule, steps):
    return [float(keras.ops.convert_to_numpy(schedule(step))) for step in steps]


def test_schedules_follow_their_shapes_and_serialize():
    cosine = WarmupCosineDecay(0.1, total_steps=100, warmup_steps=10)
    assert values(cosine, [0, 9, 55, 100, 150]) == pytest.approx([0.01, 0.1, 0.05, 0.0, 0.0], abs=1e-6)
    step = WarmupStepDecay(0.1, boundaries=[50, 75], warmup_steps=0)
    assert values(step, [0, 49, 50, 75]) == pytest.approx([0.1, 0.1, 0.01, 0.001], rel=1e-5)
    constant = WarmupStepDecay(0.1, warmup_steps=4)
    assert values(constant, [0, 3, 1000]) == pytest.approx([0.025, 0.1, 0.1], rel=1e-5)
    onecycle = OneCycle(1.0, total_steps=100, rise_steps=30)
    assert values(onecycle, [0, 30, 100]) == pytest.approx([0.04, 1.0, 4e-6], rel=1e-4)
    for schedule in (cosine, step, onecycle):
        restored = keras.optimizers.schedules.deserialize(
            json.loads(json.dumps(keras.optimizers.schedules.serialize(schedule))))
        assert type(restored) is type(schedule)
        assert values(restored, [0, 17, 60]) == values(schedule, [0, 17, 60])


def test_sgd_weight_decay_is_an_l2_penalty_on_kernels(tmp_path):
    config = tiny_config(tmp_path, optimizer="sgd", learning_rate=0.1, weight_decay=5e-4)
    bundle = load_dataset("digits", batch_size=64, limit=200)
    model = build_compiled_model(config, bundle, steps_per_epoch=3)
    kernels = [v for v in model.trainable_variables if v.name.endswith("kernel")]
    assert len(model.losses) == len(kernels) > 0
    expected = sum(5e-4 / 2 * float(np.sum(np.square(keras.ops.convert_to_numpy(k)))) for k in kernels)
    assert float(sum(keras.ops.convert_to_numpy(loss) for loss in model.losses)) == pytest.approx(expected, rel=1e-4)
    assert model.optimizer.nesterov and model.optimizer.momentum == 0.9


@pytest.mark.skipif(precision.cpu_has_bfloat16() is False and not precision.gpu_available(),
                    reason="this CPU has no bfloat16 instructions: train refuses mixed_precision='bfloat16' "
                           "(tests/test_run_pieces.py checks the refusal)")
def test_bfloat16_mode_trains_in_mixed_bfloat16(tmp_path):
    result = train(tiny_config(tmp_path / "bf16", epochs=2, mixed_precision="bfloat16"), verbose=0)
    assert result.metrics["dtype_policy"] == "mixed_bfloat16"
    assert result.metrics["test_accuracy"] > 0.3  # Chance is 0.1.
    # The policy is restored after the run; the saved model is evaluated in float32, as it is exported.
    assert keras.config.dtype_policy().name == "float32"
    assert evaluate(result.out_dir)["test_accuracy"] == pytest.approx(result.test_accuracy, abs=1e-9)


# ----------------------------------------------------------- a full run


def test_run_learns_and_writes_every_file(finished_run):
    layout = RunLayout(finished_run.out_dir)
    metrics = json.loads(open(layout.metrics).read())
    assert METRICS_KEYS <= set(metrics)
    assert metrics["test_accuracy"] > 0.5  # Chance is 0.1.
    assert metrics["epochs_run"] == 4 and metrics["images_per_second"] > 0
    assert np.asarray(metrics["confusion_matrix"]).shape == (10, 10)
    assert np.asarray(metrics["confusion_matrix"]).sum() == metrics["num_test"]
    assert TrainConfig.from_dict(json.loads(open(layout.config).read())) == finished_run.config
    history = read_history(layout.history)
    assert [row["epoch"] for row in history] == [0, 1, 2, 3]
    assert all(math.isfinite(row["loss"]) and "val_accuracy" in row for row in history)
    for png in (layout.learning_curves, layout.confusion_matrix):
        with open(png, "rb") as file:
            header = file.read(8)
        assert header == PNG_SIGNATURE and os.path.getsize(png) > 1000
    assert glob.glob(os.path.join(layout.tensorboard, "**", "events.out.tfevents.*"), recursive=True)
    assert not temporary_files(layout.root)
    model = keras.saving.load_model(layout.best_model)
    predictions, labels = [], []
    bundle = load_dataset("digits", batch_size=64, validation_split=0.1, seed=0)
    for images, batch_labels in bundle.test:
        predictions.append(np.argmax(model.predict_on_batch(images), axis=-1))
        labels.append(batch_labels.numpy())
    correct = np.concatenate(predictions) == np.concatenate(labels)
    # Within one image: a near-tie between two classes can flip between this batching and the run's own
    # evaluation (one image in 359 did once, in CI on an Intel Xeon with AMX); a different model differs more.
    assert np.mean(correct) == pytest.approx(metrics["test_accuracy"], abs=1.0 / len(correct) + 1e-9)
    # The schedule was saved inside best.keras with the optimizer.
    assert isinstance(model.optimizer._learning_rate, WarmupCosineDecay)


def test_evaluate_reproduces_the_test_metrics(finished_run):
    again = evaluate(finished_run.out_dir)
    assert again["test_accuracy"] == pytest.approx(finished_run.test_accuracy, abs=1e-9)
    assert again["confusion_matrix"] == finished_run.metrics["confusion_matrix"]
    assert again["test_loss"] == pytest.approx(finished_run.metrics["test_loss"], rel=1e-4)
    from_file = evaluate(finished_run.model_path)
    assert from_file["test_accuracy"] == again["test_accuracy"]


def test_image_size_sets_the_input_and_evaluation_follows(tmp_path):
    result = train(tiny_config(tmp_path / "run", epochs=1, image_size=[40, 36]), verbose=0)
    assert result.load_model().input_shape == (None, 40, 36, 1)
    again = evaluate(result.out_dir)
    assert again["test_accuracy"] == pytest.approx(result.test_accuracy, abs=1e-9)


def test_an_image_folder_with_a_bad_file_trains_only_with_skip_bad_files(tmp_path):
    from PIL import Image

    root = tmp_path / "shades"
    for class_name, value in (("dark", 30), ("bright", 220)):
        (root / class_name).mkdir(parents=True)
        for index in range(12):
            size = (36, 36) if index % 2 else (40, 44)  # Two sizes: image_size decides.
            Image.fromarray(np.full(size, value + index, np.uint8), "L").save(
                root / class_name / f"{index}.png")
    (root / "dark" / "notes.txt").write_text("not an image")
    config = tiny_config(tmp_path / "refused", dataset=str(root), epochs=1, limit=None,
                         validation_split=0, image_size=32)
    with pytest.raises(ValueError, match="notes.txt"):
        train(config, verbose=0)
    assert not os.path.exists(os.path.join(config.out_dir, "config.json"))

    skipping = dataclasses.replace(config, out_dir=str(tmp_path / "skipped"), skip_bad_files=True)
    with pytest.warns(UserWarning, match="notes.txt"):
        result = train(skipping, verbose=0)
    metrics = result.metrics
    assert metrics["class_names"] == ["bright", "dark"]
    # All 24 images, none lost to the skipped text file, split into train and test.
    assert metrics["num_train"] + metrics["num_test"] == 24
    assert sum(map(sum, metrics["confusion_matrix"])) == metrics["num_test"] > 0
    assert result.load_model().input_shape == (None, 32, 32, 1)


def test_every_epoch_is_one_pass_over_the_training_split(tmp_path, monkeypatch):
    fits = []
    original_fit = keras.Model.fit

    def recording_fit(self, x=None, *args, **kwargs):
        fits.append((int(x.cardinality()), kwargs.get("steps_per_epoch")))
        return original_fit(self, x, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", recording_fit)

    class CountSteps(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            steps.append(0)

        def on_train_batch_end(self, batch, logs=None):
            steps[-1] += 1

    steps = []
    result = train(tiny_config(tmp_path / "run", epochs=3), verbose=0, callbacks=[CountSteps()])
    # 500 images less the 10% validation split, in batches of 64 (the last one partial).
    assert result.metrics["num_train"] == 450
    assert steps == [math.ceil(450 / 64)] * 3
    # One iterator for the whole run: an endless dataset cut into passes. A new
    # iterator per epoch stalled TensorFlow 2.21 for seconds (BENCHMARKS.md).
    assert fits == [(tf.data.INFINITE_CARDINALITY, math.ceil(450 / 64))]


def test_finished_run_is_returned_without_training(finished_run, capsys):
    again = train(finished_run.config, verbose=1)
    assert again.already_finished
    assert again.metrics == finished_run.metrics
    assert len(again.history) == 4
    assert "holds a finished run" in capsys.readouterr().out


def test_a_run_saved_before_fields_were_added_is_still_recognized(finished_run, tmp_path):
    old = tmp_path / "old-run"
    shutil.copytree(finished_run.out_dir, old)
    saved = json.loads((old / "config.json").read_text())
    for field in ("image_size", "skip_bad_files"):  # Added to TrainConfig on 2026-11-30.
        del saved[field]
    (old / "config.json").write_text(json.dumps(saved))
    again = train(dataclasses.replace(finished_run.config, out_dir=str(old)), verbose=0)
    assert again.already_finished
    assert again.metrics["test_accuracy"] == finished_run.test_accuracy
    with pytest.raises(RunConfigMismatchError, match="skip_bad_files: saved False, new True"):
        train(dataclasses.replace(finished_run.config, out_dir=str(old), skip_bad_files=True), verbose=0)


def test_other_config_in_the_same_run_dir_is_refused(finished_run):
    other = dataclasses.replace(finished_run.config, model="resnet20", model_kwargs={})
    with pytest.raises(RunConfigMismatchError, match="model: saved 'lenet5', new 'resnet20'"):
        train(other, verbose=0)
    with pytest.raises(RunConfigMismatchError, match="seed: saved 0, new 1"):
        train(dataclasses.replace(finished_run.config, seed=1), verbose=0)


# ------------------------------------------------------- crash and resume


KILLED_RUN = """
    import json, os, signal, sys
    import keras
    from keras_cnns.train import TrainConfig, train

    class KillDuringSecondEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            if self.epoch == 1 and batch == 2:
                os.kill(os.getpid(), signal.SIGKILL)

    config = TrainConfig.from_dict(json.loads(sys.argv[1]))
    train(config, verbose=0, callbacks=[KillDuringSecondEpoch()])
"""


def test_resume_after_sigkill_mid_epoch(tmp_path):
    config = tiny_config(tmp_path / "run", epochs=3, schedule="cosine", warmup_epochs=0)
    killed = run_python(KILLED_RUN, json.dumps(config.to_dict()))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    layout = RunLayout(config.out_dir)
    state = json.loads(open(layout.state).read())
    assert state["epochs_completed"] == 1
    assert [row["epoch"] for row in read_history(layout.history)] == [0]
    assert not os.path.exists(layout.metrics)
    first_epoch = read_history(layout.history)[0]
    # Leftovers of a kill between the writes of epoch 2 and its commit: a
    # history row and a pending best model that were never committed.
    write_history(layout.history, [first_epoch, {**first_epoch, "epoch": 1}])
    shutil.copy(layout.best_model, layout.pending_best(1))

    result = train(config, verbose=0)

    assert result.resumed_from_epoch == 1
    history = read_history(layout.history)
    assert [row["epoch"] for row in history] == [0, 1, 2]
    assert history[0] == first_epoch  # The committed epoch is kept as it was.
    assert result.metrics["epochs_run"] == 3 and math.isfinite(result.test_accuracy)
    # The optimizer step counter was restored: the learning rate logged at the
    # end of epoch 2 is the schedule's value after two epochs of steps.
    steps_per_epoch = math.ceil(result.metrics["num_train"] / config.batch_size)
    schedule = WarmupCosineDecay(config.learning_rate, 3 * steps_per_epoch)
    assert history[1]["learning_rate"] == pytest.approx(values(schedule, [2 * steps_per_epoch])[0], rel=1e-5)
    assert sorted(os.listdir(layout.backup)) == ["epoch_0003.variables.npz", "state.json"]


def test_a_backup_restores_every_model_and_optimizer_variable_and_refuses_another_network(tmp_path):
    from keras_cnns.train import backup

    def trained_one_step(filters, seed):
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(filters, 3),
                                  keras.layers.BatchNormalization(), keras.layers.Flatten(), keras.layers.Dense(3)])
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="sparse_categorical_crossentropy")
        model.train_on_batch(np.random.default_rng(seed).normal(size=(4, 8, 8, 1)), np.arange(4) % 3)
        return model

    def values(model):
        return [keras.ops.convert_to_numpy(v) for v in backup.variables_of(model)]

    saved = trained_one_step(4, seed=0)
    path = str(tmp_path / "epoch_0001.variables.npz")
    backup.save(saved, path)
    # Another process numbers Keras' automatic layer names on: the same network, other paths and values.
    fresh = trained_one_step(4, seed=1)
    assert [v.path for v in fresh.variables] != [v.path for v in saved.variables]
    backup.restore(fresh, path)
    assert len(values(saved)) == len(saved.variables) + len(saved.optimizer.variables) > 10
    for expected, restored in zip(values(saved), values(fresh)):
        np.testing.assert_array_equal(restored, expected)  # Weights, BN statistics, momentum, step counter.

    with pytest.raises(ValueError, match=r"does not fit this network and optimizer \(saved .*kernel of shape "
                                         r"\(3, 3, 1, 4\), found .*kernel of shape \(3, 3, 1, 6\)\).*overwrite=True"):
        backup.restore(trained_one_step(6, seed=0), path)
    damaged = tmp_path / "epoch_0002.variables.npz"
    damaged.write_bytes(open(path, "rb").read()[:100])  # Cut short.
    with pytest.raises(ValueError, match=r"epoch_0002.variables.npz cannot be read \(.*\): it was damaged.*overwrite=True"):
        backup.restore(fresh, str(damaged))
    # A backup of a run written before `.npz` backups (Keras' `.weights.h5`) is still read.
    saved.save_weights(tmp_path / "epoch_0001.weights.h5")
    older = trained_one_step(4, seed=2)
    backup.restore(older, str(tmp_path / "epoch_0001.weights.h5"))
    for expected, restored in zip(values(saved), values(older)):
        np.testing.assert_array_equal(restored, expected)


def test_committed_best_model_is_moved_into_place_on_resume(tmp_path):
    layout = RunLayout(str(tmp_path))
    os.makedirs(layout.backup)
    for epoch in (2, 3):
        with open(layout.pending_best(epoch), "w") as file:
            file.write(f"model of epoch {epoch}")
    layout.finish_pending_best({"best_epoch": 2})
    assert open(layout.best_model).read() == "model of epoch 2"
    assert os.listdir(layout.backup) == []


def test_crash_during_a_save_keeps_the_previous_checkpoint(finished_run, tmp_path, monkeypatch):
    run_dir = shutil.copytree(finished_run.out_dir, tmp_path / "copy")
    best = os.path.join(run_dir, "best.keras")
    model = keras.saving.load_model(best)

    def crash_midway(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as file:
            file.write(b"PK\x03\x04 half a zip file")
        raise OSError("simulated crash during save")

    monkeypatch.setattr(keras.Model, "save", crash_midway)
    with pytest.raises(OSError, match="simulated crash"):
        save_model(model, best)
    monkeypatch.undo()
    assert not temporary_files(str(run_dir))
    assert evaluate(run_dir)["test_accuracy"] == pytest.approx(finished_run.test_accuracy, abs=1e-9)


# ------------------------------------------------------------ NaN and inf


def test_non_finite_inputs_are_refused_before_training(tmp_path):
    bundle = load_dataset("digits", batch_size=64, limit=300)
    images = np.concatenate([x.numpy() for x, _ in bundle.val])
    labels = np.concatenate([y.numpy() for _, y in bundle.val])
    images[3, 10, 10, 0] = np.nan
    broken = dataclasses.replace(
        bundle, val=tf.data.Dataset.from_tensor_slices((images, labels)).batch(64))
    config = tiny_config(tmp_path / "run")
    with pytest.raises(ValueError, match=r"validation split of dataset 'digits' holds non-finite"):
        train(config, bundle=broken, verbose=0)
    assert not os.path.exists(config.out_dir) or not set(os.listdir(config.out_dir)) - {LOCK_FILE}


def test_huge_learning_rate_stops_with_training_diverged(tmp_path):
    config = tiny_config(tmp_path / "run", optimizer="sgd", learning_rate=1e6, warmup_epochs=0,
                         label_smoothing=0.0, epochs=2, model_kwargs={"activation": "relu"},
                         mixed_precision="off")  # bfloat16 (auto on this CPU) saturates instead of overflowing.
    with pytest.raises(TrainingDiverged, match="Lower the learning rate") as caught:
        train(config, verbose=0)
    assert caught.value.epoch == 0 and not math.isfinite(caught.value.value)
    assert not os.path.exists(RunLayout(config.out_dir).best_model)


class PoisonWeightsInSecondEpoch(keras.callbacks.Callback):
    """Writes NaN into the first kernel after batch 1 of epoch 2."""

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 1 and batch == 1:
            kernel = self.model.trainable_variables[0]
            kernel.assign(np.full(kernel.shape, np.nan, dtype="float32"))


def test_nan_during_training_keeps_the_last_good_checkpoint(tmp_path):
    config = tiny_config(tmp_path / "run", epochs=3)
    with pytest.raises(TrainingDiverged, match=r"epoch 2/3, batch 3") as caught:
        train(config, verbose=0, callbacks=[PoisonWeightsInSecondEpoch()])
    assert caught.value.epoch == 1
    layout = RunLayout(config.out_dir)
    assert json.loads(open(layout.state).read())["epochs_completed"] == 1
    assert [row["epoch"] for row in read_history(layout.history)] == [0]
    assert not os.path.exists(layout.metrics)
    model = keras.saving.load_model(layout.best_model)
    assert all(np.isfinite(keras.ops.convert_to_numpy(v)).all() for v in model.weights)
    images = next(iter(load_dataset("digits", batch_size=64, limit=500).test))[0]
    assert np.isfinite(model.predict_on_batch(images)).all()


# ------------------------------------------------------------ distribution


MIRRORED_RUN = """
    import json, sys
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
    from keras_cnns.train import TrainConfig, train

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    config = TrainConfig.from_dict(json.loads(sys.argv[1]))
    result = train(config, strategy=strategy, verbose=0)
    print("RESULT " + json.dumps(result.metrics))
"""


@pytest.mark.parametrize("settings", [
    {},
    # Weight averaging swaps the weights and the batch-norm statistics of the replicated variables.
    {"model": "resnet20", "model_kwargs": {}, "ema_decay": 0.9, "epochs": 2},
], ids=["lenet5", "resnet20 with weight averaging"])
def test_mirrored_strategy_over_two_logical_cpus(tmp_path, settings):
    config = tiny_config(tmp_path / "run", **{"epochs": 1, "warmup_epochs": 0, "limit": 300, **settings})
    done = run_python(MIRRORED_RUN, json.dumps(config.to_dict()))
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    metrics = json.loads(line[len("RESULT "):])
    assert metrics["num_replicas"] == 2
    assert metrics["epochs_run"] == config.epochs
    assert math.isfinite(metrics["test_loss"]) and 0 <= metrics["test_accuracy"] <= 1


def test_a_generic_builder_trains_the_architecture_in_model_kwargs(tmp_path):
    """`model_builder` trains a network that no registered name describes (as a
    search finds them): the architecture lives in `model_kwargs`, so it is part
    of the config that a resumed run is checked against."""
    from keras_cnns.models import build_resnet

    architecture = {"stackwise_num_blocks": [1, 1], "stackwise_num_filters": [8, 16],
                    "block_type": "basic", "stem": "cifar"}
    config = tiny_config(tmp_path / "run", model="resnet20", epochs=1, model_kwargs=architecture)
    result = train(config, model_builder=build_resnet, verbose=0)
    model = result.load_model()
    assert {"conv2_block1_add", "conv3_block1_add"} <= {layer.name for layer in model.layers}
    assert "conv4_block1_add" not in {layer.name for layer in model.layers}
    assert result.metrics["num_params"] == model.count_params()
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model_kwargs"] == architecture
    with pytest.raises(ValueError, match="resnet20 takes no argument 'stackwise_num_blocks'"):  # Fixed stages.
        build_compiled_model(config, load_dataset("digits", limit=200), 1)


def test_evaluation_gathers_small_batches_pads_the_last_and_keeps_every_image_in_order(capsys):
    from keras_cnns.data.pipeline import make_pipeline
    from keras_cnns.export.source import take_examples
    from keras_cnns.train.metrics import INFERENCE_BATCH_VALUES, predict_with_labels

    rng = np.random.default_rng(0)
    pixels, labels = rng.integers(0, 256, (1000, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 1000)
    normalization = {"mean": [0.5] * 3, "std": [0.25] * 3}
    small = make_pipeline(pixels, labels, batch_size=16, normalization=normalization)  # A fine-tuning batch.
    images, _ = take_examples(small)
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10)])
    seen = []
    model.predict_on_batch = lambda x: seen.append(len(x)) or model(x, training=False)

    probabilities, predicted_labels = predict_with_labels(model, small, verbose=1)
    # 16 batches of 16 hold INFERENCE_BATCH_VALUES (256 images of 32x32x3); the last 232 images are padded.
    assert INFERENCE_BATCH_VALUES == 256 * 32 * 32 * 3 and seen == [256] * 4
    np.testing.assert_array_equal(predicted_labels, labels)
    np.testing.assert_allclose(probabilities, model(images, training=False), rtol=1e-5, atol=1e-5)
    assert "63/63" in capsys.readouterr().out  # The progress bar counts the dataset's own batches.

    # A batch as large as the budget or larger runs alone, as it comes.
    seen.clear()
    predict_with_labels(model, make_pipeline(pixels, labels, batch_size=300, normalization=normalization))
    assert seen == [300] * 4


def test_evaluation_refuses_a_model_with_several_outputs():
    from keras_cnns.train.metrics import predict_with_labels

    inputs = keras.Input((8, 8, 1))
    features = keras.layers.Flatten()(inputs)
    model = keras.Model(inputs, [keras.layers.Dense(10)(features), keras.layers.Dense(10)(features)], name="two_heads")
    batches = [(np.zeros((4, 8, 8, 1), np.float32), np.zeros(4, np.int64))]
    with pytest.raises(ValueError, match=r"one output; received 'two_heads' with 2 outputs.*include_aux=False"):
        predict_with_labels(model, batches)
