"""Test-time augmentation (keras_cnns.train.tta): the views, the wrapper, and evaluate and export with it."""

import importlib.util
import json

import keras
import numpy as np
import pytest

import keras_cnns
from keras_cnns.layers import ImageView
from keras_cnns.train import TrainConfig, evaluate, train, with_test_time_augmentation
from keras_cnns.train.callbacks import WeightAveraging
from keras_cnns.train.config import TTA_VIEWS
from keras_cnns.train.trainer import load_bundle
from keras_cnns.train.tta import tta_views_of

from conftest import run_main


def numpy_view(images, flip, shift):
    """What `ImageView` must compute: a mirror image, then a shift with reflection at the border."""
    images = images[:, :, ::-1] if flip else images
    for axis, step in ((1, shift[0]), (2, shift[1])):
        if step:
            pad = [(0, 0)] * 4
            pad[axis] = (step, 0) if step > 0 else (0, -step)
            padded = np.pad(images, pad, mode="reflect")
            start = 0 if step > 0 else -step
            images = np.take(padded, np.arange(start, start + images.shape[axis]), axis=axis)
    return images


@pytest.mark.parametrize("flip, shift", [(True, (0, 0)), (False, (1, 1)), (True, (-1, -1)), (False, (2, -1))])
def test_an_image_view_flips_and_shifts_with_reflection(flip, shift):
    images = np.random.default_rng(0).normal(size=(2, 6, 7, 3)).astype("float32")
    view = keras.ops.convert_to_numpy(ImageView(flip, shift)(images))
    np.testing.assert_allclose(view, numpy_view(images, flip, shift), rtol=0, atol=0)
    assert view.shape == images.shape


def test_an_image_view_refuses_a_large_shift():
    with pytest.raises(ValueError, match=r"shift must be \(dy, dx\) with steps of at most 2 pixels; received"):
        ImageView(shift=(3, 0))


@pytest.fixture(scope="module")
def small_classifier():
    keras.utils.set_random_seed(0)
    return keras_cnns.get_model("lenet5", input_shape=(32, 32, 1), classes=10, width_multiplier=0.5)


@pytest.mark.parametrize("views", sorted(TTA_VIEWS))
def test_the_wrapper_averages_the_answers_over_its_views_and_saves(small_classifier, views, tmp_path):
    images = np.random.default_rng(1).normal(size=(4, 32, 32, 1)).astype("float32")
    wrapped = with_test_time_augmentation(small_classifier, views)
    expected = np.mean([small_classifier.predict(numpy_view(images, flip, shift), verbose=0)
                        for flip, shift in TTA_VIEWS[views]], axis=0)
    outputs = wrapped.predict(images, verbose=0)
    np.testing.assert_allclose(outputs, expected, atol=1e-6)
    assert not np.allclose(outputs, small_classifier.predict(images, verbose=0), atol=1e-4)  # The views count.
    assert wrapped.count_params() == small_classifier.count_params()  # Shared weights, none added.
    assert tta_views_of(wrapped) == views and tta_views_of(small_classifier) is None

    path = tmp_path / "tta.keras"
    wrapped.save(path)
    reloaded = keras.saving.load_model(path)  # Safe mode: ImageView is registered.
    np.testing.assert_allclose(reloaded.predict(images, verbose=0), outputs, atol=1e-6)
    assert tta_views_of(reloaded) == views


def test_the_wrapper_refuses_unknown_views_and_models_that_are_not_image_classifiers(small_classifier):
    with pytest.raises(ValueError, match=r"views must be one of \['flip', 'flip_shift'\]; received 'rotate'"):
        with_test_time_augmentation(small_classifier, "rotate")
    inputs = keras.Input((8,))
    dense = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    with pytest.raises(ValueError, match="one image input"):
        with_test_time_augmentation(dense)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    config = TrainConfig(model="lenet5", dataset="digits", epochs=3, batch_size=64, optimizer="adam",
                         learning_rate=3e-3, weight_decay=0.0, limit=600, augment={"flip": True},
                         out_dir=str(tmp_path_factory.mktemp("runs") / "lenet5-tta"))
    return train(config, verbose=0)


def test_evaluate_with_test_time_augmentation(digits_run, capsys):
    plain = evaluate(digits_run.out_dir)
    flipped = evaluate(digits_run.out_dir, tta="flip")
    assert plain["test_time_augmentation"] is None and flipped["test_time_augmentation"] == "flip"
    assert plain["num_test"] == flipped["num_test"] and 0.1 < flipped["test_accuracy"] <= 1.0
    assert flipped["test_loss"] != plain["test_loss"]  # Another model answered.
    status, out, err = run_main(capsys, "evaluate", digits_run.out_dir, "--tta", "flip")
    assert status == 0 and f"Test accuracy {flipped['test_accuracy']:.4f}" in out, err
    with pytest.raises(SystemExit) as refused:
        run_main(capsys, "evaluate", digits_run.out_dir, "--tta", "spin")
    assert refused.value.code == 2 and "--tta: invalid choice: 'spin'" in capsys.readouterr().err


def test_an_export_with_test_time_augmentation_holds_the_views_in_every_file(digits_run, tmp_path, capsys):
    from keras_cnns.export import export_model
    from keras_cnns.inference import TFLiteClassifier

    report = export_model(digits_run.out_dir, tmp_path / "tta", formats=("float32", "int8", "mobile_float32"),
                          tta="flip", min_quantized_agreement=None, max_quantized_accuracy_drop=None)
    assert report["float32"].passed and report["mobile_float32"].passed  # Against the wrapped Keras model.
    if importlib.util.find_spec("mediapipe") is not None:  # The mobile extra: what verified it is the phone's client.
        assert report["mobile_float32"].details["runtime"].startswith("MediaPipe")
    assert report["float32"].latency_ms is not None
    card = json.loads((tmp_path / "tta" / "model_card.json").read_text())
    assert card["test_time_augmentation"] == "flip"
    keras_accuracy = evaluate(digits_run.out_dir, tta="flip")["test_accuracy"]
    assert report["float32"].accuracy == pytest.approx(keras_accuracy, abs=0.01)  # The same test images.

    # The file answers as the wrapped model does on an image, and unlike the plain model's file.
    plain = export_model(digits_run.out_dir, tmp_path / "plain", formats=("float32",), measure_latency=False)
    image = np.random.default_rng(2).integers(0, 256, size=(32, 32, 1)).astype("uint8")
    with_views = TFLiteClassifier(tmp_path / "tta", format="float32").predict(image)
    without = TFLiteClassifier(tmp_path / "plain", format="float32").predict(image)
    assert not np.allclose(with_views, without, atol=1e-4)
    assert plain.card["test_time_augmentation"] is None

    status, _, err = run_main(capsys, "export", digits_run.out_dir, "--out", tmp_path / "cli", "--formats",
                              "float32", "--tta", "flip_shift")
    assert status == 0, err
    card = json.loads((tmp_path / "cli" / "model_card.json").read_text())
    assert card["test_time_augmentation"] == "flip_shift" and "--tta flip_shift" in card["command"]


# --------------------------------------------------------------- weight averaging


class WeightSnapshots(keras.callbacks.Callback):
    """After each epoch (after the checkpoint): the model's weights and the optimizer's averaged slots."""

    def __init__(self, stop_after_epoch=None):
        super().__init__()
        self.in_model, self.in_optimizer, self.first_batch = {}, {}, None
        self.stop_after_epoch = stop_after_epoch

    def on_train_batch_begin(self, batch, logs=None):
        if self.first_batch is None and self.model.optimizer.built:  # Built before fit when a run resumes.
            self.first_batch = ([v.numpy().copy() for v in self.model.trainable_variables],
                                [v.numpy().copy() for v in self.model.optimizer._model_variables_moving_average])

    def on_epoch_end(self, epoch, logs=None):
        self.in_model[epoch] = [v.numpy().copy() for v in self.model.trainable_variables]
        self.in_optimizer[epoch] = [v.numpy().copy() for v in self.model.optimizer._model_variables_moving_average]
        if epoch == self.stop_after_epoch:
            raise KeyboardInterrupt  # As a Ctrl-C after the epoch's checkpoint.


def ema_config(out_dir, **overrides):
    return TrainConfig(**{**dict(model="lenet5", dataset="digits", epochs=3, batch_size=64, optimizer="adam",
                                 learning_rate=3e-3, weight_decay=0.0, limit=600, ema_decay=0.9,
                                 out_dir=str(out_dir)), **overrides})


def test_the_averaged_weights_are_validated_saved_and_tested(tmp_path):
    snapshots = WeightSnapshots()
    result = train(ema_config(tmp_path / "run"), verbose=0, callbacks=[snapshots])
    # Between epochs the model holds the average and the optimizer its own weights (after the last, both the
    # average).
    for epoch in (0, 1):
        assert max(np.abs(a - b).max() for a, b in zip(snapshots.in_model[epoch], snapshots.in_optimizer[epoch])) > 1e-3
    for a, b in zip(snapshots.in_model[2], snapshots.in_optimizer[2]):
        np.testing.assert_array_equal(a, b)
    saved = keras_cnns.saving.load_model(tmp_path / "run" / "best.keras")
    for variable, expected in zip(saved.trainable_variables, snapshots.in_model[result.metrics["best_epoch"]]):
        np.testing.assert_array_equal(variable.numpy(), expected)  # best.keras holds the average
    assert evaluate(tmp_path / "run")["test_accuracy"] == result.test_accuracy
    # Validation chose that epoch on the averaged weights: best.keras scores its recorded validation accuracy.
    saved.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    _, val_accuracy = saved.evaluate(load_bundle(result.config, verbose=0).val, verbose=0)
    assert val_accuracy == pytest.approx(result.metrics["best_value"], abs=1e-6)


def test_a_resumed_run_trains_on_its_own_weights_and_keeps_its_average(tmp_path):
    interrupted = WeightSnapshots(stop_after_epoch=1)
    with pytest.raises(KeyboardInterrupt):
        train(ema_config(tmp_path / "run"), verbose=0, callbacks=[interrupted])
    resumed = WeightSnapshots()
    result = train(ema_config(tmp_path / "run"), verbose=0, callbacks=[resumed])
    assert result.resumed_from_epoch == 2
    own, average = resumed.first_batch  # As the first step of epoch 3 sees them.
    for got, expected in zip(own, interrupted.in_optimizer[1]):
        np.testing.assert_array_equal(got, expected)
    for got, expected in zip(average, interrupted.in_model[1]):
        np.testing.assert_array_equal(got, expected)


def batch_norm_statistics(model):
    return [keras.ops.convert_to_numpy(variable).copy() for layer in model._flatten_layers(include_self=False)
            if isinstance(layer, keras.layers.BatchNormalization)
            for variable in (layer.moving_mean, layer.moving_variance)]


class StatisticSnapshots(keras.callbacks.Callback):
    """Averages the trained batch-norm statistics itself (as the run should), and records
    what the model holds at the start of each epoch and after it (after the checkpoint)."""

    def __init__(self, decay, stop_after_epoch=None):
        super().__init__()
        self.decay, self.stop_after_epoch = decay, stop_after_epoch
        self.average = self.trained = None
        self.steps = 0
        self.at_start, self.in_model, self.expected, self.trained_at_end = {}, {}, {}, {}
        self._epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            self.at_start[self._epoch] = batch_norm_statistics(self.model)

    def on_train_batch_end(self, batch, logs=None):
        self.trained, self.steps = batch_norm_statistics(self.model), self.steps + 1
        every = WeightAveraging.statistics_every  # The average takes every this many steps' statistics.
        if self.average is None:
            self.average = self.trained
        elif self.steps % every == 0:
            decay = self.decay ** every
            self.average = [decay * average + (1 - decay) * value for average, value in zip(self.average, self.trained)]

    def on_epoch_end(self, epoch, logs=None):
        self.in_model[epoch] = batch_norm_statistics(self.model)
        self.expected[epoch], self.trained_at_end[epoch] = self.average, self.trained
        if epoch == self.stop_after_epoch:
            raise KeyboardInterrupt


def tiny_resnet_run(out_dir):
    """A digits run of a one-block-a-stage ResNet (batch norm), with weight averaging."""
    from keras_cnns.models import build_resnet

    architecture = {"stackwise_num_blocks": [1, 1], "stackwise_num_filters": [8, 16], "block_type": "basic",
                    "stem": "cifar"}
    return ema_config(out_dir, model="resnet20", model_kwargs=architecture), build_resnet


def test_the_batch_norm_statistics_are_averaged_with_the_weights(tmp_path):
    config, builder = tiny_resnet_run(tmp_path / "run")
    snapshots = StatisticSnapshots(config.ema_decay)
    result = train(config, verbose=0, callbacks=[snapshots], model_builder=builder)
    for epoch in range(config.epochs):
        # Between epochs the model holds the average of the statistics the trained weights gathered...
        for got, expected, trained in zip(snapshots.in_model[epoch], snapshots.expected[epoch],
                                          snapshots.trained_at_end[epoch]):
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
        assert max(np.abs(a - b).max() for a, b in zip(snapshots.in_model[epoch],
                                                      snapshots.trained_at_end[epoch])) > 1e-3
        # ...and the next epoch trains on from the trained ones.
        if epoch + 1 < config.epochs:
            for got, expected in zip(snapshots.at_start[epoch + 1], snapshots.trained_at_end[epoch]):
                np.testing.assert_array_equal(got, expected)
    saved = keras_cnns.saving.load_model(tmp_path / "run" / "best.keras")
    for got, expected in zip(batch_norm_statistics(saved), snapshots.in_model[result.metrics["best_epoch"]]):
        np.testing.assert_array_equal(got, expected)


def test_a_resumed_run_starts_its_statistics_from_the_averaged_ones(tmp_path):
    config, builder = tiny_resnet_run(tmp_path / "run")
    interrupted = StatisticSnapshots(config.ema_decay, stop_after_epoch=1)
    with pytest.raises(KeyboardInterrupt):
        train(config, verbose=0, callbacks=[interrupted], model_builder=builder)
    resumed = StatisticSnapshots(config.ema_decay)
    assert train(config, verbose=0, callbacks=[resumed], model_builder=builder).resumed_from_epoch == 2
    for got, expected in zip(resumed.at_start[2], interrupted.in_model[1]):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5, float("nan"), "0.9"])
def test_an_impossible_ema_decay_is_refused(tmp_path, decay):
    with pytest.raises(ValueError, match="ema_decay must be"):
        ema_config(tmp_path, ema_decay=decay)


# --------------------------------------------------------------- patch whitening


def test_the_whitening_kernel_whitens_the_patches(digits_arrays):
    from keras_cnns.train.whitening import patch_whitening_kernel

    _, images, _, _, _ = digits_arrays
    images = images[:500]
    # 2x2x1 patches: 4 whitening filters, then 4 negated; no damping of the weak directions (epsilon ~ 0).
    kernel, bias, count = patch_whitening_kernel(images, (2, 2), 8, epsilon=1e-12)
    assert count == 8 and kernel.shape == (2, 2, 1, 8)
    windows = np.lib.stride_tricks.sliding_window_view(images, (2, 2), axis=(1, 2))
    patches = windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, 4)
    outputs = patches @ kernel.reshape(4, 8) + bias
    np.testing.assert_allclose(outputs.mean(axis=0), 0, atol=1e-4)
    covariance = np.cov(outputs[:, :4], rowvar=False)
    np.testing.assert_allclose(covariance, np.eye(4), atol=1e-3)
    # The default epsilon damps only the weakest direction (the finest pixel-to-pixel detail).
    damped, _, _ = patch_whitening_kernel(images, (2, 2), 4)
    variances = np.var(patches @ damped.reshape(4, 4), axis=0)
    assert np.all(variances[:3] > 0.95) and 0.3 < variances[3] < 0.95
    np.testing.assert_allclose(outputs[:, 4:], -outputs[:, :4], atol=1e-3)  # The negated filters.


def test_a_run_starts_from_a_whitened_first_convolution(tmp_path):
    from keras_cnns.train.whitening import first_convolution

    class FirstKernel(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.kernel = keras.ops.convert_to_numpy(first_convolution(self.model).kernel).copy()

    plain, whitened = FirstKernel(), FirstKernel()
    train(ema_config(tmp_path / "plain", ema_decay=None, epochs=1), verbose=0, callbacks=[plain])
    result = train(ema_config(tmp_path / "white", ema_decay=None, epochs=1, whiten_first_conv=True), verbose=0,
                   callbacks=[whitened])
    assert result.test_accuracy > 0.5
    assert np.abs(whitened.kernel).max() > 5 * np.abs(plain.kernel).max()  # 1/sqrt(eigenvalue) scaled filters
    with pytest.raises(ValueError, match="whiten_first_conv must be True or False; received 'yes'"):
        ema_config(tmp_path, whiten_first_conv="yes")


def test_the_views_of_a_network_for_any_size(tmp_path):
    """Shifts crop back without knowing the size: a fully-convolutional network keeps taking any size."""
    keras.utils.set_random_seed(0)
    any_size = keras_cnns.get_model("lenet5", head="conv", pooling="avg", input_shape=(None, None, 1), classes=4)
    wrapped = with_test_time_augmentation(any_size, "flip_shift")
    for size in (32, 40):
        images = np.random.default_rng(size).normal(size=(2, size, size, 1)).astype("float32")
        expected = np.mean([any_size.predict(numpy_view(images, flip, shift), verbose=0)
                            for flip, shift in TTA_VIEWS["flip_shift"]], axis=0)
        np.testing.assert_allclose(wrapped.predict(images, verbose=0), expected, atol=1e-6)


def test_whitening_estimated_from_a_sample_of_the_patches(digits_arrays):
    """Beyond MAX_PATCHES the covariance comes from patches drawn at random, and still whitens them all."""
    from keras_cnns.train import whitening

    _, images, _, _, _ = digits_arrays
    images = images[:500]
    sample = whitening._patches(images, (2, 2), limit=20_000)
    every = whitening._patches(images, (2, 2))
    assert sample.shape == (20_000, 4) and every.shape == (500 * 31 * 31, 4)
    assert {tuple(row) for row in sample[:50]} <= {tuple(row) for row in every}  # Real patches.
    original = whitening.MAX_PATCHES
    try:
        whitening.MAX_PATCHES = 20_000
        kernel, bias, _ = whitening.patch_whitening_kernel(images, (2, 2), 4, epsilon=1e-12)
    finally:
        whitening.MAX_PATCHES = original
    covariance = np.cov(every @ kernel.reshape(4, 4) + bias, rowvar=False)
    np.testing.assert_allclose(covariance, np.eye(4), atol=0.05)
