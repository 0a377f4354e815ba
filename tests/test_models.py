"""The shared check, run over every registered model, plus the model zoo's
own facts: published parameter counts, keras.applications weight
compatibility, the fully-convolutional head and the bad-input errors."""

import keras
import numpy as np
import pytest

import keras_cnns
from tests.model_checks import (
    assert_same_outputs,
    models_to_check,
    outputs_as_list,
    random_images,
    small_config,
    trainable_gradients,
)

pytestmark = pytest.mark.zoo
ALL_MODELS = models_to_check()
# For the checks that build and run a network: the deepest ResNets there with -m heavy (model_checks.DEEPEST).
ALL_MODELS_DEEPEST_HEAVY = models_to_check(deepest_heavy=True)
# For the checks of one option's code path (no top, channels, the convolutional head, dtype policies): one
# model per path of the builders. A family's other variants differ from it only in their tables of depths and
# widths, which those paths never read; test_model_at_minimum_size builds, differentiates and saves each one.
REPRESENTATIVES = models_to_check(representatives=True)
SMALL_DEFAULTS = [n for n in ALL_MODELS if keras_cnns.model_info(n).default_input_shape[0] <= 32]
IMAGENET_SIZE = [n for n in ALL_MODELS if n not in SMALL_DEFAULTS]


@pytest.mark.parametrize("name", ALL_MODELS_DEEPEST_HEAVY)
def test_model_at_minimum_size(name, tmp_path):
    """Builds at its minimum size; right output shape, finite, every weight
    gets a gradient, config round trip and .keras round trip.

    Seeded: at a quarter width and 32x32, an unseeded GoogLeNet once started
    with every ReLU of one inception branch dead on two random images (all-zero
    gradients there, a failed CI run out of hundreds of passing ones)."""
    keras.utils.set_random_seed(0)
    kwargs = small_config(name)
    model = keras_cnns.get_model(name, **kwargs)
    x = random_images(kwargs["input_shape"])

    outputs = outputs_as_list(model.predict(x, verbose=0))
    assert outputs[0].shape == (2, kwargs["classes"])
    assert all(np.isfinite(o).all() for o in outputs)
    np.testing.assert_allclose(outputs[0].sum(axis=-1), 1.0, rtol=1e-4)

    grads = trainable_gradients(model, x)
    assert len(grads) == len(model.trainable_weights) > 0
    missing = [w.path for w, g in zip(model.trainable_weights, grads) if g is None or not np.any(g)]
    assert not missing, f"no gradient reaches {missing}"
    assert all(np.isfinite(g).all() for g in grads)

    rebuilt = keras.Model.from_config(model.get_config())
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in model.layers]
    rebuilt.set_weights(model.get_weights())
    assert_same_outputs(model, rebuilt, x)

    path = tmp_path / f"{name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert_same_outputs(model, reloaded, x)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_below_minimum_size_names_the_minimum(name):
    kwargs = small_config(name)
    size = keras_cnns.model_info(name).min_input_size
    if size == 1:
        pytest.skip("accepts any size")
    kwargs["input_shape"] = (size - 1, size - 1, 3)
    with pytest.raises(ValueError, match=f"at least {size}x{size}"):
        keras_cnns.get_model(name, **kwargs)


@pytest.mark.parametrize("name", REPRESENTATIVES)
@pytest.mark.parametrize("pooling", [None, "avg", "max"])
def test_features_without_top(name, pooling):
    kwargs = small_config(name)
    model = keras_cnns.get_model(name, include_top=False, pooling=pooling, **kwargs)
    features = model.predict(random_images(kwargs["input_shape"]), verbose=0)
    assert features.ndim == (4 if pooling is None else 2)
    assert np.isfinite(features).all()
    assert not any(layer.name == "predictions" for layer in model.layers)


@pytest.mark.parametrize("name", REPRESENTATIVES)
@pytest.mark.parametrize("channels", [1, 3])
def test_one_and_three_channel_inputs(name, channels):
    kwargs = small_config(name, channels=channels)
    model = keras_cnns.get_model(name, **kwargs)
    assert model.input_shape[-1] == channels
    assert model.predict(random_images(kwargs["input_shape"]), verbose=0).shape == (2, 5)


@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_fully_convolutional_head_takes_larger_inputs(name):
    """A network built (and trained) at one size runs at twice that size with
    the same weights, and without pooling yields a map of class scores."""
    kwargs = small_config(name, channels=1)
    size = max(28, kwargs["input_shape"][0])
    kwargs["input_shape"] = (size, size, 1)
    small = keras_cnns.get_model(name, head="conv", pooling="avg", **kwargs)
    kwargs["input_shape"] = (None, None, 1)
    any_size = keras_cnns.get_model(name, head="conv", pooling="avg", **kwargs)
    any_size.set_weights(small.get_weights())

    x_small = random_images((size, size, 1))
    assert_same_outputs(small, any_size, x_small)
    probabilities = any_size.predict(random_images((2 * size, 2 * size, 1)), verbose=0)
    assert probabilities.shape == (2, 5)
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-4)

    minimum = keras_cnns.model_info(name).min_input_size
    if minimum > 1:  # Below its minimum, the network says so before any convolution fails.
        with pytest.raises(ValueError, match=f"{name} needs images of at least {minimum}x{minimum}"):
            any_size(random_images((minimum - 1, minimum - 1, 1)))

    score_map = keras_cnns.get_model(name, head="conv", pooling=None, **kwargs)
    scores = score_map.predict(random_images((2 * size, 2 * size, 1)), verbose=0)
    assert scores.ndim == 4 and scores.shape[-1] == 5 and scores.shape[1] > 1
    np.testing.assert_allclose(scores.sum(axis=-1), 1.0, rtol=1e-4)


@pytest.mark.parametrize("name", SMALL_DEFAULTS)
def test_default_configuration_matches_metadata(name):
    info = keras_cnns.model_info(name)
    model = keras_cnns.get_model(name)
    assert model.input_shape[1:] == info.default_input_shape
    assert model.output_shape == (None, info.default_classes)
    assert model.count_params() == info.num_params


@pytest.mark.heavy
@pytest.mark.parametrize("name", IMAGENET_SIZE)
def test_imagenet_size_default_build(name):
    info = keras_cnns.model_info(name)
    model = keras_cnns.get_model(name)
    assert model.input_shape[1:] == info.default_input_shape
    assert model.count_params() == info.num_params
    outputs = model.predict(random_images(info.default_input_shape, batch=1), verbose=0)
    assert outputs.shape == (1, 1000) and np.isfinite(outputs).all()


def test_lenet5_has_the_classic_parameter_count():
    assert keras_cnns.get_model("lenet5", input_shape=(32, 32, 1), classes=10).count_params() == 61_706


def test_cifar_resnets_have_the_papers_sizes():
    # He et al. 2015, Table 6: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M parameters.
    for depth, millions in [(20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85), (110, 1.7)]:
        model = keras_cnns.get_model(f"resnet{depth}")
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        assert round(trainable / 1e6, 2 if depth < 110 else 1) == millions
        convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
        assert len(convs) + 1 == depth  # 6n+2 weighted layers: convolutions and the classifier.


def test_googlenet_auxiliary_classifiers():
    model = keras_cnns.get_model("googlenet", include_aux=True, input_shape=(65, 65, 3), classes=5,
                                 width_multiplier=0.25)
    assert [o.shape for o in model.outputs] == [(None, 5)] * 3
    assert {"aux1_predictions", "aux2_predictions"} <= {layer.name for layer in model.layers}
    with pytest.raises(ValueError, match="at least 65x65"):
        keras_cnns.get_model("googlenet", include_aux=True, input_shape=(64, 64, 3))
    without = keras_cnns.get_model("googlenet", include_aux=True, include_top=False, input_shape=(32, 32, 3))
    assert len(without.outputs) == 1


def test_vgg_hidden_units_sets_the_classifier_widths():
    from keras_cnns.models import build_vgg

    small = build_vgg([(8,), (16,)], batch_norm=True, hidden_units=(32,), input_shape=(28, 28, 1),
                      classes=10)
    dense = [layer for layer in small.layers if isinstance(layer, keras.layers.Dense)]
    assert [(layer.name, layer.units) for layer in dense] == [("fc1", 32), ("predictions", 10)]
    bare = build_vgg([(8,), (16,)], hidden_units=(), input_shape=(28, 28, 1), classes=10)
    assert [layer.name for layer in bare.layers if isinstance(layer, keras.layers.Dense)] == ["predictions"]
    # The default stays the paper's pair of 4096-wide layers.
    assert keras_cnns.get_model("vgg11").get_layer("fc2").units == 4096
    with pytest.raises(ValueError, match="hidden_units must be a sequence of positive ints"):
        build_vgg([(8,)], hidden_units=256, input_shape=(28, 28, 1), classes=10)


def test_vgg_same_pool_padding_keeps_odd_sizes_and_matches_valid_on_even_ones():
    knobs = dict(width_multiplier=0.125, hidden_units=[], dropout=0.0, classes=10)
    same = keras_cnns.get_model("vgg11_bn", input_shape=(28, 28, 1), pool_padding="same", **knobs)
    sizes = [same.get_layer(f"block{b}_pool").output.shape[1] for b in range(1, 6)]
    assert sizes == [14, 7, 4, 2, 1]  # "valid" would drop a row at 7 and fail at 28.
    with pytest.raises(ValueError, match="at least 16x16"):
        keras_cnns.get_model("vgg11_bn", input_shape=(15, 15, 1), pool_padding="same", **knobs)
    with pytest.raises(ValueError, match="pool_padding must be one of .'valid', 'same'.; received 'full'"):
        keras_cnns.get_model("vgg11_bn", input_shape=(32, 32, 1), pool_padding="full", **knobs)
    # Where every size is even the padding changes nothing: same weights, same outputs.
    even_same = keras_cnns.get_model("vgg11_bn", input_shape=(32, 32, 1), pool_padding="same", **knobs)
    even_valid = keras_cnns.get_model("vgg11_bn", input_shape=(32, 32, 1), **knobs)
    even_valid.set_weights(even_same.get_weights())
    images = random_images((32, 32, 1), batch=3)
    np.testing.assert_allclose(even_same.predict(images, verbose=0), even_valid.predict(images, verbose=0),
                               atol=1e-6)


def test_googlenet_cifar_stem_and_the_minimum_size_of_a_module_table():
    from keras_cnns.models import build_googlenet

    table = (("3a", (8, 8, 16, 4, 8, 8)), "pool", ("4a", (16, 16, 32, 4, 8, 8)))
    model = build_googlenet(modules=table, stem="cifar", stem_filters=16, batch_norm=True,
                            input_shape=(28, 28, 1), classes=10)
    assert model.get_layer("conv1_conv").filters == 16 and model.get_layer("conv1_conv").kernel_size == (3, 3)
    # Full resolution into the first module, one reduction ("pool3") after it.
    assert model.get_layer("inception3a_concat").output.shape[1:3] == (28, 28)
    assert model.get_layer("inception4a_concat").output.shape[1:3] == (14, 14)
    assert model.output_shape == (None, 10)
    # The minimum size follows the table: one reduction needs 2x2.
    with pytest.raises(ValueError, match="at least 2x2"):
        build_googlenet(modules=table, stem="cifar", input_shape=(1, 1, 1), classes=10)
    with pytest.raises(ValueError, match="stem_filters sets the width of the 'cifar' stem"):
        build_googlenet(stem_filters=32, input_shape=(32, 32, 3), classes=10)
    # The ImageNet stem and the paper's table keep GoogLeNet's size and minimum.
    assert keras_cnns.get_model("googlenet").count_params() == keras_cnns.model_info("googlenet").num_params


# keras-hub's shared backbone test also reruns every model in channels_first and under mixed precision.
# channels_first runs where the backend's CPU convolutions take it (JAX, PyTorch); the dtype policies on
# TensorFlow, whose CPU kernels cover both (and whose builds are fast: JAX takes seconds per network).
SETTINGS = ("channels_first", "mixed_float16", "mixed_bfloat16")


def _unsupported(setting):
    backend = keras.backend.backend()
    if setting == "channels_first" and backend == "tensorflow":
        return "TensorFlow's CPU convolutions take channels_last only (JAX and PyTorch run this check)"
    if setting != "channels_first" and backend != "tensorflow":
        return "the dtype policies are checked on the TensorFlow backend"
    return None


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_model_in_channels_first_and_mixed_precision(name, setting):
    """Builds, runs and passes gradients in another data format or dtype policy; the same output shape,
    finite probabilities, and (mixed precision) float32 outputs from low-precision computation."""
    reason = _unsupported(setting)
    if reason:
        pytest.skip(reason)
    keras.utils.set_random_seed(0)
    kwargs = small_config(name)
    height, width, channels = kwargs["input_shape"]
    format_before, policy_before = keras.config.image_data_format(), keras.config.dtype_policy()
    try:
        if setting == "channels_first":
            keras.config.set_image_data_format("channels_first")
            kwargs["input_shape"] = (channels, height, width)
        else:
            keras.config.set_dtype_policy(setting)
        model = keras_cnns.get_model(name, **kwargs)
        x = random_images(kwargs["input_shape"])
        outputs = outputs_as_list(model.predict(x, verbose=0))
        grads = trainable_gradients(model, x) if keras.backend.backend() != "jax" else []  # JAX: slow, and
        # its gradients in channels_last are checked by test_model_at_minimum_size.
    finally:
        keras.config.set_image_data_format(format_before)
        keras.config.set_dtype_policy(policy_before)
    assert outputs[0].shape == (2, kwargs["classes"]) and np.isfinite(outputs[0]).all()
    np.testing.assert_allclose(outputs[0].sum(axis=-1), 1.0, atol=1e-2)
    assert all(g is not None and np.isfinite(np.asarray(g, np.float32)).all() for g in grads)
    if setting != "channels_first":
        compute = {layer.dtype_policy.compute_dtype for layer in model.layers if layer.weights}
        assert compute == {setting.split("_")[1]}, compute
