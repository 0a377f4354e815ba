"""The registry's API and the blocks users build their own networks from."""

import keras
import numpy as np
import pytest

import keras_cnns
from keras_cnns import blocks
from keras_cnns.registry import register_model

pytestmark = pytest.mark.zoo


def test_registry_lists_the_classic_networks():
    names = keras_cnns.list_models()
    for name in ["lenet5", "alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg16_bn", "vgg19_bn",
                 "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnet14", "resnet20", "resnet32",
                 "resnet44", "resnet56", "resnet110", "googlenet", "nin", "allconv"]:
        assert name in names
    assert names == sorted(names)
    assert keras_cnns.list_models("vgg1?_bn") == ["vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]


def test_metadata():
    info = keras_cnns.model_info("resnet50")
    assert (info.family, info.year, info.default_input_shape, info.min_input_size) == ("resnet", 2015, (224, 224, 3), 32)
    assert "He et al. 2015" in info.paper and info.imagenet_weights
    assert not keras_cnns.model_info("resnet20").imagenet_weights


def test_duplicate_names_are_refused():
    with pytest.raises(ValueError, match="already registered"):
        @register_model(family="x", paper="x", year=2000, default_input_shape=(8, 8, 1), min_input_size=1,
                        num_params=0, default_classes=2)
        def lenet5(**kwargs):
            return None


def test_blocks_assemble_a_new_network():
    inputs = keras.Input((28, 28, 1))
    x = blocks.conv_bn_act(inputs, 16, 3, name="stem")
    x = blocks.residual_block(x, 16, name="stage1_block1")
    x = blocks.residual_block(x, 32, stride=2, name="stage2_block1")
    x = blocks.bottleneck_block(x, 16, stride=2, name="stage3_block1")
    x = blocks.inception_module(x, 8, 16, 4, 4, reduce_3x3=8, reduce_5x5=2, name="mixed")
    x = blocks.nin_block(x, 32, 3, (32, 16), name="mlpconv")
    x = blocks.spatial_dropout(x, 0.1, name="drop")
    x = blocks.downsample(x, "strided_conv", name="down")
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    assert model.output_shape == (None, 10)
    names = {layer.name for layer in model.layers}
    assert {"stem_conv", "stem_bn", "stem_relu", "stage2_block1_0_conv", "stage2_block1_add", "stage2_block1_out",
            "mixed_3x3_reduce_conv", "mixed_pool_proj_conv", "mixed_concat", "mlpconv_mlp2_conv", "drop",
            "down_conv"} <= names
    assert np.isfinite(model.predict(np.ones((2, 28, 28, 1), "float32"), verbose=0)).all()


def test_inception_module_naive_and_reduced_forms():
    x = keras.Input((28, 28, 192))
    naive = blocks.inception_module(x, 64, 128, 32, name="naive")
    reduced = blocks.inception_module(x, 64, 128, 32, 32, reduce_3x3=96, reduce_5x5=16, name="inception3a")
    assert naive.shape[-1] == 64 + 128 + 32 + 192  # the pooled input passes through
    assert reduced.shape[-1] == 256  # the paper's inception (3a)
    count = lambda out: keras.Model(x, out).count_params()  # noqa: E731
    assert count(reduced) < count(naive) / 2


def test_zero_pad_shortcut_keeps_the_identity():
    x = np.arange(2 * 4 * 4 * 3, dtype="float32").reshape(2, 4, 4, 3)
    out = keras.ops.convert_to_numpy(blocks.ZeroPadShortcut(8, 2)(x))
    assert out.shape == (2, 2, 2, 8)
    np.testing.assert_array_equal(out[..., :3], x[:, ::2, ::2, :])
    assert not out[..., 3:].any()


def test_conv_bn_act_without_batch_norm_fuses_the_activation():
    x = keras.Input((8, 8, 3))
    y = blocks.conv_bn_act(x, 4, 3, batch_norm=False, name="c")
    model = keras.Model(x, y)
    assert [l.name for l in model.layers[1:]] == ["c_conv"]
    assert model.layers[1].activation.__name__ == "relu" and model.layers[1].use_bias


def test_spatial_dropout_drops_whole_channels():
    x = np.ones((1, 8, 8, 64), "float32")
    y = keras.ops.convert_to_numpy(keras.layers.SpatialDropout2D(0.5)(x, training=True))
    per_channel = y.reshape(-1, 64)
    assert all(len(set(per_channel[:, c])) == 1 for c in range(64))  # each channel all kept or all dropped
    assert 0 < (per_channel[0] == 0).sum() < 64
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        blocks.spatial_dropout(keras.Input((8, 8, 3)), 1.5, name="d")


def test_input_tensor_is_used_as_the_models_input():
    inputs = keras.Input((32, 32, 3), name="images")
    features = keras.layers.Rescaling(1 / 255.0, name="rescale")(inputs)
    model = keras_cnns.get_model("resnet20", input_tensor=features, classes=10)
    assert model.inputs[0] is inputs
    assert "rescale" in {layer.name for layer in model.layers}
    assert model.output_shape == (None, 10)
