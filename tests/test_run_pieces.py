"""The speed-record pieces of a run (issue 14): mixed precision on the CPU, a learning rate that follows the
batch size, batch-norm momentum and faster batch-norm biases, identity (Dirac) filters, and test-time
augmentation as part of a run."""

import keras
import numpy as np
import pytest

import keras_cnns
from keras_cnns.train import TrainConfig, evaluate, recipe_config, train
from keras_cnns.train import precision
from keras_cnns.train.fused_batch_norm import fused_batch_norm, use_fused_batch_norm
from keras_cnns.train.initialization import dirac_initialize, set_batch_norm_momentum
from keras_cnns.train.optimization import NormBiasScaledSGD, build_optimizer, describe_norm_bias_scale
from keras_cnns.train.schedules import build_schedule, peak_learning_rate
from keras_cnns.train.trainer import build_model, load_best_model

from conftest import run_main

# ------------------------------------------------------------------ precision


def cpuinfo(tmp_path, flags):
    path = tmp_path / "cpuinfo"
    path.write_text("processor\t: 0\nmodel name\t: Some CPU\n"
                    f"flags\t\t: fpu sse2 avx2 {flags}\n\nprocessor\t: 1\nflags\t\t: fpu sse2 avx2 {flags}\n")
    return str(path)


@pytest.mark.parametrize("flags, expected", [("avx512f avx512_bf16", True), ("amx_tile amx_bf16", True),
                                             ("avx512f avx512_vnni", False)])
def test_bfloat16_instructions_are_read_from_the_cpu_flags(tmp_path, flags, expected):
    assert precision.cpu_has_bfloat16(cpuinfo(tmp_path, flags)) is expected
    assert precision.cpu_has_bfloat16(str(tmp_path / "missing")) is None


@pytest.mark.parametrize("has_bfloat16, auto", [(True, "mixed_bfloat16"), (False, "float32"), (None, "float32")])
def test_auto_precision_picks_bfloat16_only_where_the_cpu_has_it(monkeypatch, has_bfloat16, auto):
    monkeypatch.setattr(precision, "gpu_available", lambda: False)
    monkeypatch.setattr(precision, "cpu_has_bfloat16", lambda: has_bfloat16)
    expected = auto if keras.backend.backend() == "tensorflow" else "float32"
    assert precision.resolve_dtype_policy("auto") == expected
    assert precision.resolve_dtype_policy("off") == "float32"
    assert precision.resolve_dtype_policy("bfloat16") == "mixed_bfloat16"
    monkeypatch.setattr(precision, "gpu_available", lambda: True)
    assert precision.resolve_dtype_policy("auto") == "mixed_float16"


def test_bfloat16_on_a_cpu_without_it_is_refused_before_training(monkeypatch, tmp_path):
    monkeypatch.setattr(precision, "gpu_available", lambda: False)
    monkeypatch.setattr(precision, "cpu_has_bfloat16", lambda: False)
    config = TrainConfig(model="lenet5", dataset="digits", epochs=1, mixed_precision="bfloat16",
                         out_dir=str(tmp_path / "run"))
    with pytest.raises(ValueError, match=r"mixed_precision='bfloat16' was asked for, but this machine has no GPU "
                                         r"and its CPU has none of the bfloat16 instructions .*Pass "
                                         r"mixed_precision='auto'"):
        train(config, verbose=0)
    assert not (tmp_path / "run").exists()  # Nothing was started.
    monkeypatch.setattr(precision, "cpu_has_bfloat16", lambda: None)  # Flags unknown: trusted.
    precision.check_precision_available("bfloat16")


def test_a_mixed_precision_network_is_evaluated_and_exported_in_float32(tmp_path):
    from keras_cnns.export import export_model

    with _policy("mixed_bfloat16"):
        mixed = keras_cnns.get_model("vgg11_bn", input_shape=(28, 28, 1), classes=10, width_multiplier=0.25,
                                     hidden_units=[], pool_padding="same")
    assert any(layer.dtype_policy.name == "mixed_bfloat16" for layer in mixed.layers)
    copy = precision.float32_model(mixed)
    assert all(layer.dtype_policy.name == "float32" for layer in copy.layers)
    for a, b in zip(mixed.weights, copy.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    images = np.random.default_rng(0).normal(size=(8, 28, 28, 1)).astype("float32")
    mixed_answers = keras.ops.convert_to_numpy(keras.ops.cast(mixed(images), "float32"))
    float_answers = keras.ops.convert_to_numpy(copy(images))
    np.testing.assert_allclose(float_answers, mixed_answers, atol=0.05)  # bfloat16 keeps ~3 digits.
    assert precision.float32_model(copy) is copy  # Already float32: itself.
    # TFLite has no bfloat16 kernels: the export converts and verifies the float32 copy.
    test_data = (images, np.arange(8) % 10)
    report = export_model(mixed, tmp_path / "export", formats=("float32",), test_data=test_data,
                          measure_latency=False, look=None)
    assert report["float32"].passed


class _policy:
    """`with _policy(name):` sets Keras' global dtype policy inside the block."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(self.name)

    def __exit__(self, *exc):
        keras.config.set_dtype_policy(self.previous)


# ------------------------------------------------------- learning rate and batch size


def test_the_learning_rate_follows_the_batch_size_it_was_set_for():
    config = recipe_config("fashion_mnist_quick")
    assert config.lr_batch_size == config.batch_size  # The recipe says at which batch size its rate holds.
    assert peak_learning_rate(config) == config.learning_rate
    half = recipe_config("fashion_mnist_quick", batch_size=config.batch_size // 2)
    assert peak_learning_rate(half) == pytest.approx(config.learning_rate / 2)
    schedule = build_schedule(half, steps_per_epoch=100)
    assert schedule.peak_learning_rate == pytest.approx(config.learning_rate / 2)
    unscaled = TrainConfig(model="lenet5", batch_size=64, learning_rate=0.01)
    assert peak_learning_rate(unscaled) == 0.01  # lr_batch_size None: as given.


@pytest.mark.parametrize("field, value, message", [
    ("lr_batch_size", 0, "lr_batch_size must be"),
    ("lr_batch_size", 12.5, "lr_batch_size must be"),
    ("batch_norm_momentum", 1.0, r"batch_norm_momentum must be a finite number in \[0, 1\)"),
    ("batch_norm_momentum", -0.1, "batch_norm_momentum must be"),
    ("dirac_init", "yes", "dirac_init must be True or False; received 'yes'"),
    ("tta", "mirror", r"tta must be one of \['flip', 'flip_shift'\]; received 'mirror'"),
    ("fused_batch_norm", "yes", r"fused_batch_norm must be one of \['auto', True, False\]; received 'yes'"),
    ("norm_bias_lr_scale", 0, r"norm_bias_lr_scale must be a finite number in \(0, inf\); received 0"),
    ("norm_bias_lr_scale", float("nan"), "norm_bias_lr_scale must be a finite number"),
])
def test_impossible_settings_are_refused_when_the_config_is_made(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(model="lenet5", **{field: value})


# --------------------------------------------------- batch-norm momentum, identity filters


def test_batch_norm_momentum_is_set_on_every_layer_and_saved(tmp_path):
    config = TrainConfig(model="resnet20", batch_norm_momentum=0.6)
    model = build_model(config, (28, 28, 1), 10)
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(layers) == 19 and {layer.momentum for layer in layers} == {0.6}
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert {layer.momentum for layer in loaded.layers if isinstance(layer, keras.layers.BatchNormalization)} == {0.6}
    assert set_batch_norm_momentum(keras_cnns.get_model("lenet5", input_shape=(32, 32, 1), classes=10), 0.5) == 0


def small_batch_norm_network(seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(4, 3, use_bias=False)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.ReLU()(x))
    return keras.Model(inputs, keras.layers.Dense(3)(x))


@pytest.mark.zoo  # Also on JAX and PyTorch: the optimizer's update is the backend's.
def test_normalization_biases_learn_scale_times_faster_and_nothing_else_changes():
    plain, scaled = small_batch_norm_network(0), small_batch_norm_network(0)
    optimizers = [keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                  NormBiasScaledSGD(norm_bias_lr_scale=8.0, learning_rate=0.1, momentum=0.9, nesterov=True)]
    moves = []
    for model, optimizer in zip((plain, scaled), optimizers):
        start = [keras.ops.convert_to_numpy(v).copy() for v in model.trainable_variables]
        gradients = [np.random.default_rng(i).normal(size=v.shape).astype("float32")
                     for i, v in enumerate(model.trainable_variables)]
        for _ in range(3):  # Momentum carries the scale too.
            optimizer.apply([keras.ops.convert_to_tensor(g) for g in gradients], model.trainable_variables)
        moves.append([keras.ops.convert_to_numpy(v) - s for v, s in zip(model.trainable_variables, start)])
    names = [v.name for v in plain.trainable_variables]
    assert sorted(names) == ["beta", "bias", "gamma", "kernel", "kernel"]
    for name, plain_move, scaled_move in zip(names, *moves):
        factor = 8.0 if name == "beta" else 1.0
        np.testing.assert_allclose(scaled_move, factor * plain_move, rtol=1e-5, atol=1e-7)
        assert np.abs(plain_move).max() > 0


def test_the_faster_normalization_biases_are_built_saved_and_refused_with_adam(tmp_path):
    plain = build_optimizer(TrainConfig(model="resnet20"), 10)
    assert isinstance(plain, keras.optimizers.SGD) and not isinstance(plain, NormBiasScaledSGD)
    optimizer = build_optimizer(TrainConfig(model="resnet20", norm_bias_lr_scale=16, ema_decay=0.99), 10)
    assert isinstance(optimizer, NormBiasScaledSGD) and optimizer.norm_bias_lr_scale == 16
    assert optimizer.use_ema and optimizer.nesterov
    model = small_batch_norm_network(1)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    model.fit(np.zeros((4, 6, 6, 2), "float32"), np.array([0, 1, 2, 0]), epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras_cnns.saving.load_model(tmp_path / "m.keras", compile=True)  # Safe mode, as the package loads.
    assert type(loaded.optimizer) is NormBiasScaledSGD and loaded.optimizer.norm_bias_lr_scale == 16
    with pytest.raises(ValueError, match=r"norm_bias_lr_scale=4 needs optimizer='sgd'.*received optimizer='adam'"):
        TrainConfig(model="resnet20", optimizer="adam", norm_bias_lr_scale=4)
    with pytest.raises(TypeError):
        NormBiasScaledSGD(0.1)  # SGD's first argument is the learning rate: the scale is keyword only.
    with pytest.raises(ValueError, match=r"norm_bias_lr_scale must be a finite number in \(0, inf\); received -2"):
        NormBiasScaledSGD(norm_bias_lr_scale=-2)


def test_a_run_says_how_many_biases_learn_faster_and_warns_when_none_do(tmp_path, capsys):
    message, changes_anything = describe_norm_bias_scale(small_batch_norm_network(2), 64)
    assert changes_anything and message.startswith("1 normalization bias (beta) learns at 64 times")
    config = TrainConfig(model="lenet5", dataset="digits", epochs=1, batch_size=64, limit=200, norm_bias_lr_scale=8,
                         out_dir=str(tmp_path / "run"))
    with pytest.warns(UserWarning, match=r"norm_bias_lr_scale=8 changes nothing: this network has no normalization"):
        train(config, verbose=1)
    assert "norm_bias_lr_scale=8 changes nothing" in capsys.readouterr().out


def test_settings_that_change_nothing_on_the_network_say_so():
    config = TrainConfig(model="lenet5", batch_norm_momentum=0.9)
    with pytest.warns(UserWarning, match=r"batch_norm_momentum=0.9 changes nothing: the network built for model "
                                         r"'lenet5' has no BatchNormalization layer\. Pass batch_norm_momentum=None"):
        build_model(config, (32, 32, 1), 10)

    def one_convolution(input_shape, classes):
        inputs = keras.Input(input_shape)
        features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
        return keras.Model(inputs, keras.layers.Dense(classes)(features))

    with pytest.warns(UserWarning, match=r"dirac_init=True changes nothing: .* no convolution after its first"):
        build_model(TrainConfig(model="lenet5", dirac_init=True), (8, 8, 1), 3, model_builder=one_convolution)


def test_identity_filters_pass_their_channels_through():
    keras.utils.set_random_seed(0)
    model = keras_cnns.get_model("vgg11_bn", input_shape=(28, 28, 1), classes=10, width_multiplier=0.25,
                                 hidden_units=[], pool_padding="same")
    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    first_before = keras.ops.convert_to_numpy(convolutions[0].kernel).copy()
    changed = dirac_initialize(model)
    assert changed == [layer.name for layer in convolutions[1:]]  # Every 3x3 convolution after the first.
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(convolutions[0].kernel), first_before)
    layer = convolutions[3]  # 64 -> 64 channels at 7x7.
    inputs = np.random.default_rng(0).normal(size=(2, 7, 7, layer.kernel.shape[2])).astype("float32")
    outputs = keras.ops.convert_to_numpy(keras.ops.conv(inputs, layer.kernel, padding="same"))
    np.testing.assert_allclose(outputs, inputs, atol=1e-6)
    wider = convolutions[1]  # 16 -> 32: the first 16 filters copy, the other 16 keep their random values.
    kernel = keras.ops.convert_to_numpy(wider.kernel)
    inputs = np.random.default_rng(1).normal(size=(2, 14, 14, 16)).astype("float32")
    outputs = keras.ops.convert_to_numpy(keras.ops.conv(inputs, wider.kernel, padding="same"))
    np.testing.assert_allclose(outputs[..., :16], inputs, atol=1e-6)
    assert np.abs(kernel[..., 16:]).sum() > 0


# ----------------------------------------------------------- fused batch norm


def test_fused_batch_norm_makes_keras_training_step_and_leaves_the_model_as_it_was(tmp_path):
    # A small network: in VGG-11 a millionth's change of the inputs alone moves the first layers' updates by up
    # to 1% (max-pool ties on the way back), so there the two steps are as close as two Keras steps can be.
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = inputs
    for filters, strides in ((8, 1), (16, 2)):
        x = keras.layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
        x = keras.layers.ReLU()(keras.layers.BatchNormalization(momentum=0.9)(x))
    outputs = keras.layers.Dense(5, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    plain = keras.Model(inputs, outputs)
    fused = keras.models.clone_model(plain)
    fused.set_weights(plain.get_weights())
    start = plain.get_weights()
    rng = np.random.default_rng(0)
    images, labels = rng.normal(size=(32, 16, 16, 3)).astype("float32"), rng.integers(0, 5, 32)
    for model in (plain, fused):
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    plain.train_on_batch(images, labels)
    with fused_batch_norm(fused) as switched:
        assert switched == 2
        fused.train_on_batch(images, labels)
        fused_answers = fused.predict(images, verbose=0)
    assert not any("call" in vars(layer) for layer in fused.layers)  # Keras's own call again.
    # The same step: weights, moving means and (population) variances, up to the order of float sums.
    for before, after_plain, after_fused in zip(start, plain.get_weights(), fused.get_weights()):
        np.testing.assert_allclose(after_fused - before, after_plain - before, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(fused_answers, plain.predict(images, verbose=0), atol=1e-5)
    fused.save(tmp_path / "fused.keras")
    loaded = keras.saving.load_model(tmp_path / "fused.keras")
    assert sum(type(layer) is keras.layers.BatchNormalization for layer in loaded.layers) == 2
    np.testing.assert_allclose(loaded.predict(images, verbose=0), fused_answers, atol=1e-5)


def test_fused_batch_norm_trains_in_bfloat16_and_is_refused_off_tensorflow(monkeypatch):
    with _policy("mixed_bfloat16"):
        model = keras_cnns.get_model("resnet20", input_shape=(28, 28, 1), classes=10, width_multiplier=0.5)
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
    layer = next(layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    moving_mean = keras.ops.convert_to_numpy(layer.moving_mean).copy()
    images = np.random.default_rng(0).normal(size=(32, 28, 28, 1)).astype("float32")
    with fused_batch_norm(model) as switched:
        assert switched == 19
        loss = model.train_on_batch(images, np.arange(32) % 10)
    assert np.isfinite(loss) and not np.allclose(keras.ops.convert_to_numpy(layer.moving_mean), moving_mean)
    assert use_fused_batch_norm("auto") and not use_fused_batch_norm(False)
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    assert not use_fused_batch_norm("auto")
    with pytest.raises(ValueError, match="fused_batch_norm=True needs the TensorFlow backend.*this is 'jax'"):
        TrainConfig(model="lenet5", fused_batch_norm=True)


# ----------------------------------------------------------- a recipe's settings


def test_the_quick_recipe_resolves_as_documented():
    config = recipe_config("fashion_mnist_quick")
    assert (config.model, config.dataset, config.tta, config.validation_split) == (
        "vgg11_bn", "fashion_mnist", "flip", 0.0)
    assert config.mixed_precision == "auto" and config.lr_batch_size == 256
    shorter = recipe_config("fashion_mnist_quick", epochs=2)
    assert shorter.warmup_epochs <= 2 / 5
    wide = recipe_config("fashion_mnist_wide")
    assert wide.model_kwargs["width_multiplier"] == 2 * config.model_kwargs["width_multiplier"]
    assert wide.augment == {"crop_padding": 2, "flip": "alternate"} and wide.tta == "flip_shift"


def test_the_resnet14x2_recipe_builds_resnet14_at_twice_the_width():
    config = recipe_config("fashion_mnist_resnet14x2")
    assert (config.model, config.epochs, config.tta, config.validation_split) == ("resnet14", 16, "flip", 0.0)
    assert config.whiten_first_conv and config.ema_decay == 0.99 and config.batch_norm_momentum == 0.9
    assert config.norm_bias_lr_scale == 64 and isinstance(build_optimizer(config, 10), NormBiasScaledSGD)
    model = build_model(config, (28, 28, 1), 10)
    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    # The stem and two basic blocks in each of three stages, at 2x ResNet-20's 16/32/64 filters.
    assert len(convolutions) == 1 + 3 * 2 * 2
    assert sorted({layer.filters for layer in convolutions}) == [32, 64, 128]
    assert model.output_shape == (None, 10)


# ------------------------------------------------- test-time augmentation in a run


def test_a_run_with_test_time_augmentation_reports_evaluates_and_exports_with_it(tmp_path, capsys):
    from keras_cnns.export import export_model

    config = TrainConfig(model="lenet5", dataset="digits", epochs=2, batch_size=64, optimizer="adam",
                         learning_rate=3e-3, weight_decay=0.0, limit=600, augment={"flip": "alternate"}, tta="flip",
                         out_dir=str(tmp_path / "run"))
    result = train(config, verbose=0)
    assert result.metrics["test_time_augmentation"] == "flip"
    as_run = evaluate(result.out_dir)
    assert as_run["test_time_augmentation"] == "flip"
    assert as_run["test_accuracy"] == pytest.approx(result.test_accuracy, abs=1e-9)
    bare = evaluate(result.out_dir, tta=None)
    assert bare["test_time_augmentation"] is None and bare["test_loss"] != as_run["test_loss"]
    report = export_model(result.out_dir, tmp_path / "export", formats=("float32",), measure_latency=False)
    assert report.card["test_time_augmentation"] == "flip"
    assert report["float32"].accuracy == pytest.approx(result.test_accuracy, abs=0.01)
    status, out, err = run_main(capsys, "evaluate", result.out_dir, "--tta", "none")
    assert status == 0 and f"Test accuracy {bare['test_accuracy']:.4f}" in out, err
    assert load_best_model(result.model_path).name == "lenet5"  # best.keras holds the bare network.


# --------------------------------------------------------------- alternating flips


def marked_arrays(count=8, size=4):
    """Images whose only bright pixel sits in the left column, one class per image: the label names the image
    and the bright pixel's column tells whether it was mirrored."""
    from keras_cnns.data.loader import DatasetArrays

    images = np.zeros((count, size, size, 1), np.uint8)
    images[np.arange(count), np.arange(count) % size, 0, 0] = 255
    labels = np.arange(count, dtype=np.int32)
    return DatasetArrays(train=(images, labels), val=None, test=(images, labels),
                         class_names=[str(i) for i in range(count)], image_shape=(size, size, 1),
                         normalization={"mean": [0.0], "std": [1.0]}, name="marked")


def mirrored_by_pass(stream, passes, count=8, batch_size=4):
    """`{pass: {image: mirrored?}}` read from an endless stream of `passes` passes."""
    seen = {}
    for index, (images, labels) in enumerate(stream.take(passes * (count // batch_size))):
        pass_seen = seen.setdefault(index // (count // batch_size), {})
        for image, label in zip(images.numpy(), labels.numpy()):
            bright = np.argwhere(image[..., 0] == image[..., 0].max())[0]
            pass_seen[int(label)] = bool(bright[1] == image.shape[1] - 1)
    return seen


def test_alternating_flips_show_each_image_both_ways_every_two_epochs():
    from keras_cnns.data.loader import bundle_from_arrays

    bundle = bundle_from_arrays(marked_arrays(), batch_size=4, augment={"flip": "alternate"}, seed=3)
    seen = mirrored_by_pass(bundle.training_stream(), passes=4)
    assert all(len(seen[p]) == 8 for p in range(4))  # Every image once a pass, shuffled.
    first = seen[0]
    assert 0 < sum(first.values()) < 8  # A random part of the images starts mirrored.
    for p in range(1, 4):
        assert seen[p] == {image: mirrored != (p % 2 == 1) for image, mirrored in first.items()}
    # A run resumed after one epoch starts with the second pass's flips.
    assert mirrored_by_pass(bundle.training_stream(first_pass=1), passes=1)[0] == seen[1]
    # The bundle's finite `train`, which a user may iterate again and again, mirrors at random.
    passes = [mirrored_by_pass(bundle.train, passes=1)[0] for _ in range(6)]
    assert all(len(seen_once) == 8 for seen_once in passes)
    assert any(passes[0][image] != other[image] for other in passes[1:] for image in range(8))
    # Random flips, for comparison, do not alternate: some image keeps its side over two passes.
    random_flips = bundle_from_arrays(marked_arrays(), batch_size=4, augment={"flip": True}, seed=3)
    seen = mirrored_by_pass(random_flips.training_stream(), passes=6)
    assert any(seen[p][image] == seen[p + 1][image] for p in range(5) for image in range(8))


def test_an_unknown_flip_mode_names_the_alternating_one():
    from keras_cnns.data.augment import validate_recipe

    with pytest.raises(ValueError, match=r"must be True, False or one of \[.*'alternate'\]; received 'altern'"):
        validate_recipe({"flip": "altern"})


# ----------------------------------------------------------------------- lookahead


class FastWeights(keras.callbacks.Callback):
    """The first weight of the model after every batch (after Lookahead's own batch end)."""

    def __init__(self):
        super().__init__()
        self.after_batch = []

    def on_train_batch_end(self, batch, logs=None):
        self.after_batch.append(keras.ops.convert_to_numpy(self.model.trainable_variables[0]).copy())


def test_lookahead_pulls_the_weights_back_every_k_steps():
    from keras_cnns.train.callbacks import Lookahead

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    images = np.random.default_rng(0).normal(size=(48, 4)).astype("float32")
    labels = np.random.default_rng(1).integers(0, 3, size=48)
    start = keras.ops.convert_to_numpy(model.trainable_variables[0]).copy()
    plain = keras.models.clone_model(model)
    plain.set_weights(model.get_weights())
    plain.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    watch, plain_watch = FastWeights(), FastWeights()
    model.fit(images, labels, batch_size=8, epochs=1, shuffle=False, verbose=0,
              callbacks=[Lookahead(steps=3, alpha=0.5), watch])
    plain.fit(images, labels, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[plain_watch])
    # The first two steps are plain SGD; the third ends half-way between the start and where SGD got.
    np.testing.assert_allclose(watch.after_batch[1], plain_watch.after_batch[1], atol=1e-6)
    np.testing.assert_allclose(watch.after_batch[2], start + 0.5 * (plain_watch.after_batch[2] - start), atol=1e-6)
    assert not np.allclose(watch.after_batch[-1], plain_watch.after_batch[-1], atol=1e-4)


def test_a_run_with_lookahead_trains_and_refuses_impossible_settings(tmp_path):
    config = TrainConfig(model="lenet5", dataset="digits", epochs=2, batch_size=64, optimizer="adam",
                         learning_rate=3e-3, weight_decay=0.0, limit=600, lookahead_steps=5, ema_decay=0.9,
                         out_dir=str(tmp_path / "run"))
    result = train(config, verbose=0)
    assert result.test_accuracy > 0.3  # Chance is 0.1.
    with pytest.raises(ValueError, match=r"lookahead_alpha must be a finite number in \(0, 1\]; received 0"):
        TrainConfig(model="lenet5", lookahead_steps=5, lookahead_alpha=0)
    with pytest.raises(ValueError, match="lookahead_steps must be"):
        TrainConfig(model="lenet5", lookahead_steps=0)


def test_lookahead_starts_from_the_weights_the_first_step_trains():
    """A run resumed with weight averaging holds the average until the epoch starts and swaps its own weights
    back in; Lookahead's slow weights must be those, not the average."""
    from keras_cnns.train.callbacks import Lookahead

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")  # No learning.
    averaged = [np.full(w.shape, 0.5, "float32") for w in model.get_weights()]
    own = [np.full(w.shape, -1.0, "float32") for w in model.get_weights()]
    model.set_weights(averaged)

    class SwapBack(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 0:
                self.model.set_weights(own)

    images = np.zeros((24, 4), "float32")
    model.fit(images, np.zeros(24), batch_size=8, epochs=1, verbose=0,
              callbacks=[Lookahead(steps=1000, alpha=0.5), SwapBack()])
    for weight, expected in zip(model.get_weights(), own):
        np.testing.assert_allclose(weight, expected)  # Not half-way back to the average.
