"""VGG16/19 and ResNet50/101/152 are weight-compatible with keras.applications:
same parameter counts, same layer names, and weights copied layer by layer
(or loaded from a keras.applications weights file) give the same outputs."""

import keras
import pytest

import keras_cnns
from keras_cnns.models import weights as weights_lib
from tests.model_checks import DEEPEST, assert_same_outputs, copy_weights_by_name, random_images

pytestmark = pytest.mark.zoo

REFERENCES = {
    "vgg16": (keras.applications.VGG16, 138_357_544),
    "vgg19": (keras.applications.VGG19, 143_667_240),
    "resnet50": (keras.applications.ResNet50, 25_636_712),
    "resnet101": (keras.applications.ResNet101, 44_707_176),
    "resnet152": (keras.applications.ResNet152, 60_419_944),
}


# On TensorFlow every reference (ResNet-101 and -152's feature check with -m heavy: 20 s each); on the other
# backends, where the layer names and weights are the same code, one VGG and one ResNet.
CHECKED = (sorted(REFERENCES) if keras.backend.backend() == "tensorflow" else ["resnet50", "vgg16"])
FEATURES_CHECKED = [pytest.param(name, marks=pytest.mark.heavy) if name in DEEPEST else name for name in CHECKED]


def weighted_layer_names(model):
    return [layer.name for layer in model.layers if layer.weights]


@pytest.mark.parametrize("name", CHECKED)
def test_parameter_count_and_layer_names(name):
    reference_fn, published = REFERENCES[name]
    ours = keras_cnns.get_model(name, dropout=0.0)
    reference = reference_fn(weights=None)
    assert ours.count_params() == reference.count_params() == published
    assert [l.name for l in ours.layers[1:]] == [l.name for l in reference.layers[1:]]
    assert [w.path for w in ours.weights] == [w.path for w in reference.weights]


@pytest.mark.parametrize("name", FEATURES_CHECKED)
def test_backbone_weights_transfer_by_name(name):
    """Without the classifier, at 64x64: weights copied layer by layer give
    the same features."""
    reference_fn, _ = REFERENCES[name]
    reference = reference_fn(weights=None, include_top=False, input_shape=(64, 64, 3), pooling="avg")
    ours = keras_cnns.get_model(name, include_top=False, input_shape=(64, 64, 3), pooling="avg")
    assert weighted_layer_names(ours) == weighted_layer_names(reference)
    assert copy_weights_by_name(reference, ours) == len(weighted_layer_names(reference))
    assert_same_outputs(reference, ours, random_images((64, 64, 3)) * 50, atol=1e-4)


@pytest.mark.heavy
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_full_network_weights_transfer_at_224(name):
    reference_fn, _ = REFERENCES[name]
    reference = reference_fn(weights=None)
    ours = keras_cnns.get_model(name)  # with the paper's dropout: inactive at inference
    copy_weights_by_name(reference, ours)
    assert_same_outputs(reference, ours, random_images((224, 224, 3), batch=1) * 50, atol=1e-5)


def test_vgg_dropout_adds_no_weights_and_zero_dropout_matches_layer_list():
    with_dropout = keras_cnns.get_model("vgg11", input_shape=(32, 32, 3), classes=10, width_multiplier=0.25)
    without = keras_cnns.get_model("vgg11", input_shape=(32, 32, 3), classes=10, width_multiplier=0.25, dropout=0)
    assert weighted_layer_names(with_dropout) == weighted_layer_names(without)
    extra = {l.name for l in with_dropout.layers[1:]} - {l.name for l in without.layers[1:]}
    assert extra == {"fc1_dropout", "fc2_dropout"}


def test_imagenet_weights_load_from_the_keras_cache_offline(cached_vgg16_weights):
    """A keras.applications weights file in the Keras cache loads without any
    network access, and gives keras.applications' outputs."""
    reference = cached_vgg16_weights
    ours = keras_cnns.get_model("vgg16", weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    assert_same_outputs(reference, ours, random_images((32, 32, 3)) * 50, atol=1e-4)


def test_damaged_cached_weights_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    relative, _ = weights_lib.IMAGENET_FILES["resnet50"][1]
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / relative.split("/")[-1]).write_bytes(b"not the published file")
    with pytest.raises(RuntimeError, match="do not match the published file"):
        keras_cnns.get_model("resnet50", weights="imagenet", include_top=False, input_shape=(32, 32, 3))


def test_imagenet_weights_missing_offline_give_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(RuntimeError) as error:
        keras_cnns.get_model("resnet50", weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    message = str(error.value)
    assert str(tmp_path / "models" / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5") in message
    assert "could not be downloaded" in message and "weights=None" in message
