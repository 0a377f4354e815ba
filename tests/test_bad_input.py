"""Bad arguments get a ValueError that says what was wrong, what was
received and what to do, before any layer is built."""

import keras
import pytest

import keras_cnns

pytestmark = pytest.mark.zoo


def test_input_too_small_names_the_minimum():
    with pytest.raises(ValueError) as error:
        keras_cnns.get_model("vgg16", input_shape=(28, 28, 1), classes=10)
    message = str(error.value)
    assert "at least 32x32" in message and "(28, 28, 1)" in message and "Resize or pad" in message


def test_imagenet_weights_need_1000_classes_with_the_top():
    with pytest.raises(ValueError, match=r"classes=1000.*received classes=10"):
        keras_cnns.get_model("resnet50", weights="imagenet", classes=10)


def test_imagenet_weights_need_three_channels():
    with pytest.raises(ValueError, match=r"3 input channels.*\(64, 64, 1\)"):
        keras_cnns.get_model("vgg16", weights="imagenet", include_top=False, input_shape=(64, 64, 1))


def test_imagenet_weights_only_where_published():
    with pytest.raises(ValueError, match="No ImageNet weights are published for 'googlenet'"):
        keras_cnns.get_model("googlenet", weights="imagenet")
    with pytest.raises(ValueError, match="No ImageNet weights"):
        keras_cnns.get_model("vgg16_bn", weights="imagenet")


def test_imagenet_classifier_needs_224():
    with pytest.raises(ValueError, match=r"224x224.*include_top=False"):
        keras_cnns.get_model("vgg16", weights="imagenet", input_shape=(128, 128, 3))


def test_softmax_over_one_class_is_refused_but_sigmoid_works():
    with pytest.raises(ValueError, match=r"classes=1.*sigmoid"):
        keras_cnns.get_model("lenet5", classes=1)
    model = keras_cnns.get_model("lenet5", classes=1, classifier_activation="sigmoid")
    assert model.output_shape == (None, 1)


@pytest.mark.parametrize(
    "argument, value, choices",
    [("pooling", "mean", "'avg'"), ("head", "mlp", "'conv'"), ("downsampling", "stride", "'strided_conv'")],
)
def test_unknown_kinds_list_the_valid_ones(argument, value, choices):
    with pytest.raises(ValueError, match=f"{argument} must be one of .*{choices}.*received '{value}'"):
        keras_cnns.get_model("resnet20", **{argument: value})


def test_dense_head_needs_a_fixed_size():
    with pytest.raises(ValueError, match="head='conv'"):
        keras_cnns.get_model("vgg11", input_shape=(None, None, 3))


def test_weights_file_that_does_not_match(tmp_path):
    path = tmp_path / "lenet.weights.h5"
    keras_cnns.get_model("lenet5", classes=10).save_weights(path)
    with pytest.raises(ValueError, match=r"does not match the model 'lenet5'"):
        keras_cnns.get_model("lenet5", classes=5, weights=str(path))
    restored = keras_cnns.get_model("lenet5", classes=10, weights=str(path))
    assert restored.count_params() == 61_706


def test_missing_weights_file():
    with pytest.raises(ValueError, match=r"existing weights file.*nowhere\.weights\.h5"):
        keras_cnns.get_model("lenet5", weights="nowhere.weights.h5")


def test_unknown_model_lists_close_matches():
    with pytest.raises(ValueError, match=r"Unknown model 'resnet5'.*resnet50"):
        keras_cnns.get_model("resnet5")


def test_rank_of_input_shape():
    with pytest.raises(ValueError, match=r"rank 3.*\(1, 32, 32, 3\).*batch"):
        keras_cnns.get_model("resnet20", input_shape=(1, 32, 32, 3))


def test_errors_come_before_any_layer_is_built(monkeypatch):
    built = []
    original = keras.layers.Layer.__init__

    def record(self, *args, **kwargs):
        built.append(type(self).__name__)
        original(self, *args, **kwargs)

    monkeypatch.setattr(keras.layers.Layer, "__init__", record)
    with pytest.raises(ValueError):
        keras_cnns.get_model("vgg16", input_shape=(28, 28, 3))
    with pytest.raises(ValueError):
        keras_cnns.get_model("resnet50", weights="imagenet", classes=10)
    assert built == []
